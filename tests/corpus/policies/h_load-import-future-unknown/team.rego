package team.h

import future.keywords.nope
