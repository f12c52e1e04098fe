package team.h

import data.nowhere.x

deny contains m if { x.y; m := 1 }
