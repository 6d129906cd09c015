// Command runtime-action deploys dlt workspaces to a Runtime and runs them,
// from a terminal or a GitHub Actions job, and serves a self-hosted Runtime.
package main

import (
	"os"

	"github.com/dlthub/runtime-action/internal/cli"
)

func main() { os.Exit(cli.Main()) }
