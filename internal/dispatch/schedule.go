package dispatch

import (
	"fmt"
	"strings"

	"github.com/robfig/cron/v3"
)

// ParseSchedule accepts a 5-field cron expression only: no seconds, no
// @descriptors and no time zone prefix, so it means the same to every
// client that reads it back.
func ParseSchedule(expr string) (cron.Schedule, error) {
	fields := strings.Fields(expr)
	if len(fields) != 5 {
		return nil, fmt.Errorf("invalid schedule %q: expected 5 fields (minute hour day-of-month month day-of-week), got %d", expr, len(fields))
	}
	if strings.HasPrefix(fields[0], "TZ=") || strings.HasPrefix(fields[0], "CRON_TZ=") || strings.HasPrefix(fields[0], "@") {
		return nil, fmt.Errorf("invalid schedule %q: expected 5 fields (minute hour day-of-month month day-of-week)", expr)
	}
	sched, err := cron.ParseStandard(expr)
	if err != nil {
		return nil, fmt.Errorf("invalid schedule %q: %v", expr, err)
	}
	return sched, nil
}
