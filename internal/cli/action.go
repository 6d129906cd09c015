package cli

import (
	"os"

	"github.com/spf13/cobra"

	"github.com/dlthub/runtime-action/internal/action"
)

func newActionCmd(s *Streams) *cobra.Command {
	env := func() action.Env {
		return action.Env{Stdout: s.Out, Getenv: s.Getenv, Version: Version(), Observer: s.Observer}
	}
	cmd := &cobra.Command{
		Use:   "action",
		Short: "Run as the GitHub Action's main step (reads INPUT_* variables)",
		Long: `Run as the GitHub Action's main step: read the step's inputs from the INPUT_*
variables, authenticate (token, github-token, GitHub OIDC, or the workspace's settings),
sync the deployment and the configuration, create or update the script, start a run,
stream its log into the job log, and write the outputs and the job summary.

Outside GitHub (act, a plain "docker run" with INPUT_* variables) the features that need
GitHub's variables are turned off. See action.yml for the inputs and outputs.`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if code := action.Main(cmd.Context(), env()); code != 0 {
				return &exitError{code: code}
			}
			return nil
		},
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "post",
		Short: "Run as the GitHub Action's post step: cancel a run the main step left going",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if code := action.PostMain(cmd.Context(), env()); code != 0 {
				return &exitError{code: code}
			}
			return nil
		},
	})
	return cmd
}

// isPostStep tells the post step's entrypoint (a link to this binary).
func isPostStep() bool { return action.IsPostStep(os.Args[0]) }
