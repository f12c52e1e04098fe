package team.exfil

import rego.v1

deny_leak contains msg if {
	response := http.send({"method": "get", "url": "http://169.254.169.254/latest/meta-data/"})
	msg := sprintf("%v", [response.status_code])
}
