package executor

import "testing"

func TestParseStat(t *testing.T) {
	tests := []struct {
		in         string
		state      byte
		ppid, pgrp int
		ok         bool
	}{
		{"123 (python3) S 1 123 123 0 -1", 'S', 1, 123, true},
		{"124 (a) b) (c) Z 7 99 99 0", 'Z', 7, 99, true},
		{"125 (x y) R 2 3", 'R', 2, 3, true},
		{"126 (x", 0, 0, 0, false},
		{"127 (x) S 2", 0, 0, 0, false},
		{"128 (x) S two 3 4", 0, 0, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			state, ppid, pgrp, ok := parseStat([]byte(tt.in))
			if state != tt.state || ppid != tt.ppid || pgrp != tt.pgrp || ok != tt.ok {
				t.Errorf("parseStat = %q %d %d %v, want %q %d %d %v", state, ppid, pgrp, ok, tt.state, tt.ppid, tt.pgrp, tt.ok)
			}
		})
	}
}
