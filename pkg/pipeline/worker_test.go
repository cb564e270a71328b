package pipeline_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dispatcher-dev/dispatcher/pkg/pipeline"
	"github.com/dispatcher-dev/dispatcher/pkg/pipeline/pipelinetest"
)

func fastOpts(logs *syncBuffer) pipeline.WorkerOptions {
	return pipeline.WorkerOptions{
		Name: "test", Concurrency: 2, MaxReceives: 3, Visibility: time.Minute,
		PollMin: time.Millisecond, PollMax: 5 * time.Millisecond, DrainTimeout: 2 * time.Second,
		RetryDelay: func(pipeline.Message, error) time.Duration { return 0 },
		Logger:     newLogger(logs),
	}
}

// runUntil runs the worker until cond holds (or 5s pass), then stops it
// and waits for it to return.
func runUntil(t *testing.T, q pipeline.Consumer, h func(context.Context, pipeline.Message) error, o pipeline.WorkerOptions, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- pipeline.RunWorker(ctx, q, h, o) }()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			cancel()
			<-done
			t.Fatal("condition not reached in 5s")
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("RunWorker did not return after cancel")
	}
}

func enqueue(t *testing.T, q *pipelinetest.Queue, bodies ...string) {
	t.Helper()
	for _, b := range bodies {
		if err := q.Enqueue(t.Context(), b, []byte(b)); err != nil {
			t.Fatal(err)
		}
	}
}

func TestWorkerSettlesEachOutcome(t *testing.T) {
	q := &pipelinetest.Queue{}
	enqueue(t, q, "ok", "permanent", "flaky", "always", "panic")
	var mu sync.Mutex
	calls := map[string]int{}
	h := func(ctx context.Context, m pipeline.Message) error {
		mu.Lock()
		calls[string(m.Body)]++
		n := calls[string(m.Body)]
		mu.Unlock()
		if m.MaxReceives != 3 || m.ReceiveCount != n {
			return pipeline.PermanentError("check", errors.New("bad receive info"))
		}
		switch string(m.Body) {
		case "permanent":
			return pipeline.PermanentError("handle", errors.New("malformed"))
		case "flaky":
			if n < 2 {
				return errors.New("try again")
			}
		case "always":
			return errors.New("still down")
		case "panic":
			panic("boom")
		}
		return nil
	}
	logs := &syncBuffer{}
	runUntil(t, q, h, fastOpts(logs), func() bool { return len(q.Pending()) == 0 })

	acked := map[string]bool{}
	for _, m := range q.Acked() {
		acked[string(m.Body)] = true
	}
	if !acked["ok"] || !acked["flaky"] || len(acked) != 2 {
		t.Errorf("acked = %v, want ok and flaky", acked)
	}
	dead := map[string]pipelinetest.QueuedMessage{}
	for _, m := range q.Dead() {
		dead[string(m.Body)] = m
	}
	if m := dead["permanent"]; m.ReceiveCount != 1 || !strings.Contains(m.LastErr, "malformed") {
		t.Errorf("permanent: %+v, want dead-lettered at the first receive with its error", m)
	}
	if m := dead["always"]; m.ReceiveCount != 3 || !strings.Contains(m.LastErr, "still down") {
		t.Errorf("always: %+v, want dead-lettered after 3 receives", m)
	}
	if m := dead["panic"]; m.ReceiveCount != 3 || !strings.Contains(m.LastErr, "handler panic: boom") {
		t.Errorf("panic: %+v, want treated as a failure", m)
	}
	mu.Lock()
	defer mu.Unlock()
	if calls["flaky"] != 2 || calls["always"] != 3 || calls["permanent"] != 1 {
		t.Errorf("calls = %v", calls)
	}
	if !strings.Contains(logs.String(), `"stack"`) {
		t.Error("the panic's stack was not logged")
	}
}

