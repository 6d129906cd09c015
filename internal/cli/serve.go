package cli

import "github.com/spf13/cobra"

// newServeCmd is replaced by the server's command group.
func newServeCmd(s *Streams) *cobra.Command {
	return &cobra.Command{Use: "serve", Short: "Serve a self-hosted Runtime"}
}
