package team.legacy

deny_no_uses[msg] {
	count(input.spec.intended_use.primary_uses) == 0
	msg := "no uses"
}
