package local

import (
	"errors"
	"testing"
	"time"

	"github.com/dispatcher-dev/dispatcher/pkg/pipeline"
)

func TestQueueRetryKeepsLastError(t *testing.T) {
	c := newClock()
	s := openTemp(t, c, Options{MaxReceives: 2})
	q := s.Queue("targets")
	if err := q.Enqueue(ctx, "a", []byte("A")); err != nil {
		t.Fatal(err)
	}
	ms, err := q.Receive(ctx, 5, time.Minute)
	if err != nil || len(ms) != 1 || ms[0].ReceiveCount != 1 || ms[0].ReceiveCount >= 2 {
		t.Fatalf("receive %+v %v", ms, err)
	}
	if err := q.Retry(ctx, ms[0].Receipt, 0, "502 from GitHub"); err != nil {
		t.Fatal(err)
	}
	ms, _ = q.Receive(ctx, 5, time.Minute)
	if len(ms) != 1 || ms[0].ReceiveCount != 2 {
		t.Fatalf("second receive %+v", ms)
	}
	// Giving a message back without an error keeps the last error.
	if err := q.Retry(ctx, ms[0].Receipt, 0, ""); err != nil {
		t.Fatal(err)
	}
	if ms, _ = q.Receive(ctx, 5, time.Minute); len(ms) != 0 {
		t.Fatalf("third receive %+v", ms)
	}
	dl, _ := q.ListDLQ(ctx, Filter{})
	if len(dl) != 1 || dl[0].LastError != "502 from GitHub" {
		t.Fatalf("DLQ %+v", dl)
	}
	q.Redrive(ctx, Filter{})
	ms, _ = q.Receive(ctx, 5, time.Minute)
	if err := q.MoveToDLQ(ctx, ms[0].Receipt, "404 Not Found"); err != nil {
		t.Fatal(err)
	}
	if err := q.Ack(ctx, ms[0].Receipt); !errors.Is(err, ErrStaleReceipt) {
		t.Errorf("ack after dead letter: %v", err)
	}
	if dl, _ = q.ListDLQ(ctx, Filter{}); len(dl) != 1 || dl[0].LastError != "404 Not Found" {
		t.Fatalf("DLQ %+v", dl)
	}
}

func TestOutcomes(t *testing.T) {
	c := newClock()
	s := openTemp(t, c, Options{OutcomeTTL: time.Hour})
	put := func(d string, o pipeline.Outcome) []pipeline.Outcome {
		t.Helper()
		out, err := s.Put(ctx, d, o)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	put("d1", pipeline.Outcome{Index: 1, Repository: "a/b", Status: pipeline.OutcomeFailed, Error: "boom"})
	put("d2", pipeline.Outcome{Index: 0, Repository: "x/y", Status: pipeline.OutcomeSuccess})
	out := put("d1", pipeline.Outcome{Index: 0, Repository: "a/a", Status: pipeline.OutcomeDenied, Reason: "inbound_not_authorized"})
	if len(out) != 2 || out[0].Repository != "a/a" || out[1].Error != "boom" {
		t.Fatalf("outcomes %+v", out)
	}
	out = put("d1", pipeline.Outcome{Index: 1, Repository: "a/b", Status: pipeline.OutcomeSuccess, Attempts: 2})
	if len(out) != 2 || out[1].Status != pipeline.OutcomeSuccess {
		t.Fatalf("replaced outcome %+v", out)
	}
	c.Add(time.Hour)
	if out = put("d1", pipeline.Outcome{Index: 2, Repository: "a/c"}); len(out) != 1 {
		t.Fatalf("expired outcomes returned: %+v", out)
	}
	if st, _ := s.Cleanup(ctx); st.Outcomes != 3 {
		t.Errorf("cleanup removed %d outcomes, want 3", st.Outcomes)
	}
}
