package store

import (
	"context"
	"time"
)

// ScheduleTick is one check of a script's schedule: the run of its latest
// due tick, and where the schedule goes next. Version and Due are the
// script as the caller read it, so that a script changed since (a new
// schedule, deactivated, a new profile) is not fired on stale values.
type ScheduleTick struct {
	WorkspaceID string
	ScriptID    string
	Version     int        // the script's version when read
	Due         *time.Time // its next_scheduled_run when read
	// Tick is the latest tick at or before now that is due; zero when none
	// is (the script had no next_scheduled_run yet): then only Next is set.
	Tick time.Time
	Next time.Time // the first tick after now: the new next_scheduled_run
	// Profile of the run; TriggeredBy is nil for scheduled runs.
	Profile string
}

// ScheduleOutcome says what FireSchedule did.
type ScheduleOutcome string

// The outcomes of FireSchedule.
const (
	// ScheduleChanged: the script changed since it was read (or is no
	// longer active or scheduled); nothing was done.
	ScheduleChanged ScheduleOutcome = "changed"
	// ScheduleRescheduled: no tick was due; next_scheduled_run was set.
	ScheduleRescheduled ScheduleOutcome = "rescheduled"
	// ScheduleFired: a pending run was created for the tick.
	ScheduleFired ScheduleOutcome = "fired"
	// ScheduleSkipped: a run of the script was still active, so the tick's
	// run was recorded as skipped (terminal, never started).
	ScheduleSkipped ScheduleOutcome = "skipped"
	// ScheduleAlreadyFired: the tick (or a later one) had fired before;
	// only next_scheduled_run moved.
	ScheduleAlreadyFired ScheduleOutcome = "already fired"
	// ScheduleNoPackages: the workspace has no deployment or configuration
	// yet, so no run could be made; the tick counts as fired and
	// next_scheduled_run moved.
	ScheduleNoPackages ScheduleOutcome = "no packages"
)

// EncryptionKey is a key configuration packages were encrypted with, known
// by its id and a check value, never by its bytes.
type EncryptionKey struct {
	ID         string
	CheckValue string
	Created    time.Time
}

// ScheduleStore keeps what schedules need.
type ScheduleStore interface {
	// DueScripts returns the active scripts with a schedule whose
	// next_scheduled_run is at or before now, or not set, of every
	// workspace.
	DueScripts(ctx context.Context, now time.Time) ([]Script, error)
	// FireSchedule records one check of a script's schedule in one
	// transaction: unless the script changed since it was read, it sets
	// next_scheduled_run to t.Next and, when t.Tick is later than the last
	// tick fired, remembers it and records its run (pending, or skipped
	// when one of the script's runs is active). run is set for
	// ScheduleFired and ScheduleSkipped.
	FireSchedule(ctx context.Context, t ScheduleTick) (run Run, outcome ScheduleOutcome, err error)
}

// KeyStore keeps the check values of encryption keys and finds the stored
// configuration packages to decrypt with them.
type KeyStore interface {
	// EncryptionKeys lists the known keys, oldest first.
	EncryptionKeys(ctx context.Context) ([]EncryptionKey, error)
	// AddEncryptionKey records a key unless its id is known.
	AddEncryptionKey(ctx context.Context, k EncryptionKey) error
	// PackageBlobs lists the distinct blobs of the packages of a kind, of
	// every workspace.
	PackageBlobs(ctx context.Context, kind PackageKind) ([]string, error)
}