// Graceful shutdown: a handler in flight finishes and is acked; messages
// not started stay available.
func TestWorkerGracefulShutdown(t *testing.T) {
	q := &pipelinetest.Queue{}
	enqueue(t, q, "slow")
	started, release := make(chan struct{}), make(chan struct{})
	h := func(ctx context.Context, m pipeline.Message) error {
		close(started)
		<-release
		return ctx.Err() // the handler's context outlives the worker's
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	o := fastOpts(&syncBuffer{})
	go func() { done <- pipeline.RunWorker(ctx, q, h, o) }()
	<-started
	cancel()
	select {
	case <-done:
		t.Fatal("RunWorker returned with a handler in flight")
	case <-time.After(20 * time.Millisecond):
	}
	enqueue(t, q, "late") // arrives after shutdown began: never received
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if a := q.Acked(); len(a) != 1 || string(a[0].Body) != "slow" {
		t.Fatalf("acked = %+v, want the in-flight message", a)
	}
	if p := q.Pending(); len(p) != 1 || p[0].ReceiveCount != 0 {
		t.Fatalf("pending = %+v, want the late message untouched", p)
	}
}

// A handler that outlives the drain timeout is cancelled and its message
// is made visible again at once (not dead-lettered, not delayed).
func TestWorkerDrainTimeoutGivesMessagesBack(t *testing.T) {
	q := &pipelinetest.Queue{}
	enqueue(t, q, "stuck")
	started := make(chan struct{})
	h := func(ctx context.Context, m pipeline.Message) error {
		close(started)
		<-ctx.Done()
		return ctx.Err()
	}
	o := fastOpts(&syncBuffer{})
	o.DrainTimeout = 20 * time.Millisecond
	o.RetryDelay = func(pipeline.Message, error) time.Duration { return time.Hour }
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- pipeline.RunWorker(ctx, q, h, o) }()
	<-started
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	p := q.Pending()
	if len(p) != 1 || len(q.Dead()) != 0 || p[0].VisibleAt.After(time.Now()) {
		t.Fatalf("pending = %+v dead = %d, want the message visible again now", p, len(q.Dead()))
	}
}

// A message that was received more often than allowed without being
// settled (the process died in its handler each time) is dead-lettered
// without running the handler again.
func TestWorkerDeadLettersOverReceivedMessages(t *testing.T) {
	q := &pipelinetest.Queue{}
	enqueue(t, q, "poison")
	for range 3 { // three receives whose handlers "crashed"
		ms, _ := q.Receive(t.Context(), 1, 0)
		if len(ms) != 1 {
			t.Fatal("receive")
		}
	}
	var called atomic.Int32
	h := func(context.Context, pipeline.Message) error { called.Add(1); return nil }
	runUntil(t, q, h, fastOpts(&syncBuffer{}), func() bool { return len(q.Dead()) == 1 })
	if called.Load() != 0 {
		t.Fatal("the handler ran on an over-received message")
	}
}

// Empty and failed receives back off instead of spinning.
type countingConsumer struct {
	*pipelinetest.Queue
	receives atomic.Int32
	fail     bool
}

func (c *countingConsumer) Receive(ctx context.Context, max int, vis time.Duration) ([]pipeline.Message, error) {
	c.receives.Add(1)
	if c.fail {
		return nil, errors.New("store locked")
	}
	return c.Queue.Receive(ctx, max, vis)
}

func TestWorkerBacksOffWhenIdle(t *testing.T) {
	for _, fail := range []bool{false, true} {
		c := &countingConsumer{Queue: &pipelinetest.Queue{}, fail: fail}
		o := fastOpts(&syncBuffer{})
		o.PollMin, o.PollMax = 10*time.Millisecond, 40*time.Millisecond
		start := time.Now()
		runUntil(t, c, func(context.Context, pipeline.Message) error { return nil }, o, func() bool { return time.Since(start) > 200*time.Millisecond })
		// Without backoff this would be many thousands.
		if n := c.receives.Load(); n > 20 || n < 3 {
			t.Errorf("fail=%v: %d receives in 200ms, want a handful", fail, n)
		}
	}
}

func TestWorkerRespectsConcurrency(t *testing.T) {
	q := &pipelinetest.Queue{}
	for i := range 20 {
		enqueue(t, q, string(rune('a'+i)))
	}
	var cur, peak atomic.Int32
	h := func(context.Context, pipeline.Message) error {
		n := cur.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(2 * time.Millisecond)
		cur.Add(-1)
		return nil
	}
	o := fastOpts(&syncBuffer{})
	o.Concurrency = 3
	runUntil(t, q, h, o, func() bool { return len(q.Acked()) == 20 })
	if p := peak.Load(); p > 3 || p < 2 {
		t.Errorf("peak concurrency = %d, want 2..3", p)
	}
}

