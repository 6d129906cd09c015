// Package action holds the GitHub Action's building blocks: inputs, masks,
// log groups and annotations, outputs, step summary, post-step state, GitHub
// OIDC and the GitHub REST calls (deployments, pull request comments). It is
// the only importer of go-githubactions; the deploy engine stays free of
// GitHub.
//
// The Action's main step (`runtime-action action`) is a renderer of the
// deploy engine (internal/deploy), which runs the phases in order; it reads
// the inputs, masks secrets before printing anything (the input errors
// included), resolves the settings with deploy.ResolveSettings, hands the
// engine a deploy.Login that knows the Action's token sources (token input,
// github-token exchange, GitHub OIDC, the workspace's settings), and renders
// what the engine reports through its Observer: a log group per phase, the
// run's log (through a runLog that stops workflow commands), the post step's
// state, the outputs and the job summary. Failures are the engine's
// classified errors: deploy.Title names the annotation and deploy.ExitCode
// gives the exit code, as for the command line.
//
// The post step runs the same image through the entrypoint
// /runtime-action-post (a symbolic link to the binary; see postEntrypoint) and
// calls post, which cancels a run the main step registered but never settled.
package action
