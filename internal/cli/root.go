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
	"strconv"
	"strings"
	"syscall"

	"github.com/dlthub/runtime-action/internal/deploy"
	"github.com/mattn/go-isatty"
	"github.com/spf13/cobra"
)

// exitCodesHelp lists the exit codes (docs/cli.md, "Exit codes", has the same table).
const exitCodesHelp = `Exit codes: 0 success (the run completed), 1 other errors, 2 wrong usage, 3 the run failed,
4 cancelled, 5 timed out while waiting (the run goes on), 6 Runtime unreachable, 7 not logged
in or token refused, 130 interrupted while following (the run goes on).`

// Streams are the process's standard streams and environment, injectable for tests.
type Streams struct {
	In     io.Reader
	Out    io.Writer
	Err    io.Writer
	Getenv func(string) string
	// IsTerminal reports whether In is a terminal: questions may be asked.
	IsTerminal bool
	// Observer, when set, is told what the deploy engine reports too, in
	// deploy, run and action (tests compare the front ends through it).
	Observer deploy.Observer
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

// isTerminal reports whether f is a terminal. A character device is not
// enough: /dev/null is one, and CI jobs often give it as stdin.
func isTerminal(f *os.File) bool {
	return isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd())
}

// Version is the binary's version: stamped at build time, else from the
// build information.
func Version() string {
	if stampedVersion != "" {
		return stampedVersion
	}
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
	if errors.As(err, &ee) && ee.msg == "" {
		// The Action has printed its failure as an annotation already.
		return ee.code
	}
	fmt.Fprintln(s.Err, "Error:", oneLine(err.Error()))
	return exitCodeFor(err)
}

// oneLine folds cobra's "Did you mean this?" block into the line of its
// error, so that every error is one line.
func oneLine(msg string) string {
	head, rest, ok := strings.Cut(msg, "\n\nDid you mean this?\n")
	if !ok {
		return msg
	}
	var names []string
	for _, f := range strings.Fields(rest) {
		names = append(names, strconv.Quote(f))
	}
	return head + "; did you mean " + strings.Join(names, " or ") + "?"
}

// flagError makes cobra's flag errors usage errors that say where help is.
func flagError(cmd *cobra.Command, err error) error {
	return &usageError{fmt.Sprintf("%v; see %q", err, cmd.CommandPath()+" --help")}
}

// groupCmd makes cmd, which only holds subcommands, refuse an unknown one
// as a usage error (cobra would print the help and exit 0) and print its
// help when called alone.
func groupCmd(cmd *cobra.Command) *cobra.Command {
	cmd.Args = cobra.ArbitraryArgs
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if len(args) > 0 {
			var names []string
			for _, c := range cmd.Commands() {
				if c.IsAvailableCommand() {
					names = append(names, c.Name())
				}
			}
			return &usageError{fmt.Sprintf("unknown command %q for %q: use %s; see %q", args[0], cmd.CommandPath(), strings.Join(names, ", "), cmd.CommandPath()+" --help")}
		}
		return cmd.Help()
	}
	return cmd
}

func newRootCmd(s *Streams) *cobra.Command {
	root := &cobra.Command{
		Use:   "runtime-action",
		Short: "Deploy and run dlt workspaces on a Runtime",
		Long: `runtime-action deploys a dlt workspace (pipelines, notebooks, .dlt settings) to a dltHub Runtime
or a self-hosted one, runs its scripts and shows what happened. With no Runtime configured it
starts one in-process, with its data in the workspace's .dlt/.runtime/.

` + exitCodesHelp,
		Version:       Version(),
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetVersionTemplate("runtime-action {{.Version}}\n")
	// An unknown command is a usage error: the root takes any arguments
	// and refuses those that name no command, with cobra's suggestions.
	root.Args = func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return nil
		}
		msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
		if sugg := cmd.SuggestionsFor(args[0]); len(sugg) > 0 {
			msg += "\n\nDid you mean this?\n\t" + strings.Join(sugg, "\n\t") + "\n"
		}
		return &usageError{oneLine(msg)}
	}
	root.SuggestionsMinimumDistance = 2
	root.RunE = func(cmd *cobra.Command, args []string) error { return cmd.Help() }
	root.SetFlagErrorFunc(flagError)
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