func TestDefaultRetryDelay(t *testing.T) {
	for _, tc := range []struct {
		receive int
		err     error
		want    time.Duration
	}{
		{1, errors.New("x"), 10 * time.Second},
		{2, errors.New("x"), 20 * time.Second},
		{4, errors.New("x"), 80 * time.Second},
		{20, errors.New("x"), 5 * time.Minute},
		{1, pipeline.RetryLater("claim", 4*time.Minute, pipeline.ErrClaimBusy), 4 * time.Minute},
		{1, pipeline.RetryLater("claim", time.Hour, pipeline.ErrClaimBusy), 15 * time.Minute},
	} {
		if got := pipeline.DefaultRetryDelay(pipeline.Message{ReceiveCount: tc.receive}, tc.err); got != tc.want {
			t.Errorf("receive %d, %v: %v, want %v", tc.receive, tc.err, got, tc.want)
		}
	}
}

func TestRunWorkerRequiresConsumerAndHandler(t *testing.T) {
	if pipeline.RunWorker(t.Context(), nil, nil, pipeline.WorkerOptions{}) == nil {
		t.Fatal("no error")
	}
}

// Every line the worker logs about a message carries the delivery's
// correlation_id, read from the message body.
func TestWorkerLogsCarryCorrelationID(t *testing.T) {
	q := &pipelinetest.Queue{}
	enqueue(t, q, `{"delivery_id":"d-42","n":1}`, `{"delivery_id":"d-43","n":2}`)
	h := func(ctx context.Context, m pipeline.Message) error {
		if strings.Contains(string(m.Body), "d-42") {
			return pipeline.PermanentError("handle", errors.New("malformed"))
		}
		return errors.New("try again")
	}
	logs := &syncBuffer{}
	runUntil(t, q, h, fastOpts(logs), func() bool { return len(q.Dead()) == 2 })
	lines := 0
	for _, l := range logs.Lines(t) {
		if l["message_id"] == nil {
			continue // worker-level lines (start, stop) are not about a delivery
		}
		lines++
		if id, _ := l["correlation_id"].(string); id != "d-42" && id != "d-43" {
			t.Errorf("log line about a message without its correlation_id: %v", l)
		}
	}
	if lines < 4 { // one dead-letter line for d-42; two retries and a dead-letter for d-43
		t.Errorf("%d message log lines, want at least 4:\n%s", lines, logs.String())
	}
}

// stampingConsumer records when each Receive began: the queue hides the
// messages it returns until at least that time plus the visibility.
type stampingConsumer struct {
	*pipelinetest.Queue
	mu     sync.Mutex
	starts []time.Time
}

func (c *stampingConsumer) Receive(ctx context.Context, max int, vis time.Duration) ([]pipeline.Message, error) {
	start := time.Now()
	ms, err := c.Queue.Receive(ctx, max, vis)
	if len(ms) > 0 {
		c.mu.Lock()
		c.starts = append(c.starts, start)
		c.mu.Unlock()
	}
	return ms, err
}

// A handler's context must end no later than its message becomes visible
// again: otherwise another worker receives the message while the first
// handler is still running (and, for the dispatcher, still dispatching).
// The deadline counts from the receive, not from the handler's start.
func TestWorkerHandlerDeadlineWithinVisibility(t *testing.T) {
	c := &stampingConsumer{Queue: &pipelinetest.Queue{}}
	enqueue(t, c.Queue, "a")
	o := fastOpts(&syncBuffer{})
	var mu sync.Mutex
	var deadline time.Time
	var ok bool
	h := func(ctx context.Context, _ pipeline.Message) error {
		mu.Lock()
		defer mu.Unlock()
		deadline, ok = ctx.Deadline()
		return nil
	}
	runUntil(t, c, h, o, func() bool { return len(c.Queue.Acked()) == 1 })
	c.mu.Lock()
	visibleAgain := c.starts[0].Add(o.Visibility)
	c.mu.Unlock()
	if !ok {
		t.Fatal("the handler context has no deadline")
	}
	if deadline.After(visibleAgain) {
		t.Errorf("handler deadline %v is after the message becomes visible again (%v)", deadline, visibleAgain)
	}
}
