package govern.lib_test

import rego.v1

import data.govern.lib

test_fixed_scales_to_millionths if {
	lib.fixed(0.81) == 810000
	lib.fixed(0.1) == 100000
	lib.fixed(3) == 3000000
	lib.fixed(-0.25) == -250000
}

test_fixed_undefined_for_non_numbers if {
	not lib.fixed(null)
	not lib.fixed("0.5")
}

# 0.81 - 0.79 > 0.02 holds in binary floats but not in exact decimals; at fixed precision it
# is false in both.
test_float_agreement_on_differences if {
	lib.fixed(0.81) - lib.fixed(0.79) == lib.fixed(0.02)
	not lib.unfixed(lib.fixed(0.81) - lib.fixed(0.79)) > 0.02
}

test_unfixed if {
	lib.unfixed(30000) == 0.03
	lib.unfixed(lib.fixed(0.81) - lib.fixed(0.78)) == 0.03
}

test_accessors_tolerate_wrong_types if {
	lib.obj(null) == {}
	lib.obj({"a": 1}) == {"a": 1}
	lib.arr("x") == []
	lib.arr([1]) == [1]
	lib.str(3) == ""
	lib.get(null, "a", 1) == 1
	lib.get({"a": 2}, "a", 1) == 2
	lib.get({"b": 2}, "a", 1) == 1
}

test_present if {
	lib.present("x")
	not lib.present("")
	not lib.present("   ")
	not lib.present(null)
	not lib.present(1)
}

test_names if {
	lib.names(["a", "", null, "b", "a"]) == {"a", "b"}
	lib.names(null) == set()
}

test_bounds if {
	lib.bound_min({"min": 0}) == 0
	lib.bound_max({"max": 1}) == 1
	not lib.bound_min({"max": 1})
	not lib.bound_min({"min": null})
	not lib.bound_max(null)
}

test_applies if {
	lib.applies({"deploy"}) with input as {"stage": "deploy"}
	not lib.applies({"deploy"}) with input as {"stage": "register"}
	not lib.applies({"deploy"}) with input as {}
}

test_missing_reason if {
	lib.missing_reason("run") == "no such run" with input as {"missing": {"run": "no such run"}}
	lib.missing_reason("run") == "no reason was recorded" with input as {"missing": {}}
	lib.missing_reason("run") == "no reason was recorded" with input as {}
}

test_params_and_section if {
	lib.params == {} with data.govern.params as null
	lib.section("data") == {"min_rows": 3} with data.govern.params as {"data": {"min_rows": 3}}
	lib.section("data") == {} with data.govern.params as {"data": null}
}

test_tier if {
	lib.tier == "high" with data.govern.params as {"tier": "high"} with input as {"spec": {"metadata": {"risk_tier": "limited"}}}
	lib.tier == "limited" with data.govern.params as {} with input as {"spec": {"metadata": {"risk_tier": "limited"}}}
	lib.tier == "minimal" with data.govern.params as {} with input as {}
}
