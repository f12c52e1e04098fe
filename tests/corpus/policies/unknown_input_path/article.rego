package article

deny[msg] { input.bias_score > 0.1; msg := "bias too high" }
