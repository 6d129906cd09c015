// Package api holds the wire types of the Runtime API v1 (see
// docs/runtime-v1.openapi.yaml): request and response bodies, enums and
// the error body. It does no I/O, so the client and the server share it.
package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// RunStatus is the state of a run.
type RunStatus string

// The run statuses of the contract.
const (
	StatusPending    RunStatus = "pending"
	StatusStarting   RunStatus = "starting"
	StatusRunning    RunStatus = "running"
	StatusFinalizing RunStatus = "finalizing"
	StatusCompleted  RunStatus = "completed"
	StatusFailed     RunStatus = "failed"
	StatusCancelling RunStatus = "cancelling"
	StatusCancelled  RunStatus = "cancelled"
	StatusSkipped    RunStatus = "skipped"
)

// RunStatuses lists every valid status, in lifecycle order.
var RunStatuses = []RunStatus{StatusPending, StatusStarting, StatusRunning, StatusFinalizing,
	StatusCompleted, StatusFailed, StatusCancelling, StatusCancelled, StatusSkipped}

// Valid reports whether s is one of the contract's statuses.
func (s RunStatus) Valid() bool {
	for _, v := range RunStatuses {
		if s == v {
			return true
		}
	}
	return false
}

// Terminal reports whether a run in status s will never change again.
func (s RunStatus) Terminal() bool {
	switch s {
	case StatusCompleted, StatusFailed, StatusCancelled, StatusSkipped:
		return true
	}
	return false
}

// Active reports whether a run in status s holds (or is about to hold) a process.
func (s RunStatus) Active() bool {
	switch s {
	case StatusStarting, StatusRunning, StatusFinalizing, StatusCancelling:
		return true
	}
	return false
}

// ScriptType tells batch scripts from interactive apps.
type ScriptType string

// The script types of the contract.
const (
	ScriptBatch       ScriptType = "batch"
	ScriptInteractive ScriptType = "interactive"
)

// Valid reports whether t is one of the contract's script types.
func (t ScriptType) Valid() bool { return t == ScriptBatch || t == ScriptInteractive }

// TriggerType tells what started a run.
type TriggerType string

// The trigger types of the contract.
const (
	TriggerManual   TriggerType = "manual"
	TriggerSchedule TriggerType = "schedule"
)

// Time is a timestamp on the wire. It is written as RFC 3339 in UTC with
// microseconds and read leniently: dltHub's service is a Python service and may
// send timestamps without a zone (read as UTC) or with "+00:00".
type Time struct{ time.Time }

// NewTime wraps t, rounded to the microsecond as Python keeps it.
func NewTime(t time.Time) Time { return Time{t.UTC().Round(time.Microsecond)} }

// TimePtr returns a pointer to NewTime(t), or nil for the zero time.
func TimePtr(t time.Time) *Time {
	if t.IsZero() {
		return nil
	}
	v := NewTime(t)
	return &v
}

const wireTimeLayout = "2006-01-02T15:04:05.000000Z07:00"

// MarshalJSON writes the time as RFC 3339 with microseconds, in UTC.
func (t Time) MarshalJSON() ([]byte, error) {
	if t.IsZero() {
		return []byte("null"), nil
	}
	return []byte(`"` + t.UTC().Format(wireTimeLayout) + `"`), nil
}

var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999",
}

// UnmarshalJSON reads RFC 3339 timestamps, with or without a zone, or null.
func (t *Time) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		t.Time = time.Time{}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("timestamp: %w", err)
	}
	if s == "" {
		t.Time = time.Time{}
		return nil
	}
	for _, l := range timeLayouts {
		if v, err := time.Parse(l, s); err == nil {
			t.Time = v.UTC()
			return nil
		}
	}
	return fmt.Errorf("timestamp %q is not RFC 3339", s)
}

// Timestamps are the creation and change times every object carries.
type Timestamps struct {
	DateAdded   Time `json:"date_added"`
	DateUpdated Time `json:"date_updated"`
}

