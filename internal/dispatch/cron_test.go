package dispatch

import (
	"testing"
	"time"

	"github.com/robfig/cron/v3"
)

// at is a time on the tests' day, 2026-03-01, in UTC.
func at(hhmmss string) time.Time {
	t, err := time.Parse("2006-01-02 15:04:05", "2026-03-01 "+hhmmss)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

func TestLatestTick(t *testing.T) {
	t.Parallel()
	tests := []struct {
		expr     string
		due, now time.Time
		want     time.Time
	}{
		{"* * * * *", at("10:03:00"), at("10:03:00"), at("10:03:00")},
		{"* * * * *", at("10:03:00"), at("11:00:30"), at("11:00:00")},
		{"*/5 * * * *", at("10:05:00"), at("10:09:59"), at("10:05:00")},
		{"0 3 * * *", at("03:00:00"), at("03:00:00").AddDate(2, 0, 0).Add(time.Hour), at("03:00:00").AddDate(2, 0, 0)},
		{"* * 1 * *", at("00:00:00"), at("00:00:00").AddDate(0, 1, 10), time.Date(2026, 4, 1, 23, 59, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.expr+" "+tt.now.String(), func(t *testing.T) {
			sched, err := cron.ParseStandard(tt.expr)
			if err != nil {
				t.Fatal(err)
			}
			if got := latestTick(sched, tt.due, tt.now); !got.Equal(tt.want) {
				t.Errorf("latestTick = %v, want %v", got, tt.want)
			}
		})
	}
}
