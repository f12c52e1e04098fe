package team.latin

import rego.v1

# café policy
deny_x contains "x" if false
