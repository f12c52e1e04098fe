# METADATA
# scope: package
# title: govern shared helpers
# description: >-
#   Type-safe accessors and exact arithmetic helpers shared by the built-in packs.
#   Numbers are compared natively; arithmetic is done in integer millionths (fixed/unfixed),
#   so that an embedded engine using binary floats and OPA using exact decimals always reach
#   the same verdict. Accessors never raise on null or mistyped evidence.
package govern.lib

import rego.v1

# Exact helpers, for arithmetic only. Plain comparisons of JSON numbers (<, >, <=, >=, ==)
# agree between the embedded engine and OPA, so the packs compare numbers natively. Arithmetic
# on non-integers does not agree (binary floats against exact decimals: 0.81 - 0.79 > 0.02 is
# true in one and false in the other), so any difference, sum or product of evidence numbers
# goes through these helpers, which work in integer millionths:
#   fixed(x)    x in millionths, rounded to an integer; undefined unless x is a number
#   unfixed(n)  millionths back to a number, for display (exact on both engines)
#   percent(x)  a fraction as a percentage (0.95 is 95), through the two above
# These are the library's whole arithmetic surface; nothing here shadows a built-in.

# The nudge of a millionth of a millionth moves the rounding boundary off the half-millionth:
# for a value such as 0.0079765 the binary product is 7976.4999999..., the exact one 7976.5,
# and without the nudge the two engines would round it apart. With it both see 7976.500001.
fixed(x) := round((x * 1000000) + 0.000001) if is_number(x)

unfixed(n) := n / 1000000

percent(x) := unfixed(fixed(x) * 100) if {
	is_number(x)
} else := x

# interval_text(i): a two-bound interval written bound by bound ("[0.05, 0.13]"), so that each
# bound is formatted as a number (an array's numbers are written as their text on OPA).
interval_text(i) := sprintf("[%v, %v]", [i[0], i[1]]) if {
	is_array(i)
	count(i) == 2
} else := sprintf("%v", [i])

# Type-safe accessors: the value when it has the type, else an empty value of that type.
obj(x) := x if {
	is_object(x)
} else := {}

arr(x) := x if {
	is_array(x)
} else := []

str(x) := x if {
	is_string(x)
} else := ""

# get(o, key, fallback) is object.get that tolerates a non-object o.
get(o, key, fallback) := object.get(o, key, fallback) if {
	is_object(o)
} else := fallback

# present(x) holds for a non-blank string.
present(x) if {
	is_string(x)
	trim_space(x) != ""
}

# names(xs) is the set of non-blank strings in the list xs (empty when xs is not a list).
names(xs) := {x |
	some x in arr(xs)
	is_string(x)
	trim_space(x) != ""
}

# evidence(name) is input.<name>, or null when input has no such key. It is always defined,
# which matters inside `not`: OPA makes `not f(x)` undefined (not true) when x is undefined,
# where regorus makes it true, so a negated call must never get an undefined argument.
evidence(name) := v if {
	is_object(input)
	v := object.get(input, name, null)
} else := null

# applies(stages) holds when the evaluated stage is one of stages.
applies(stages) if input.stage in stages

# missing_reason(section) is why input.<section> is null.
missing_reason(section) := reason if {
	reason := get(evidence("missing"), section, null)
	present(reason)
} else := "no reason was recorded"

# params is data.govern.params, or {} when it is not an object.
params := p if {
	p := data.govern.params
	is_object(p)
} else := {}

# section(name) is params.<name> when it is an object, else {}.
section(name) := obj(object.get(params, name, {}))

# bound_min(bound) / bound_max(bound) are the numeric limits of a {min?, max?} bound.
bound_min(bound) := m if {
	m := get(bound, "min", null)
	is_number(m)
}

bound_max(bound) := m if {
	m := get(bound, "max", null)
	is_number(m)
}

# tier is the risk tier the parameters were built for, falling back to the spec's.
tier := t if {
	t := params.tier
	is_string(t)
	trim_space(t) != ""
} else := t if {
	t := input.spec.metadata.risk_tier
	is_string(t)
	trim_space(t) != ""
} else := "minimal"
