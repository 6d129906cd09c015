//go:build !linux

package executor

import (
	"context"
	"errors"
	"time"
)

// bwrapArgs is never used where there is no bubblewrap: CheckSandbox fails.
func (e *Executor) bwrapArgs(spec sandboxSpec) []string { return nil }

// CheckSandbox fails: bubblewrap sandboxes need Linux.
func CheckSandbox(ctx context.Context, bwrap string) error {
	return errors.New("bubblewrap sandboxes need Linux: pass --sandbox none (runs are then not isolated)")
}

func (e *Executor) startNet(ctx context.Context, leader int, limit time.Duration, lg *runLog) func() {
	return func() {}
}

// Shown is empty where there is no sandbox.
func Shown(in *Interpreter) []string { return nil }
