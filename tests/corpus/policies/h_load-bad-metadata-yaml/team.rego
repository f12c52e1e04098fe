package team.h

# METADATA
# custom: [unclosed
deny contains m if { m := 1 }
