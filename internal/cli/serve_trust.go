package cli

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/dlthub/runtime-action/internal/oidc"
	"github.com/dlthub/runtime-action/internal/server"
)

// addOIDCFlags adds the flags of the GitHub OIDC exchange to serve.
func addOIDCFlags(f *pflag.FlagSet, o *serveOptions) {
	f.StringVar(&o.OIDCIssuer, "oidc-issuer", o.OIDCIssuer,
		"issuer of the GitHub Actions ID tokens the OIDC exchange accepts; its keys are found through ISSUER/.well-known/openid-configuration (RUNTIME_SERVER_OIDC_ISSUER)")
	f.StringVar(&o.OIDCAudience, "oidc-audience", o.OIDCAudience,
		"the one audience an ID token must carry: the Action's oidc-audience input (RUNTIME_SERVER_OIDC_AUDIENCE)")
	f.DurationVar(&o.OIDCKeyRefresh, "oidc-key-refresh", o.OIDCKeyRefresh,
		"least time between two fetches of the issuer's keys when a token names an unknown key (RUNTIME_SERVER_OIDC_KEY_REFRESH)")
}

// checkOIDCFlags names the OIDC flag that is wrong.
func checkOIDCFlags(o *serveOptions) error {
	if err := oidc.CheckIssuer(strings.TrimRight(o.OIDCIssuer, "/")); err != nil {
		return &usageError{msg: fmt.Sprintf("invalid --oidc-issuer %q: expected an https URL such as %s (http only on a loopback address)",
			o.OIDCIssuer, oidc.DefaultIssuer)}
	}
	if strings.TrimSpace(o.OIDCAudience) == "" || strings.TrimSpace(o.OIDCAudience) != o.OIDCAudience {
		return &usageError{msg: fmt.Sprintf("invalid --oidc-audience %q: expected a non-empty value without blanks at its ends, e.g. %s",
			o.OIDCAudience, oidc.DefaultAudience)}
	}
	if o.OIDCKeyRefresh <= 0 {
		return &usageError{msg: fmt.Sprintf("invalid --oidc-key-refresh %s: it must be positive", o.OIDCKeyRefresh)}
	}
	return nil
}

// trustFlagError turns a refused trust rule value into a usage error that
// names its flag.
func trustFlagError(err error) error {
	var te *server.TrustInputError
	if errors.As(err, &te) {
		return &usageError{msg: fmt.Sprintf("invalid --%s %q: %s", te.Field, te.Value, te.Reason)}
	}
	return err
}

