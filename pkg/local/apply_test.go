package local

import (
	"errors"
	"testing"
	"time"

	"github.com/dispatcher-dev/dispatcher/pkg/facts"
	"github.com/dispatcher-dev/dispatcher/pkg/pipeline"
	"github.com/dispatcher-dev/dispatcher/pkg/plan"
)

func countRows(t testing.TB, s *Store, query string, args ...any) int {
	t.Helper()
	var n int
	if err := s.db.QueryRow(query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// receiveOne enqueues body on queue and receives it.
func receiveOne(t testing.TB, s *Store, queue, body string) Message {
	t.Helper()
	send(t, s, queue, body)
	ms, err := s.Queue(queue).Receive(ctx, 1, time.Minute)
	if err != nil || len(ms) != 1 {
		t.Fatalf("receive: %+v %v", ms, err)
	}
	return ms[0]
}

// allEffects are effects touching every table a step can write.
func allEffects(t0 time.Time, delivery string) pipeline.Effects {
	return pipeline.Effects{
		Replay:   delivery,
		Enqueue:  []pipeline.Outgoing{{Queue: "next", DedupID: "n-" + delivery, Body: []byte(`{"delivery_id":"` + delivery + `"}`)}},
		Facts:    []facts.Event{testEvent(facts.TypeRequestAccepted, t0, delivery, "acme/api")},
		Outcomes: []pipeline.DeliveryOutcome{{DeliveryID: delivery, Outcome: pipeline.Outcome{Repository: "acme/deploy", Status: pipeline.OutcomeSuccess}}},
		Lineage:  []pipeline.RunLineage{{Repository: "acme/deploy", RunID: 7, Chain: []plan.ChainLink{{Repository: "acme/api", Workflow: "ci.yml"}}}},
		Complete: &pipeline.ClaimCompletion{Key: "k-" + delivery, Result: pipeline.DispatchResult{Attempts: 1, RunID: 7}},
	}
}

type stepRows struct{ replay, next, events, outcomes, lineage, claims int }

func rowsOf(t testing.TB, s *Store) stepRows {
	return stepRows{
		replay:   countRows(t, s, "SELECT COUNT(*) FROM replay_guard"),
		next:     countRows(t, s, "SELECT COUNT(*) FROM queue_messages WHERE queue = 'next'"),
		events:   countRows(t, s, "SELECT COUNT(*) FROM events"),
		outcomes: countRows(t, s, "SELECT COUNT(*) FROM outcomes"),
		lineage:  countRows(t, s, "SELECT COUNT(*) FROM lineage"),
		claims:   countRows(t, s, "SELECT COUNT(*) FROM claims"),
	}
}

// All effects of a step and its settlement are one transaction: a failed
// commit stores none of them and leaves the message unacknowledged; the
// same step applied again afterwards stores all of them.
func TestApplyStepIsOneTransaction(t *testing.T) {
	c := newClock()
	s := openTemp(t, c, Options{})
	m := receiveOne(t, s, "work", "m")
	e := allEffects(c.Now(), "d1")
	settle := &Settle{Queue: "work", Receipt: m.Receipt, Action: Ack}

	s.w.hook = func(int) error { return errors.New("disk on fire") }
	if err := s.ApplyStep(ctx, e, settle); err == nil {
		t.Fatal("ApplyStep succeeded despite the failed commit")
	}
	s.w.hook = nil
	if got := rowsOf(t, s); got != (stepRows{}) {
		t.Errorf("after a failed commit: %+v, want nothing stored", got)
	}
	if live := messages(t, s, "work"); len(live) != 1 || live["m"].Receipt != m.Receipt {
		t.Fatalf("message %+v, want it still received with the same receipt", live)
	}

	if err := s.ApplyStep(ctx, e, settle); err != nil {
		t.Fatal(err)
	}
	if got, want := rowsOf(t, s), (stepRows{1, 1, 1, 1, 1, 1}); got != want {
		t.Errorf("after the commit: %+v, want %+v", got, want)
	}
	if live := messages(t, s, "work"); len(live) != 0 {
		t.Errorf("message not acked: %+v", live)
	}
}

// A second apply of the same delivery id inside the replay window is
// ErrDuplicateDelivery and applies none of its effects; after the window
// it is accepted.
func TestApplyStepReplay(t *testing.T) {
	c := newClock()
	s := openTemp(t, c, Options{ReplayWindow: time.Minute})
	first := pipeline.Effects{Replay: "d1",
		Enqueue: []pipeline.Outgoing{{Queue: "next", DedupID: "a", Body: []byte("a")}},
		Facts:   []facts.Event{testEvent(facts.TypeRequestAccepted, c.Now(), "d1", "acme/api")}}
	if err := s.Apply(ctx, first); err != nil {
		t.Fatal(err)
	}
	// Same delivery id, other effects (a different message and fact).
	again := func() pipeline.Effects {
		return pipeline.Effects{Replay: "d1",
			Enqueue: []pipeline.Outgoing{{Queue: "next", DedupID: "b-" + c.Now().String(), Body: []byte("b")}},
			Facts:   []facts.Event{testEvent(facts.TypePlanCreated, c.Now(), "d1", "acme/api")}}
	}
	for _, tc := range []struct {
		name       string
		advance    time.Duration
		wantDup    bool
		wantNext   int
		wantEvents int
	}{
		{"inside the window", 30 * time.Second, true, 1, 1},
		{"at the end of the window", 30*time.Second - time.Nanosecond, true, 1, 1},
		{"after the window", time.Second, false, 2, 2},
	} {
		c.Add(tc.advance)
		err := s.Apply(ctx, again())
		if tc.wantDup != errors.Is(err, pipeline.ErrDuplicateDelivery) || (!tc.wantDup && err != nil) {
			t.Errorf("%s: %v, want duplicate %v", tc.name, err, tc.wantDup)
		}
		if n := countRows(t, s, "SELECT COUNT(*) FROM queue_messages WHERE queue = 'next'"); n != tc.wantNext {
			t.Errorf("%s: %d messages, want %d", tc.name, n, tc.wantNext)
		}
		if n := countRows(t, s, "SELECT COUNT(*) FROM events"); n != tc.wantEvents {
			t.Errorf("%s: %d facts, want %d", tc.name, n, tc.wantEvents)
		}
	}
	// Accepted again: the window starts over.
	c.Add(time.Second)
	if err := s.Apply(ctx, again()); !errors.Is(err, pipeline.ErrDuplicateDelivery) {
		t.Errorf("right after being accepted again: %v, want ErrDuplicateDelivery", err)
	}
}

// A stale receipt (the message was received again meanwhile) does not
// undo the step's effects: they are committed, ErrStaleReceipt is
// returned, and the newer receive still owns the message.
func TestApplyStepStaleReceipt(t *testing.T) {
	for _, action := range []Settlement{Ack, RetryAfter, DeadLetter} {
		c := newClock()
		s := openTemp(t, c, Options{})
		old := receiveOne(t, s, "work", "m")
		c.Add(time.Minute)
		ms, err := s.Queue("work").Receive(ctx, 1, time.Minute)
		if err != nil || len(ms) != 1 {
			t.Fatalf("second receive: %+v %v", ms, err)
		}
		e := allEffects(c.Now(), "d1")
		err = s.ApplyStep(ctx, e, &Settle{Queue: "work", Receipt: old.Receipt, Action: action, LastError: "x"})
		if !errors.Is(err, ErrStaleReceipt) {
			t.Errorf("action %d: %v, want ErrStaleReceipt", action, err)
		}
		if got, want := rowsOf(t, s), (stepRows{1, 1, 1, 1, 1, 1}); got != want {
			t.Errorf("action %d: %+v, want the effects committed (%+v)", action, got, want)
		}
		live := messages(t, s, "work")
		if m := live["m"]; m.Receipt != ms[0].Receipt || m.LastError != "" || len(deadLetters(t, s, "work")) != 0 {
			t.Errorf("action %d: message %+v, want it untouched for the newer receive", action, m)
		}
		if err := s.Queue("work").Ack(ctx, ms[0].Receipt); err != nil {
			t.Errorf("action %d: the newer receipt cannot ack: %v", action, err)
		}
	}
}

// Release in a step is a compare-and-delete on the lease: a claim taken
// over since (a new lease) survives; the holder's release removes it; a
// done claim is never released.
func TestApplyStepRelease(t *testing.T) {
	c := newClock()
	s := openTemp(t, c, Options{})
	key := "acme/api#42#1#acme/deploy#cd.yml"
	t1 := c.Now()
	if got, err := s.Claim(ctx, key, t1); err != nil || got.State != pipeline.ClaimAcquired {
		t.Fatalf("claim: %+v %v", got, err)
	}
	t2 := t1.Add(time.Hour)
	if ok, err := s.TakeOver(ctx, key, t1, t2); err != nil || !ok {
		t.Fatalf("takeover: %v %v", ok, err)
	}
	if err := s.Apply(ctx, pipeline.Effects{Release: &pipeline.ClaimRelease{Key: key, LeasedAt: t1}}); err != nil {
		t.Fatalf("stale release: %v (a lost compare is not an error)", err)
	}
	if got, _ := s.Claim(ctx, key, t2.Add(time.Second)); got.State != pipeline.ClaimInProgress || !got.LeasedAt.Equal(t2) {
		t.Fatalf("after the stale release: %+v, want the taken-over claim", got)
	}
	if err := s.Apply(ctx, pipeline.Effects{Release: &pipeline.ClaimRelease{Key: key, LeasedAt: t2}}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Claim(ctx, key, t2.Add(2*time.Second)); got.State != pipeline.ClaimAcquired {
		t.Fatalf("after the holder's release: %+v, want acquired", got)
	}
	// Done: never released, even with the matching lease.
	t3 := t2.Add(2 * time.Second)
	if err := s.Apply(ctx, pipeline.Effects{Complete: &pipeline.ClaimCompletion{Key: key, Result: pipeline.DispatchResult{Attempts: 1}}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Apply(ctx, pipeline.Effects{Release: &pipeline.ClaimRelease{Key: key, LeasedAt: t3}}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Claim(ctx, key, t3.Add(time.Second)); got.State != pipeline.ClaimDone {
		t.Fatalf("a done claim was released: %+v", got)
	}
}

// A run id is recorded by at most one dispatch: a second completion naming
// the same run for another work item fails whole (its claim stays in
// progress), while the owner may complete again (a redelivery).
func TestApplyStepRunBelongsToOneDispatch(t *testing.T) {
	s := openTemp(t, newClock(), Options{})
	complete := func(key string) error {
		return s.Apply(ctx, pipeline.Effects{Complete: &pipeline.ClaimCompletion{
			Key: key, Repository: "acme/Deploy", Result: pipeline.DispatchResult{Attempts: 1, RunID: 77},
		}})
	}
	if _, err := s.Claim(ctx, "k1", s.now()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Claim(ctx, "k2", s.now()); err != nil {
		t.Fatal(err)
	}
	if err := complete("k1"); err != nil {
		t.Fatal(err)
	}
	if err := complete("k1"); err != nil {
		t.Fatalf("the owner completing again: %v", err)
	}
	if err := complete("k2"); !errors.Is(err, pipeline.ErrRunClaimed) {
		t.Fatalf("second dispatch naming run 77: %v, want ErrRunClaimed", err)
	}
	c, err := s.Claim(ctx, "k2", s.now())
	if err != nil || c.State != pipeline.ClaimInProgress {
		t.Fatalf("k2 claim = %+v %v, want still in progress", c, err)
	}
}
