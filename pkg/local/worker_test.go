package local

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dispatcher-dev/dispatcher/pkg/facts"
	"github.com/dispatcher-dev/dispatcher/pkg/pipeline"
)

// syncBuffer is a log sink safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// Lines decodes the JSON log lines.
func (b *syncBuffer) Lines(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

func testLogger(b *syncBuffer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// workerOpts are the options of most worker tests. IdleCheck is an hour:
// a test that needs the idle timer to make progress hangs (and fails).
func workerOpts(logs *syncBuffer) WorkerOptions {
	return WorkerOptions{
		Concurrency: 2, Visibility: time.Minute, DrainTimeout: 5 * time.Second, IdleCheck: time.Hour,
		RetryDelay: func(int, error) time.Duration { return 0 },
		Logger:     testLogger(logs),
	}
}

// goWorker runs the worker on queue. cancel ends its context; wait waits
// for RunWorker to return (hang guard 30s).
func goWorker(t *testing.T, s *Store, queue string, h Handler, o WorkerOptions) (cancel, wait func()) {
	t.Helper()
	wctx, cancelCtx := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.RunWorker(wctx, queue, h, o) }()
	var once sync.Once
	wait = func() {
		once.Do(func() {
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("RunWorker: %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("RunWorker did not return after cancel")
			}
		})
	}
	t.Cleanup(func() { cancelCtx(); wait() })
	return cancelCtx, wait
}

// startWorker runs the worker on queue; stop cancels it and waits for
// RunWorker to return.
func startWorker(t *testing.T, s *Store, queue string, h Handler, o WorkerOptions) (stop func()) {
	t.Helper()
	cancel, wait := goWorker(t, s, queue, h, o)
	return func() { cancel(); wait() }
}

// runUntil runs the worker until cond holds, then stops it.
func runUntil(t *testing.T, s *Store, queue string, h Handler, o WorkerOptions, what string, cond func() bool) {
	t.Helper()
	stop := startWorker(t, s, queue, h, o)
	waitFor(t, what, cond)
	stop()
}

func send(t testing.TB, s *Store, queue string, bodies ...string) {
	t.Helper()
	for _, b := range bodies {
		if _, _, err := s.Queue(queue).Send(ctx, NewMessage{Body: []byte(b)}); err != nil {
			t.Fatal(err)
		}
	}
}

// messages lists every message of queue (in flight, delayed or visible).
func messages(t testing.TB, s *Store, queue string) map[string]Message {
	t.Helper()
	rows, err := s.db.Query("SELECT "+msgColumns+" FROM queue_messages WHERE queue = ? ORDER BY id", queue)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]Message{}
	for rows.Next() {
		m, err := scanMessage(rows)
		if err != nil {
			t.Fatal(err)
		}
		out[string(m.Body)] = m
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func deadLetters(t testing.TB, s *Store, queue string) map[string]Message {
	t.Helper()
	return messages(t, s, queue+DLQSuffix)
}

func countEvents(t testing.TB, s *Store, id string) int {
	t.Helper()
	var n int
	if err := s.db.QueryRow("SELECT COUNT(*) FROM events WHERE id = ?", id).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// Each settlement: nil → ack; permanent error → dead-letter at once; an
// error on the final receive → dead-letter; another error → retry after
// RetryDelay; a panic → retry with the panic as the last error.
func TestWorkerSettlesEachOutcome(t *testing.T) {
	s := openTemp(t, nil, Options{MaxReceives: 3})
	send(t, s, "work", "ok", "permanent", "flaky", "always", "panic", "later")
	var mu sync.Mutex
	calls := map[string]int{}
	h := func(ctx context.Context, m pipeline.Message) pipeline.Step {
		mu.Lock()
		calls[string(m.Body)]++
		n := calls[string(m.Body)]
		mu.Unlock()
		if m.MaxReceives != 3 || m.ReceiveCount != n || m.Handle == "" {
			return pipeline.Step{Err: pipeline.PermanentError("check", fmt.Errorf("bad receive info %+v", m))}
		}
		switch string(m.Body) {
		case "permanent":
			return pipeline.Step{Err: pipeline.PermanentError("handle", errors.New("malformed"))}
		case "flaky":
			if n < 2 {
				return pipeline.Step{Err: errors.New("try again")}
			}
		case "always":
			return pipeline.Step{Err: errors.New("still down")}
		case "panic":
			panic("boom")
		case "later":
			return pipeline.Step{Err: errors.New("come back later")}
		}
		return pipeline.Step{}
	}
	logs := &syncBuffer{}
	o := workerOpts(logs)
	o.RetryDelay = func(n int, err error) time.Duration {
		if strings.Contains(err.Error(), "panic") || strings.Contains(err.Error(), "later") {
			return time.Hour
		}
		return 0
	}
	runUntil(t, s, "work", h, o, "every message settled", func() bool {
		live := messages(t, s, "work")
		return len(deadLetters(t, s, "work")) == 2 && len(live) == 2 && live["panic"].LastError != "" && live["later"].LastError != ""
	})

	live := messages(t, s, "work")
	soon := time.Now().Add(50 * time.Minute)
	for _, b := range []string{"panic", "later"} {
		m := live[b]
		if m.ReceiveCount != 1 || m.VisibleAt.Before(soon) {
			t.Errorf("%s: %+v, want retried after RetryDelay (an hour)", b, m)
		}
	}
	if !strings.Contains(live["panic"].LastError, "handler panic: boom") {
		t.Errorf("panic: last error %q, want the panic", live["panic"].LastError)
	}
	if !strings.Contains(live["later"].LastError, "come back later") {
		t.Errorf("later: last error %q", live["later"].LastError)
	}
	dead := deadLetters(t, s, "work")
	if m := dead["permanent"]; m.ReceiveCount != 1 || !strings.Contains(m.LastError, "malformed") {
		t.Errorf("permanent: %+v, want dead-lettered at the first receive with its error", m)
	}
	if m := dead["always"]; m.ReceiveCount != 3 || !strings.Contains(m.LastError, "still down") {
		t.Errorf("always: %+v, want dead-lettered on the final (3rd) receive", m)
	}
	mu.Lock()
	defer mu.Unlock()
	want := map[string]int{"ok": 1, "permanent": 1, "flaky": 2, "always": 3, "panic": 1, "later": 1}
	for b, n := range want {
		if calls[b] != n {
			t.Errorf("calls[%s] = %d, want %d (all: %v)", b, calls[b], n, calls)
		}
	}
	if !strings.Contains(logs.String(), `"stack"`) {
		t.Error("the panic's stack was not logged")
	}
}

// A step's effects are committed in the transaction that settles its
// message: when its fact is visible, the settlement is too.
func TestWorkerAppliesEffectsWithSettlement(t *testing.T) {
	for _, tc := range []struct {
		name  string
		err   error
		check func(t *testing.T, s *Store)
	}{
		{"ack", nil, func(t *testing.T, s *Store) {
			if n := len(messages(t, s, "work")) + len(deadLetters(t, s, "work")); n != 0 {
				t.Errorf("%d messages left, want the message acked", n)
			}
		}},
		{"dead-letter", pipeline.PermanentError("handle", errors.New("malformed")), func(t *testing.T, s *Store) {
			if d := deadLetters(t, s, "work"); len(d) != 1 || len(messages(t, s, "work")) != 0 {
				t.Errorf("dead letters %+v, want the message", d)
			}
		}},
		{"retry", errors.New("try again"), func(t *testing.T, s *Store) {
			m := messages(t, s, "work")["m"]
			if m.LastError != "try again" || m.VisibleAt.Before(time.Now().Add(50*time.Minute)) {
				t.Errorf("message %+v, want retried in an hour", m)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openTemp(t, nil, Options{})
			send(t, s, "work", "m")
			ev := testEvent(facts.TypeRequestAccepted, time.Now(), "d-"+tc.name, "acme/api")
			h := func(ctx context.Context, m pipeline.Message) pipeline.Step {
				return pipeline.Step{Err: tc.err, Effects: pipeline.Effects{
					Facts:   []facts.Event{ev},
					Enqueue: []pipeline.Outgoing{{Queue: "next", DedupID: "n1", Body: []byte("next")}},
				}}
			}
			o := workerOpts(&syncBuffer{})
			o.RetryDelay = func(int, error) time.Duration { return time.Hour }
			runUntil(t, s, "work", h, o, "the step's fact", func() bool { return countEvents(t, s, ev.ID) == 1 })
			if m := messages(t, s, "next"); len(m) != 1 {
				t.Errorf("next queue: %+v, want the step's message", m)
			}
			tc.check(t, s)
		})
	}
}

// Graceful shutdown: a handler in flight finishes and its message is
// acked before RunWorker returns; a message enqueued after shutdown began
// is never received.
func TestWorkerGracefulShutdown(t *testing.T) {
	s := openTemp(t, nil, Options{})
	send(t, s, "work", "slow")
	started, release := make(chan struct{}), make(chan struct{})
	var finished atomic.Bool
	var handled sync.Map
	h := func(ctx context.Context, m pipeline.Message) pipeline.Step {
		handled.Store(string(m.Body), true)
		if string(m.Body) == "slow" {
			close(started)
			<-release
			if ctx.Err() != nil {
				return pipeline.Step{Err: ctx.Err()} // the handler's context outlives the worker's
			}
			finished.Store(true)
		}
		return pipeline.Step{}
	}
	o := workerOpts(&syncBuffer{})
	o.Concurrency = 1
	cancel, wait := goWorker(t, s, "work", h, o)
	<-started
	cancel()
	send(t, s, "work", "late") // after shutdown began: never received
	close(release)
	wait()
	if !finished.Load() {
		t.Fatal("RunWorker returned before the in-flight handler finished")
	}
	live := messages(t, s, "work")
	if _, ok := live["slow"]; ok {
		t.Errorf("the in-flight message was not acked: %+v", live["slow"])
	}
	if _, ok := handled.Load("late"); ok {
		t.Error("a message enqueued after shutdown began was handled")
	}
	if m, ok := live["late"]; !ok || m.VisibleAt.After(time.Now()) {
		t.Errorf("late: %+v, want it pending and visible", m)
	}
}

// Messages received while the worker shuts down (not started) are given
// back: visible again at once, not handled, not dead-lettered.
func TestWorkerGivesBackUnstartedMessages(t *testing.T) {
	s := openTemp(t, nil, Options{})
	send(t, s, "work", "a", "b")
	inReceive, unblock := make(chan struct{}), make(chan struct{})
	var batches atomic.Int32
	s.w.hook = func(int) error {
		if batches.Add(1) == 1 { // the worker's first receive
			close(inReceive)
			<-unblock
		}
		return nil
	}
	var called atomic.Int32
	h := func(context.Context, pipeline.Message) pipeline.Step { called.Add(1); return pipeline.Step{} }
	cancel, wait := goWorker(t, s, "work", h, workerOpts(&syncBuffer{}))
	<-inReceive
	cancel() // the receive commits only after the worker's context ended
	close(unblock)
	wait()
	if n := called.Load(); n != 0 {
		t.Fatalf("%d handlers ran during shutdown", n)
	}
	live := messages(t, s, "work")
	for _, b := range []string{"a", "b"} {
		m, ok := live[b]
		if !ok || m.ReceiveCount != 1 || m.VisibleAt.After(time.Now()) {
			t.Errorf("%s: %+v (present %v), want received once and visible again", b, m, ok)
		}
	}
	if d := deadLetters(t, s, "work"); len(d) != 0 {
		t.Errorf("dead letters %+v", d)
	}
}

// A handler that outlives the drain timeout is cancelled and its message
// is visible again at once (not dead-lettered, not delayed by RetryDelay).
func TestWorkerDrainTimeoutGivesMessagesBack(t *testing.T) {
	s := openTemp(t, nil, Options{})
	send(t, s, "work", "stuck")
	started := make(chan struct{})
	h := func(ctx context.Context, m pipeline.Message) pipeline.Step {
		close(started)
		<-ctx.Done()
		return pipeline.Step{Err: ctx.Err()}
	}
	o := workerOpts(&syncBuffer{})
	o.DrainTimeout = 20 * time.Millisecond
	o.RetryDelay = func(int, error) time.Duration { return time.Hour }
	stop := startWorker(t, s, "work", h, o)
	<-started
	stop()
	m, ok := messages(t, s, "work")["stuck"]
	if !ok || m.ReceiveCount != 1 || m.VisibleAt.After(time.Now()) || !strings.Contains(m.LastError, "context canceled") {
		t.Fatalf("stuck: %+v (present %v), want visible again now with the cancellation as last error", m, ok)
	}
	if d := deadLetters(t, s, "work"); len(d) != 0 {
		t.Errorf("dead letters %+v", d)
	}
}

// A message received more than MaxReceives times without being settled
// (handlers that crashed the process) is dead-lettered without running
// the handler again.
func TestWorkerDeadLettersOverReceivedMessages(t *testing.T) {
	c := newClock()
	s := openTemp(t, c, Options{MaxReceives: 3})
	send(t, s, "work", "poison")
	for range 3 { // three receives whose handlers "crashed"
		if ms, err := s.Queue("work").Receive(ctx, 1, time.Second); err != nil || len(ms) != 1 {
			t.Fatalf("receive: %v %v", ms, err)
		}
		c.Add(2 * time.Second)
	}
	var called atomic.Int32
	h := func(context.Context, pipeline.Message) pipeline.Step { called.Add(1); return pipeline.Step{} }
	runUntil(t, s, "work", h, workerOpts(&syncBuffer{}), "the message dead-lettered", func() bool {
		return len(deadLetters(t, s, "work")) == 1
	})
	if n := called.Load(); n != 0 {
		t.Fatalf("the handler ran %d times on an over-received message", n)
	}
	if m := deadLetters(t, s, "work")["poison"]; m.ReceiveCount != 3 || m.LastError == "" {
		t.Errorf("dead letter %+v, want 3 receives and a reason", m)
	}
}

// Never more than Concurrency handlers at once, and that many do run at
// once (the first Concurrency handlers wait for each other).
func TestWorkerRespectsConcurrency(t *testing.T) {
	const limit = 3
	s := openTemp(t, nil, Options{})
	for i := range 20 {
		send(t, s, "work", fmt.Sprint("m", i))
	}
	var cur, peak, done atomic.Int32
	full := make(chan struct{})
	var fullOnce sync.Once
	h := func(ctx context.Context, _ pipeline.Message) pipeline.Step {
		n := cur.Add(1)
		defer cur.Add(-1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		if n == limit {
			fullOnce.Do(func() { close(full) })
		}
		select {
		case <-full:
		case <-ctx.Done():
			return pipeline.Step{Err: ctx.Err()}
		}
		done.Add(1)
		return pipeline.Step{}
	}
	o := workerOpts(&syncBuffer{})
	o.Concurrency = limit
	runUntil(t, s, "work", h, o, "every message handled", func() bool {
		return done.Load() == 20 && len(messages(t, s, "work")) == 0
	})
	if p := peak.Load(); p != limit {
		t.Errorf("peak concurrency %d, want %d", p, limit)
	}
}

// Every line the worker logs about a message carries the delivery's
// correlation_id (from the indexed attribute or the body).
func TestWorkerLogsCarryCorrelationID(t *testing.T) {
	s := openTemp(t, nil, Options{MaxReceives: 3})
	send(t, s, "work", `{"delivery_id":"d-42","n":1}`, `{"delivery_id":"d-43","n":2}`)
	if _, _, err := s.Queue("work").Send(ctx, NewMessage{Body: []byte("not json"), DeliveryID: "d-44"}); err != nil {
		t.Fatal(err)
	}
	h := func(ctx context.Context, m pipeline.Message) pipeline.Step {
		if strings.Contains(string(m.Body), "d-43") {
			return pipeline.Step{Err: errors.New("try again")}
		}
		return pipeline.Step{Err: pipeline.PermanentError("handle", errors.New("malformed"))}
	}
	logs := &syncBuffer{}
	runUntil(t, s, "work", h, workerOpts(logs), "all dead-lettered", func() bool { return len(deadLetters(t, s, "work")) == 3 })
	lines := 0
	seen := map[string]bool{}
	for _, l := range logs.Lines(t) {
		if l["message_id"] == nil {
			continue // worker-level lines are not about a delivery
		}
		lines++
		id, _ := l["correlation_id"].(string)
		seen[id] = true
		if id != "d-42" && id != "d-43" && id != "d-44" {
			t.Errorf("log line about a message without its correlation_id: %v", l)
		}
	}
	// d-42 and d-44: a dead-letter line each; d-43: two retries and a
	// dead-letter.
	if lines < 5 || len(seen) != 3 {
		t.Errorf("%d message log lines (ids %v), want at least 5 for 3 ids:\n%s", lines, seen, logs.String())
	}
}

// A handler's context ends no later than its message becomes visible
// again: the deadline counts from the receive, not from the handler's
// start.
func TestWorkerHandlerDeadlineWithinVisibility(t *testing.T) {
	s := openTemp(t, nil, Options{})
	send(t, s, "work", "a")
	type seen struct {
		deadline, visibleAt time.Time
		ok                  bool
	}
	got := make(chan seen, 1)
	h := func(ctx context.Context, m pipeline.Message) pipeline.Step {
		var v seen
		v.deadline, v.ok = ctx.Deadline()
		var vis int64
		if err := s.db.QueryRow("SELECT visible_at FROM queue_messages WHERE id = ?", m.ID).Scan(&vis); err != nil {
			return pipeline.Step{Err: err}
		}
		v.visibleAt = fromNS(vis)
		select {
		case got <- v:
		default:
		}
		return pipeline.Step{}
	}
	o := workerOpts(&syncBuffer{})
	o.Visibility = 30 * time.Second
	runUntil(t, s, "work", h, o, "the message handled", func() bool { return len(got) == 1 })
	v := <-got
	if !v.ok {
		t.Fatal("the handler context has no deadline")
	}
	if v.deadline.After(v.visibleAt) {
		t.Errorf("handler deadline %v is after the message becomes visible again (%v)", v.deadline, v.visibleAt)
	}
	if v.deadline.Before(v.visibleAt.Add(-time.Minute)) {
		t.Errorf("handler deadline %v far before the visibility timeout %v", v.deadline, v.visibleAt)
	}
}

func TestRunWorkerRequiresHandler(t *testing.T) {
	s := openTemp(t, nil, Options{})
	if s.RunWorker(t.Context(), "work", nil, WorkerOptions{}) == nil {
		t.Fatal("no error without a handler")
	}
}

// An enqueue committed in this process signals the queue's Wake channel by
// the time the call returns; a dropped duplicate or a delayed retry does
// not.
func TestEnqueueWakesConsumers(t *testing.T) {
	for _, tc := range []struct {
		name string
		do   func(t *testing.T, s *Store)
		want bool
	}{
		{"send", func(t *testing.T, s *Store) {
			if _, _, err := s.Queue("q").Send(ctx, NewMessage{Body: []byte("x")}); err != nil {
				t.Fatal(err)
			}
		}, true},
		{"enqueue", func(t *testing.T, s *Store) {
			if err := s.Queue("q").Enqueue(ctx, "", []byte("x")); err != nil {
				t.Fatal(err)
			}
		}, true},
		{"apply step", func(t *testing.T, s *Store) {
			if err := s.ApplyStep(ctx, pipeline.Effects{Enqueue: []pipeline.Outgoing{{Queue: "q", Body: []byte("x")}}}, nil); err != nil {
				t.Fatal(err)
			}
		}, true},
		{"apply step on another queue", func(t *testing.T, s *Store) {
			if err := s.Apply(ctx, pipeline.Effects{Enqueue: []pipeline.Outgoing{{Queue: "other", Body: []byte("x")}}}); err != nil {
				t.Fatal(err)
			}
		}, false},
		{"duplicate", func(t *testing.T, s *Store) {
			if _, dup, err := s.Queue("q").Send(ctx, NewMessage{DedupID: "dup", Body: []byte("x")}); err != nil || !dup {
				t.Fatalf("second send: dup %v, %v", dup, err)
			}
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openTemp(t, nil, Options{})
			if tc.name == "duplicate" {
				// The first copy, before the consumer takes its channel.
				if err := s.Queue("q").Enqueue(ctx, "dup", []byte("x")); err != nil {
					t.Fatal(err)
				}
			}
			wake := s.Queue("q").Wake()
			drain(wake)
			tc.do(t, s)
			select {
			case <-wake:
				if !tc.want {
					t.Error("woken")
				}
			default:
				if tc.want {
					t.Error("not woken when the call returned")
				}
			}
		})
	}
}

// drain consumes a wake-up that is already there (a closed channel) and
// returns at once otherwise.
func drain(c <-chan struct{}) {
	select {
	case <-c:
	default:
	}
}

// An idle worker handles a message enqueued after it went idle without
// waiting for IdleCheck (an hour): the enqueue wakes it.
func TestWorkerWakesOnEnqueue(t *testing.T) {
	s := openTemp(t, nil, Options{})
	handled := make(chan string, 2)
	h := func(_ context.Context, m pipeline.Message) pipeline.Step {
		handled <- string(m.Body)
		return pipeline.Step{}
	}
	startWorker(t, s, "work", h, workerOpts(&syncBuffer{}))
	// The worker runs (it handled a first message) before the send.
	send(t, s, "work", "first")
	if b := <-handled; b != "first" {
		t.Fatalf("handled %q", b)
	}
	send(t, s, "work", "hello")
	select {
	case b := <-handled:
		if b != "hello" {
			t.Fatalf("handled %q", b)
		}
	case <-time.After(20 * time.Second): // hang guard; IdleCheck is an hour
		t.Fatal("the enqueue did not wake the idle worker")
	}
}

// A delayed retry is received when it is due by the store's clock: the
// idle worker waits for NextVisible, not IdleCheck (an hour).
func TestWorkerPicksUpDelayedRetryWhenDue(t *testing.T) {
	c := newClock()
	s := openTemp(t, c, Options{})
	send(t, s, "work", "m")
	const delay = 20 * time.Millisecond
	var calls atomic.Int32
	h := func(context.Context, pipeline.Message) pipeline.Step {
		if calls.Add(1) == 1 {
			return pipeline.Step{Err: errors.New("not yet")}
		}
		return pipeline.Step{}
	}
	o := workerOpts(&syncBuffer{})
	// One at a time: the worker goes idle only after the retry committed
	// (see TestWorkerNoticesRetrySettledWhileIdle for the other case).
	o.Concurrency = 1
	o.RetryDelay = func(int, error) time.Duration { return delay }
	// A sentinel that becomes visible just after the retry (and never, as
	// the clock stops there): when the clock moves between the worker's
	// empty receive and its NextVisible, NextVisible still has something
	// to wait for (see the report: a message that becomes due in that gap
	// is otherwise missed until IdleCheck).
	if _, _, err := s.Queue("work").Send(ctx, NewMessage{Body: []byte("sentinel"), Delay: delay + time.Nanosecond}); err != nil {
		t.Fatal(err)
	}
	// No stale wake-up from the sends: only NextVisible can bring the
	// worker back before IdleCheck (an hour).
	drain(s.Queue("work").Wake())
	startWorker(t, s, "work", h, o)
	waitFor(t, "the first attempt retried", func() bool { return messages(t, s, "work")["m"].LastError == "not yet" })
	m := messages(t, s, "work")["m"]
	if !m.VisibleAt.Equal(c.Now().Add(delay)) {
		t.Errorf("retry visible at %v, want now+%v (%v)", m.VisibleAt, delay, c.Now().Add(delay))
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("%d calls before the retry was due by the store's clock", n)
	}
	c.Add(delay)
	waitFor(t, "the retry handled", func() bool {
		_, left := messages(t, s, "work")["m"]
		return calls.Load() == 2 && !left
	})
}

// After one wake-up an idle worker goes back to sleep: once the message
// is handled and acked, nothing has signalled the queue's wake-up channel
// again (a worker that re-signalled its own channel, as an earlier version
// did, would spin on an empty queue), and the handler ran exactly once.
func TestIdleWorkerDoesNotSpinAfterWakeUp(t *testing.T) {
	s := openTemp(t, nil, Options{})
	var handled atomic.Int32
	h := func(context.Context, pipeline.Message) pipeline.Step { handled.Add(1); return pipeline.Step{} }
	startWorker(t, s, "work", h, workerOpts(&syncBuffer{}))
	send(t, s, "work", "hello")
	waitFor(t, "the message handled and acked", func() bool { return handled.Load() == 1 && len(messages(t, s, "work")) == 0 })
	select {
	case <-s.Queue("work").Wake():
		t.Error("the wake-up channel is signalled with nothing enqueued: an idle worker would spin")
	default:
	}
	if n := handled.Load(); n != 1 {
		t.Errorf("handled %d times, want 1", n)
	}
}

// A retry with a delay settled while the worker already sleeps (another
// slot found the queue empty) is received when it is due, not at the next
// IdleCheck.
func TestWorkerNoticesRetrySettledWhileIdle(t *testing.T) {
	c := newClock()
	s := openTemp(t, c, Options{})
	send(t, s, "work", "m")
	drain(s.Queue("work").Wake())
	var calls atomic.Int32
	const delay = 20 * time.Millisecond
	h := func(ctx context.Context, _ pipeline.Message) pipeline.Step {
		if calls.Add(1) == 1 {
			return pipeline.Step{Err: errors.New("not yet")}
		}
		return pipeline.Step{}
	}
	o := workerOpts(&syncBuffer{})
	o.RetryDelay = func(int, error) time.Duration { return delay }
	startWorker(t, s, "work", h, o)
	waitFor(t, "the first attempt retried", func() bool { return messages(t, s, "work")["m"].LastError == "not yet" })
	c.Add(delay)
	waitFor(t, "the retry handled", func() bool { return calls.Load() == 2 })
}

// NextVisible counts a message that is visible already (it became due
// after the worker's empty receive), so an idle worker receives it at once
// instead of at the next IdleCheck.
func TestNextVisibleCountsVisibleMessages(t *testing.T) {
	c := newClock()
	s := openTemp(t, c, Options{})
	q := s.Queue("work")
	if next, err := q.NextVisible(ctx); err != nil || !next.IsZero() {
		t.Fatalf("empty queue: %v %v", next, err)
	}
	if _, _, err := q.Send(ctx, NewMessage{Body: []byte("m"), Delay: time.Minute}); err != nil {
		t.Fatal(err)
	}
	if next, _ := q.NextVisible(ctx); !next.Equal(c.Now().Add(time.Minute)) {
		t.Fatalf("delayed: %v, want %v", next, c.Now().Add(time.Minute))
	}
	c.Add(2 * time.Minute) // due now, not received yet
	if next, _ := q.NextVisible(ctx); next.After(c.Now()) {
		t.Fatalf("a visible message: %v is after now (%v)", next, c.Now())
	}
}
