package cli

// stampedVersion is set at build time by release tooling and the image
// build (-ldflags "-X github.com/dlthub/runtime-action/internal/cli.stampedVersion=v1.2.3"),
// since a binary built from a checkout (go build .) has no module version in
// its build information.
var stampedVersion string
