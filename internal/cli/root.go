// Package cli is the command line: one file per command group, each with an
// options struct and an unexported function doing the work.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/spf13/cobra"
)

// Streams are the process's standard streams and environment, injectable for tests.
type Streams struct {
	In     io.Reader
	Out    io.Writer
	Err    io.Writer
	Getenv func(string) string
	// IsTerminal reports whether In is a terminal: questions may be asked.
	IsTerminal bool
}

// Main runs the command line with the process's arguments and streams.
func Main() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	s := &Streams{In: os.Stdin, Out: os.Stdout, Err: os.Stderr, Getenv: os.Getenv, IsTerminal: isTerminal(os.Stdin)}
	args := os.Args[1:]
	if isPostStep() {
		// The runner starts the post step with the main step's arguments.
		args = []string{"action", "post"}
	}
	return Run(ctx, args, s)
}

func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// Version is the binary's version, from the build information.
func Version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// Run runs one command line and returns its exit code.
func Run(ctx context.Context, args []string, s *Streams) int {
	root := newRootCmd(s)
	root.SetArgs(args)
	root.SetIn(s.In)
	root.SetOut(s.Out)
	root.SetErr(s.Err)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.msg != "" {
			fmt.Fprintln(s.Err, "Error:", ee.msg)
		}
		return ee.code
	}
	fmt.Fprintln(s.Err, "Error:", err)
	return exitCodeFor(err)
}

func newRootCmd(s *Streams) *cobra.Command {
	root := &cobra.Command{
		Use:           "runtime-action",
		Short:         "Deploy and run dlt workspaces on a Runtime",
		Long:          "runtime-action deploys a dlt workspace (pipelines, notebooks, .dlt settings) to a dltHub Runtime\nor a self-hosted one, runs its scripts and shows what happened.",
		Version:       Version(),
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetVersionTemplate("runtime-action {{.Version}}\n")
	root.AddCommand(
		newDeployCmd(s),
		newDeploymentCmd(s),
		newConfigurationCmd(s),
		newRunCmd(s),
		newRunsCmd(s),
		newScriptCmd(s),
		newLoginCmd(s),
		newLogoutCmd(s),
		newWhoamiCmd(s),
		newServeCmd(s),
		newActionCmd(s),
	)
	return root
}
