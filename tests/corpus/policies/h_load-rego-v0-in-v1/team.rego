package team.h

deny[msg] { msg := input.x }