// ErrorResponse is the body of every error answer.
type ErrorResponse struct {
	StatusCode int            `json:"status_code"`
	Detail     string         `json:"detail"`
	Extra      map[string]any `json:"extra,omitempty"`
}

// UnmarshalJSON accepts a detail that is not a string (FastAPI's validation
// errors send a list of objects) by keeping its JSON text.
func (e *ErrorResponse) UnmarshalJSON(b []byte) error {
	var raw struct {
		StatusCode int             `json:"status_code"`
		Detail     json.RawMessage `json:"detail"`
		Extra      map[string]any  `json:"extra"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	e.StatusCode, e.Extra = raw.StatusCode, raw.Extra
	e.Detail = ""
	if len(raw.Detail) > 0 && !bytes.Equal(raw.Detail, []byte("null")) {
		var s string
		if json.Unmarshal(raw.Detail, &s) == nil {
			e.Detail = s
		} else {
			e.Detail = strings.TrimSpace(string(raw.Detail))
		}
	}
	return nil
}

// Error makes an ErrorResponse usable as a Go error.
func (e *ErrorResponse) Error() string {
	if e.Detail == "" {
		return fmt.Sprintf("HTTP %d", e.StatusCode)
	}
	return fmt.Sprintf("%s (HTTP %d)", e.Detail, e.StatusCode)
}

// PingResponse answers /v1/ping.
type PingResponse struct {
	Message string `json:"message"`
	Service string `json:"service"`
}

// GithubDeviceFlowStartResponse starts a device flow login.
type GithubDeviceFlowStartResponse struct {
	DeviceCode      string `json:"device_code"`
	Interval        int    `json:"interval"`
	UserCode        string `json:"user_code"`
	VerificationURI string `json:"verification_uri"`
}

// GithubDeviceFlowLoginRequest polls a device flow.
type GithubDeviceFlowLoginRequest struct {
	DeviceCode string `json:"device_code"`
}

// GithubOauthExchangeRequest exchanges a GitHub access token.
type GithubOauthExchangeRequest struct {
	AccessToken string `json:"access_token"`
}

// GithubOidcExchangeRequest exchanges a GitHub Actions ID token (extension).
type GithubOidcExchangeRequest struct {
	Token       string `json:"token"`
	WorkspaceID string `json:"workspace_id,omitempty"`
}

// LoginResponse carries a Runtime JWT.
type LoginResponse struct {
	Email string `json:"email"`
	ID    string `json:"id"`
	JWT   string `json:"jwt"`
}

// Organization is an organization.
type Organization struct {
	Timestamps
	ID          string  `json:"id"`
	Name        string  `json:"name"`
	Description *string `json:"description"`
}

// Workspace is a workspace.
type Workspace struct {
	Timestamps
	ID          string  `json:"id"`
	Name        string  `json:"name"`
	Description *string `json:"description"`
}

// Me answers /v1/me.
type Me struct {
	DefaultOrganization Organization `json:"default_organization"`
	DefaultWorkspace    Workspace    `json:"default_workspace"`
	Email               string       `json:"email"`
	IdentityID          string       `json:"identity_id"`
	UserID              string       `json:"user_id"`
}

// PackageInfo describes an uploaded deployment or configuration.
type PackageInfo struct {
	Timestamps
	ContentHash string `json:"content_hash"`
	CreatedBy   string `json:"created_by"`
	FileCount   int    `json:"file_count"`
	FileNames   string `json:"file_names"`
	ID          string `json:"id"`
	Size        int64  `json:"size"`
	Version     int    `json:"version"`
	WorkspaceID string `json:"workspace_id"`
}

// Files splits FileNames back into the relative paths.
func (p PackageInfo) Files() []string {
	if p.FileNames == "" {
		return nil
	}
	return strings.Split(p.FileNames, ", ")
}

// Deployment is an uploaded code package.
type Deployment = PackageInfo

// Configuration is an uploaded settings package.
type Configuration struct {
	PackageInfo
	Profiles string `json:"profiles"`
}

// CreateScriptRequest creates or updates a script.
type CreateScriptRequest struct {
	Description string     `json:"description"`
	EntryPoint  string     `json:"entry_point"`
	Name        string     `json:"name"`
	ScriptType  ScriptType `json:"script_type"`
	Active      *bool      `json:"active,omitempty"`
	Profile     *string    `json:"profile"`
	Schedule    *string    `json:"schedule"`
}

// ScriptFields are the fields a script and its versions share.
type ScriptFields struct {
	Timestamps
	Active      bool       `json:"active"`
	CreatedBy   string     `json:"created_by"`
	Description string     `json:"description"`
	EntryPoint  string     `json:"entry_point"`
	ID          string     `json:"id"`
	Name        string     `json:"name"`
	ScriptType  ScriptType `json:"script_type"`
	Version     int        `json:"version"`
	Profile     *string    `json:"profile"`
	Schedule    *string    `json:"schedule"`
}

// Script is a script as the scripts endpoints return it.
type Script struct {
	ScriptFields
	ScriptURL        string `json:"script_url"`
	WorkspaceID      string `json:"workspace_id"`
	NextScheduledRun *Time  `json:"next_scheduled_run"`
}

// DetailedScript is a script with its last run.
type DetailedScript struct {
	Script
	LastRun *Run `json:"last_run"`
}

// ScriptVersion is one version of a script.
type ScriptVersion struct {
	ScriptFields
	ScriptID string `json:"script_id"`
}

// CreateRunRequest starts a manual run.
type CreateRunRequest struct {
	ScriptIDOrName string  `json:"script_id_or_name"`
	Profile        *string `json:"profile"`
}

// Run is a run.
type Run struct {
	Timestamps
	ConfigurationID string      `json:"configuration_id"`
	DeploymentID    string      `json:"deployment_id"`
	ID              string      `json:"id"`
	Number          int         `json:"number"`
	ScriptVersionID string      `json:"script_version_id"`
	Status          RunStatus   `json:"status"`
	Trigger         TriggerType `json:"trigger"`
	WorkspaceID     string      `json:"workspace_id"`
	Duration        *int64      `json:"duration"`
	Logs            *string     `json:"logs"`
	Profile         *string     `json:"profile"`
	TimeStarted     *Time       `json:"time_started"`
	TimeEnded       *Time       `json:"time_ended"`
	TriggeredBy     *string     `json:"triggered_by"`
}

// DetailedRun is a run with its script.
type DetailedRun struct {
	Run
	Script Script `json:"script"`
}

// LogsResponse answers the logs endpoint.
type LogsResponse struct {
	Run  DetailedRun `json:"run"`
	Logs *string     `json:"logs"`
}

// Page is one page of a list answer.
type Page[T any] struct {
	Items  []T `json:"items"`
	Limit  int `json:"limit"`
	Offset int `json:"offset"`
	Total  int `json:"total"`
}

// Paging limits of the list endpoints.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

// Profile names accepted for runs and scripts: a dlt profile name is used as a
// file name prefix, so it is kept to a safe alphabet.
func ValidProfile(p string) bool {
	if p == "" || len(p) > 64 {
		return false
	}
	for i, r := range p {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case (r == '-' || r == '_') && i > 0:
		default:
			return false
		}
	}
	return true
}

// Stream event names of the log stream extension.
const (
	EventLog    = "log"
	EventStatus = "status"
)

// AppLinkResponse is the answer of POST
// /v1/workspaces/{ws}/scripts/{name}/app-link, an extension of this project's
// server (not in the contract): a short-lived signed link that opens an
// interactive script's app in a browser, without a token in a header.
type AppLinkResponse struct {
	URL       string `json:"url"`
	ExpiresAt Time   `json:"expires_at"`
}
