package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"testing"
)

// TestMain lets the test binary play the measured child process, as the
// loadgen binary does.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == childArg {
		os.Exit(runChild(context.Background(), os.Args[2:]))
	}
	os.Exit(m.Run())
}

// A small run against serve and the null service: every delivery is
// accepted and dispatched once, and the report is complete. (It measures
// nothing: the figures of the README come from full runs.)
func TestLoadgenSmallRun(t *testing.T) {
	for _, args := range [][]string{
		{"--deliveries", "20", "--concurrency", "4", "--format", "json"},
		{"--deliveries", "20", "--concurrency", "4", "--format", "json", "--service", "null"},
		{"--deliveries", "4", "--concurrency", "1", "--format", "json", "--targets", "5"},
	} {
		t.Run(args[len(args)-1], func(t *testing.T) {
			var out, errb bytes.Buffer
			code, err := run(t.Context(), args, &out, &errb)
			if err != nil || code != 0 {
				t.Fatalf("exit %d, %v\n%s", code, err, errb.String())
			}
			var r report
			if err := json.Unmarshal(out.Bytes(), &r); err != nil {
				t.Fatalf("%v\n%s", err, out.String())
			}
			want := r.Deliveries * r.Targets
			if r.Accepted != r.Deliveries || r.Dispatched != want || r.Lost != 0 || r.Duplicates != 0 || r.DeliveriesPerS <= 0 {
				t.Fatalf("report %+v: want %d accepted, %d dispatched, none lost or duplicated", r, r.Deliveries, want)
			}
			if r.PeakRSSMB <= 0 {
				t.Errorf("no peak RSS measured: %+v", r)
			}
		})
	}
}

func TestLoadgenFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--service", "nope"}, {"--targets", "3"}, {"--storm", "2"}, {"--service", "null", "--targets", "5"}, {"--env", "NOEQUALS"},
	} {
		var out, errb bytes.Buffer
		if code, err := run(context.Background(), args, &out, &errb); code != 2 || err == nil {
			t.Errorf("%v: exit %d, %v; want a usage error (2)", args, code, err)
		}
	}
}
