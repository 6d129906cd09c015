package deploy

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/dlthub/runtime-action/internal/api"
	"github.com/dlthub/runtime-action/internal/auth"
	"github.com/dlthub/runtime-action/internal/client"
)

// ErrNoRuntimeURL is wrapped by Authenticate's error when no setting names
// a Runtime: the front end says where to set one.
var ErrNoRuntimeURL = errors.New("no Runtime URL")

// Login is what the authenticate phase needs.
type Login struct {
	Settings Settings
	// Client is the base of the Runtime client's options (user agent, poll
	// interval); the URLs and the token are filled in.
	Client client.Options
	// Exchange, when set, is asked for a token when no flag or input gave
	// one, before the settings' token is taken: the Action trades a GitHub
	// token or a GitHub OIDC ID token there. ok false means none: go on.
	Exchange func(ctx context.Context, opts client.Options) (tok Setting, ok bool, err error)
	// NoToken makes the error for no token at all (nil: the command line's).
	NoToken func(set Settings) error
	// Workspace, when set, settles the workspace instead of the default
	// rule (the settings' workspace_id, else the caller's default): the
	// command line asks on a terminal whether to save it.
	Workspace func(ctx context.Context, s *Session) error
	// Verify asks the Runtime who the caller is even when the workspace is
	// known, so that a refused token fails in the authenticate phase.
	Verify bool
	// Now is the clock the token's expiry is checked against (nil: time.Now).
	Now func() time.Time
}

// Session is an authenticated connection to one workspace of a Runtime.
type Session struct {
	Runtime Runtime
	// Client is the v1 client behind Runtime, for the commands that are not
	// part of a deploy (listing, logs).
	Client   *client.Client
	Settings Settings // the token's Source says where the token came from
	// WorkspaceID is the workspace the session addresses.
	WorkspaceID string
	// DefaultWorkspace is set when it is the caller's default, no
	// workspace_id being set.
	DefaultWorkspace bool
	me               *api.Me
}

// Me asks the Runtime who the caller is, once per session.
func (s *Session) Me(ctx context.Context) (*api.Me, error) {
	if s.me == nil {
		me, err := s.Runtime.Me(ctx)
		if err != nil {
			return nil, s.Explain(ctx, err)
		}
		s.me = me
	}
	return s.me, nil
}

// Authenticate settles the token (checking that it has not expired), opens
// the client and settles the workspace.
func Authenticate(ctx context.Context, l Login) (*Session, error) {
	set := l.Settings
	if set.APIURL.Value == "" {
		return nil, &Error{Class: ClassUsage, Err: ErrNoRuntimeURL}
	}
	opts := l.Client
	opts.APIBaseURL, opts.AuthBaseURL = set.APIURL.Value, set.AuthURL.Value
	tok := set.Token
	switch k := tok.Source.Kind; {
	case k == FromFlag || k == FromEmbedded:
	case l.Exchange != nil:
		got, ok, err := l.Exchange(ctx, opts)
		if err != nil {
			return nil, err
		}
		if ok {
			tok = got
		}
	}
	if tok.Value == "" {
		if l.NoToken != nil {
			return nil, l.NoToken(set)
		}
		return nil, Errorf(ClassAuth, "", `not logged in to the Runtime at %s: run "runtime-action login", or set RUNTIME__AUTH_TOKEN`, set.APIURL.Value)
	}
	set.Token = tok
	now := time.Now
	if l.Now != nil {
		now = l.Now
	}
	if err := auth.CheckExpiry(tok.Value, now()); errors.Is(err, auth.ErrExpired) {
		at := ""
		if c, derr := auth.Decode(tok.Value); derr == nil {
			at = " at " + c.Expiry.UTC().Format(time.RFC3339)
		}
		return nil, &Error{Class: ClassAuth, Title: "Runtime token expired",
			Err: fmt.Errorf("the token from %s expired%s", tok.Source, at), Fix: set.TokenFix()}
	}
	opts.Token = tok.Value
	c := client.New(opts)
	s := &Session{Runtime: c, Client: c, Settings: set, WorkspaceID: set.WorkspaceID.Value}
	if l.Verify {
		if _, err := s.Me(ctx); err != nil {
			return nil, err
		}
	}
	if l.Workspace != nil {
		if err := l.Workspace(ctx, s); err != nil {
			return nil, s.Explain(ctx, err)
		}
		return s, nil
	}
	if s.WorkspaceID == "" {
		me, err := s.Me(ctx)
		if err != nil {
			return nil, err
		}
		s.WorkspaceID, s.DefaultWorkspace = me.DefaultWorkspace.ID, true
	}
	return s, nil
}

// Explain adds to a Runtime's error what to do about it, naming where the
// setting at fault came from: the one wording of an unreachable Runtime, a
// refused token and an unknown workspace. Errors already explained, and
// those it knows nothing about, are returned as they are.
func (s *Session) Explain(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) && e.Fix != "" {
		if e.Class == ClassAuth || e.Class == ClassConnection {
			// The token or the address is at fault, whatever was
			// being done: the explanation is the whole message.
			return e
		}
		return err
	}
	set := s.Settings
	var ce *client.ConnError
	if errors.As(err, &ce) {
		// The address and the reason say it all: what was being done
		// when the Runtime could not be reached adds nothing.
		fix := "check that it is running and that the URL is right"
		if set.APIURL.Source.Kind != "" {
			fix += fmt.Sprintf(" (set by %s)", set.APIURL.Source)
		}
		return &Error{Class: ClassConnection, Err: ce, Fix: fix}
	}
	var ae *client.Error
	if errors.As(err, &ae) && ae.Status == http.StatusUnauthorized {
		why := ae.Detail
		if why == "" {
			why = "HTTP 401"
		}
		from := "the token"
		if set.Token.Source.Kind != "" {
			from = "the token from " + set.Token.Source.String()
		}
		return &Error{Class: ClassAuth, Err: fmt.Errorf("the Runtime refused %s (%s)", from, why), Fix: set.TokenFix()}
	}
	if client.IsNotFound(err) && s.WorkspaceID != "" && s.workspaceUnknown(ctx) {
		from := "your default"
		if !s.DefaultWorkspace && set.WorkspaceID.Value == s.WorkspaceID {
			from = "set by " + set.WorkspaceID.Source.String()
		}
		return &Error{Class: ClassOther, Title: "Unknown workspace", Err: err,
			Fix: fmt.Sprintf("the Runtime has no workspace %s for this token (%s); \"runtime-action whoami\" shows the token's default workspace", s.WorkspaceID, from)}
	}
	return err
}

// workspaceUnknown asks the Runtime whether the session's workspace exists
// for this token: a "not found" answer may be about the workspace rather
// than the thing asked for.
func (s *Session) workspaceUnknown(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	_, err := s.Runtime.GetWorkspace(ctx, s.WorkspaceID)
	return client.IsNotFound(err) || client.IsStatus(err, http.StatusForbidden)
}