func newServeTrustCmd(s *Streams, o *serveOptions) *cobra.Command {
	cmd := groupCmd(&cobra.Command{
		Use:   "trust",
		Short: "Manage which GitHub repositories may log in with GitHub Actions OIDC",
		Long: `Trust rules let GitHub Actions jobs log in to a workspace with their OIDC ID token
(permissions: id-token: write), without a stored secret. A rule names the repository
and its owner by their numeric ids, never by name (a deleted name can be registered
again by someone else); find them with

  gh api repos/OWNER/REPO --jq '.id, .owner.id'

--ref, --environment and --workflow-ref narrow a rule: when given, the token's ref,
environment and job_workflow_ref claims must equal them.`,
	})
	var in server.TrustRuleInput
	add := &cobra.Command{
		Use:   "add --workspace ID --repository-id N --repository-owner-id N",
		Short: "Add a trust rule and print its id",
		Args:  cobra.NoArgs,
		// Checked before the data dir is opened: a bad value changes nothing.
		PreRunE: func(cmd *cobra.Command, args []string) error { return trustFlagError(in.Check()) },
		RunE: adminRunE(s, o, func(cmd *cobra.Command, args []string, a *server.Admin) error {
			r, created, err := a.AddTrustRule(cmd.Context(), in)
			if err != nil {
				return trustFlagError(err)
			}
			fmt.Fprintln(s.Out, r.ID)
			what := "Added trust rule"
			if !created {
				what = "The same trust rule exists already"
			}
			fmt.Fprintf(s.Err, "%s: ID tokens of repository id %d (owner id %d)%s may log in to workspace %s\n",
				what, r.RepositoryID, r.RepositoryOwnerID, ruleNarrowing(r), r.WorkspaceID)
			return nil
		}),
	}
	f := add.Flags()
	f.StringVar(&in.WorkspaceID, "workspace", "", "workspace id the tokens log in to (required)")
	f.StringVar(&in.RepositoryID, "repository-id", "", "numeric id of the repository (required): gh api repos/OWNER/REPO --jq .id")
	f.StringVar(&in.RepositoryOwnerID, "repository-owner-id", "", "numeric id of the repository's owner (required): gh api repos/OWNER/REPO --jq .owner.id")
	f.StringVar(&in.Ref, "ref", "", "only tokens of this ref, e.g. refs/heads/main")
	f.StringVar(&in.Environment, "environment", "", "only tokens of jobs in this deployment environment")
	f.StringVar(&in.WorkflowRef, "workflow-ref", "", "only tokens of this workflow (job_workflow_ref), e.g. OWNER/REPO/.github/workflows/deploy.yml@refs/heads/main")

	var wsID, output string
	list := &cobra.Command{
		Use:     "list",
		Short:   "List the trust rules",
		Args:    cobra.NoArgs,
		PreRunE: func(cmd *cobra.Command, args []string) error { return checkTableOutput(output) },
		RunE: adminRunE(s, o, func(cmd *cobra.Command, args []string, a *server.Admin) error {
			rules, err := a.TrustRules(cmd.Context(), wsID)
			if err != nil {
				return err
			}
			if output == "json" {
				if rules == nil {
					rules = []server.TrustRule{}
				}
				return printJSON(s.Out, rules)
			}
			t := newTable(s.Out, "ID", "WORKSPACE", "REPOSITORY ID", "OWNER ID", "REF", "ENVIRONMENT", "WORKFLOW REF", "CREATED")
			anyOf := func(v string) string {
				if v == "" {
					return "*"
				}
				return v
			}
			for _, r := range rules {
				t.row(r.ID, r.WorkspaceID, strconv.FormatInt(r.RepositoryID, 10), strconv.FormatInt(r.RepositoryOwnerID, 10),
					anyOf(r.Ref), anyOf(r.Environment), anyOf(r.WorkflowRef), r.DateAdded.UTC().Format("2006-01-02 15:04:05Z"))
			}
			t.flush()
			return nil
		}),
	}
	list.Flags().StringVar(&wsID, "workspace", "", "only the rules of this workspace id")
	list.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")

	remove := &cobra.Command{
		Use:   "remove RULE_ID",
		Short: "Remove a trust rule",
		Long: `Remove a trust rule. Runtime tokens it let GitHub Actions jobs obtain stay valid
until they expire, an hour at most.`,
		Args: exactArgs(1, "RULE_ID"),
		RunE: adminRunE(s, o, func(cmd *cobra.Command, args []string, a *server.Admin) error {
			if err := a.RemoveTrustRule(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(s.Out, "Removed trust rule %s\n", args[0])
			return nil
		}),
	}
	cmd.AddCommand(add, list, remove)
	return cmd
}

// ruleNarrowing describes a rule's optional claims for people.
func ruleNarrowing(r server.TrustRule) string {
	var parts []string
	if r.Ref != "" {
		parts = append(parts, "ref "+r.Ref)
	}
	if r.Environment != "" {
		parts = append(parts, "environment "+r.Environment)
	}
	if r.WorkflowRef != "" {
		parts = append(parts, "workflow "+r.WorkflowRef)
	}
	if len(parts) == 0 {
		return ""
	}
	return " with " + strings.Join(parts, ", ")
}
