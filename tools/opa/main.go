// Command opa is the unmodified Open Policy Agent CLI, built from source via
// this wrapper module (the pinned OPA version lives in go.mod). Building
// through our own module is the pattern OPA plugin projects use, and keeps the
// OPA version pinned and checksummed in go.sum. Use build.sh to build it.
package main

import (
	"errors"
	"os"

	"github.com/open-policy-agent/opa/cmd"
)

func main() {
	if err := cmd.RootCommand.Execute(); err != nil {
		// Mirror upstream main.go: commands such as `opa eval --fail` report a
		// specific exit code via *cmd.ExitError; everything else exits 1.
		var exitErr *cmd.ExitError
		if errors.As(err, &exitErr) {
			os.Exit(exitErr.Exit)
		}
		os.Exit(1)
	}
}
