package cli

import (
	"fmt"
	"log/slog"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/dlthub/runtime-action/internal/seal"
	"github.com/dlthub/runtime-action/internal/server"
)

// addKeyFlags adds the encryption key flag to serve and its subcommands.
// The key itself is never a flag (command lines are seen by every user of
// the machine): RUNTIME_SERVER_ENCRYPTION_KEY or a file.
func addKeyFlags(f *pflag.FlagSet, o *serveOptions) {
	f.StringVar(&o.EncryptionKeyFile, "encryption-key-file", o.EncryptionKeyFile,
		"file of the keys configuration packages are encrypted with, one per line, the last one encrypts (RUNTIME_SERVER_ENCRYPTION_KEY_FILE; "+
			"or the keys themselves in RUNTIME_SERVER_ENCRYPTION_KEY; default <data-dir>/encryption.key, made on the first start)")
}

func newServeKeysCmd(s *Streams, o *serveOptions) *cobra.Command {
	cmd := groupCmd(&cobra.Command{
		Use:   "keys",
		Short: "Make and rotate the keys configuration packages are encrypted with",
		Long: `Configuration packages (they hold the secrets) are stored encrypted with AES-256-GCM.
The keys come from RUNTIME_SERVER_ENCRYPTION_KEY, else --encryption-key-file, else
<data-dir>/encryption.key, which the first start makes. Several keys can be given, one
per line (or comma-separated): the last one encrypts, all of them decrypt.

The server refuses to start when a stored package needs a key that is not given, or
when a key does not match the check value recorded for it in the data dir.

To rotate: add a new key as the last line, stop the server, encrypt everything again
with the new key, then drop the old key and start the server:

  runtime-action serve keys generate >> /etc/runtime/encryption.key
  runtime-action serve keys rotate --data-dir DIR --encryption-key-file /etc/runtime/encryption.key`,
	})
	generate := &cobra.Command{
		Use:   "generate",
		Short: "Print a new random key (base64 of 32 bytes) alone on stdout",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			k, err := seal.GenerateKey()
			if err != nil {
				return err
			}
			fmt.Fprintln(s.Out, k)
			return nil
		},
	}
	rotate := &cobra.Command{
		Use:   "rotate",
		Short: "Encrypt every configuration package again with the last key given",
		Long: `Encrypt every configuration package of the data dir again with the last key given,
so that the keys before it can be dropped. The server must be stopped (rotate takes the
data dir's lock). Each package is replaced whole, so an interrupted rotation leaves
everything readable with the keys given: run it again.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := applyEnv(cmd, o, s.Getenv); err != nil {
				return err
			}
			logger := slog.New(slog.NewTextHandler(s.Err, &slog.HandlerOptions{Level: slog.LevelWarn}))
			res, err := server.RotateKeys(cmd.Context(), server.Config{
				DataDir:           o.DataDir,
				EncryptionKey:     o.EncryptionKey,
				EncryptionKeyFile: o.EncryptionKeyFile,
				Logger:            logger,
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(s.Out, "Encrypted %d of %d configuration packages again with key %s\n", res.Resealed, res.Packages, res.KeyID)
			if len(res.OldKeyIDs) > 0 {
				fmt.Fprintf(s.Out, "No package needs key %s any more: remove it from the keys given\n", strings.Join(res.OldKeyIDs, ", "))
			}
			return nil
		},
	}
	cmd.AddCommand(generate, rotate)
	return cmd
}
