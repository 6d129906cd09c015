// Package action holds the GitHub Action's building blocks: inputs, masks,
// log groups and annotations, outputs, step summary, post-step state, GitHub
// OIDC and the GitHub REST calls (deployments, pull request comments). It is
// the only importer of go-githubactions; the deploy engine stays free of
// GitHub.
//
// The Action's main step (`runtime-action action`) is expected to use the
// blocks in this order, so that nothing secret is printed before it is masked
// and every outcome leaves outputs and a summary behind:
//
//	a := githubactions.New(githubactions.WithWriter(stdout), githubactions.WithGetenv(getenv))
//	in, inErr := ReadInputs(a)             // defaults applied, validated; in is usable even with inErr
//	root, err := findRoot(env, in)         // the working-directory input; "" when not found
//	m, err := MaskSecrets(a, in, root)     // before printing anything else, inErr included
//	gh, err := LoadContext(a)              // which GitHub features are present; err: warn, go on
//	cleanup, err := WriteProfileFiles(root, in.Profile, in.ConfigTOML, in.SecretsTOML)
//	defer cleanup()
//	Group(a, PhaseAuthenticate, ...)       // token, github-token, OIDCToken(...), settings; m.Add(jwt)
//	Group(a, PhaseDeployment, ...) ...     // the engine's steps, one group each
//	SaveRunState(a, RunState{...})         // once the run exists and the step waits for it
//	log, _ := NewRunLog(stdout, m, LogDir(getenv), 100) // echo, logs file, tail; Pause before commands
//	... follow the run, writing its text to log; on ctx.Done: CancelDetached(..., 5*time.Second)
//	SettleRunState(a)                      // the run is terminal, or deliberately left running
//	WriteOutputs(a, Outputs{...})
//	WriteSummary(a, m, RenderSummary(SummaryData{...}))
//	Annotate(a, m, err)                    // on failure: an error annotation with title and fix
//
// The post step runs the same image through the entrypoint
// /runtime-action-post (a symbolic link to the binary; see PostEntrypoint) and
// calls Post, which cancels a run the main step registered but never settled.
package action
