package local

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"github.com/dispatcher-dev/dispatcher/pkg/pipeline"
)

// Handler handles one received message and returns its step: the effects
// to apply and the message's fate (pipeline.Step).
type Handler func(ctx context.Context, m pipeline.Message) pipeline.Step

// WorkerOptions tune RunWorker. Zero values take the defaults shown.
type WorkerOptions struct {
	Concurrency int           // messages handled at once; 1
	BatchSize   int           // most messages per receive; 10
	Visibility  time.Duration // visibility timeout per receive; the store's (QUEUE_VISIBILITY_TIMEOUT)
	// HandlerTimeout bounds one handler call, counted from the receive of
	// its message (so with the default the handler's context ends before
	// the message becomes visible again); Visibility.
	HandlerTimeout time.Duration
	// DrainTimeout is how long in-flight handlers may run after ctx is
	// done before their context is cancelled; 10s.
	DrainTimeout time.Duration
	// IdleCheck is how often an idle worker looks for messages that no
	// wake-up announced (enqueued by another process, such as replay-dlq
	// on the same file); 1s. Enqueues in this process wake the worker at
	// once, and a delayed retry or an expiring visibility timeout wakes it
	// when it is due.
	IdleCheck time.Duration
	// RetryDelay is the delay before a failed message is visible again;
	// pipeline.DefaultRetryDelay when nil.
	RetryDelay func(receiveCount int, err error) time.Duration
	// Apply applies each step with its settlement; the store when nil.
	Apply  StepApplier
	Logger *slog.Logger // slog.Default() when nil
}

// StepApplier applies a step's effects, alone (Apply) or together with the
// settlement of its message (ApplyStep). The store implements it.
type StepApplier interface {
	pipeline.Applier
	ApplyStep(ctx context.Context, e pipeline.Effects, settle *Settle) error
}

func (o WorkerOptions) withDefaults(s *Store) WorkerOptions {
	if o.Concurrency <= 0 {
		o.Concurrency = 1
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 10
	}
	if o.Visibility <= 0 {
		o.Visibility = s.opts.VisibilityTimeout
	}
	if o.HandlerTimeout <= 0 {
		o.HandlerTimeout = o.Visibility
	}
	if o.DrainTimeout <= 0 {
		o.DrainTimeout = 10 * time.Second
	}
	if o.IdleCheck <= 0 {
		o.IdleCheck = time.Second
	}
	if o.RetryDelay == nil {
		o.RetryDelay = pipeline.DefaultRetryDelay
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Apply == nil {
		o.Apply = s
	}
	return o
}

// settleTimeout bounds the commit of a step's effects, which runs even
// after the worker's context is done.
const settleTimeout = 10 * time.Second

// RunWorker is the embedded runtime's loop over one queue: it receives
// messages, calls handle for each (up to Concurrency at once) and applies
// each step's effects together with the message's settlement in one
// transaction (Store.ApplyStep), until ctx is done; then it stops
// receiving, lets in-flight handlers finish (for at most DrainTimeout, then
// cancels them) and returns nil. For each message:
//
//   - the step has no error: its effects, and Ack;
//   - a permanent error (pipeline.IsPermanent), or any error on the final
//     receive: its effects, and dead-letter with the error;
//   - another error, or a panic (recovered and logged with its stack): its
//     effects, and retry after RetryDelay;
//   - a handler interrupted by shutdown, and messages received but not
//     started: retry now, so they are visible again at once;
//   - a message received more than the store's MaxReceives times (handlers
//     that crashed the process): dead-letter without handling.
//
// When the queue is empty the worker sleeps until an enqueue in this
// process wakes it, the next delayed message is due, or IdleCheck passes.
// If the process dies, unacknowledged messages become visible again when
// their visibility timeout ends.
func (s *Store) RunWorker(ctx context.Context, queue string, handle Handler, opts WorkerOptions) error {
	if handle == nil {
		return errors.New("run worker: a handler is required")
	}
	o := opts.withDefaults(s)
	w := &worker{s: s, q: s.Queue(queue), handle: handle, o: o, log: o.Logger.With("queue", queue)}
	return w.run(ctx)
}

type worker struct {
	s      *Store
	q      *Queue
	handle Handler
	o      WorkerOptions
	log    *slog.Logger
}

func (w *worker) run(ctx context.Context) error {
	// Handlers and settle calls outlive ctx (graceful drain); hcancel ends
	// them when the drain times out.
	hctx, hcancel := context.WithCancel(context.WithoutCancel(ctx))
	defer hcancel()
	slots := make(chan struct{}, w.o.Concurrency)
	var wg sync.WaitGroup

loop:
	for ctx.Err() == nil {
		// Take one slot (blocking), then as many free ones as there are.
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			break loop
		}
		n := 1
	more:
		for n < w.o.BatchSize {
			select {
			case slots <- struct{}{}:
				n++
			default:
				break more
			}
		}
		// Take the wake-up channel before receiving: an enqueue committed
		// after this point closes it, so an empty receive cannot miss it.
		wake := w.q.Wake()
		// The handlers' deadline counts from before the receive, so that a
		// handler's context ends no later than its message becomes visible
		// to other workers again.
		received := time.Now()
		msgs, err := w.q.Receive(ctx, n, w.o.Visibility)
		for range n - len(msgs) {
			<-slots
		}
		if ctx.Err() != nil {
			for _, m := range msgs {
				w.giveBack(hctx, m, nil)
				<-slots
			}
			break
		}
		if err != nil {
			w.log.Error("receive failed", "error", err)
		}
		if err != nil || len(msgs) == 0 {
			if !w.idle(ctx, wake) {
				break
			}
			continue
		}
		for _, m := range msgs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-slots }()
				w.process(hctx, m, received)
			}()
		}
	}

	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	t := time.NewTimer(w.o.DrainTimeout)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		w.log.Warn("drain timeout: cancelling in-flight handlers")
		hcancel()
		<-done
	}
	return nil
}

// idle waits for a reason to receive again: a wake-up from an enqueue in
// this process, the next delayed message becoming due, IdleCheck, or ctx
// ending (false).
func (w *worker) idle(ctx context.Context, wake <-chan struct{}) bool {
	wait := w.o.IdleCheck
	if next, err := w.q.NextVisible(ctx); err == nil && !next.IsZero() {
		if d := next.Sub(w.s.now()); d < wait {
			// A message visible already (it became due after the receive)
			// is received at once.
			wait = max(d, 0)
		}
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-wake:
		return true
	case <-t.C:
		return true
	}
}

// process handles one message and applies its step with the settlement.
func (w *worker) process(hctx context.Context, m Message, received time.Time) {
	max := w.s.opts.MaxReceives
	pm := pipeline.Message{ID: strconv.FormatInt(m.ID, 10), Handle: m.Receipt, Body: m.Body, ReceiveCount: m.ReceiveCount, MaxReceives: max}
	log := w.log.With("correlation_id", deliveryIDOf(m), "message_id", pm.ID, "receive", m.ReceiveCount)
	if m.ReceiveCount > max {
		err := fmt.Errorf("received %d times (limit %d) without being settled", m.ReceiveCount, max)
		log.Error("dead-lettering message", "error", err)
		w.apply(hctx, log, pipeline.Effects{}, Settle{Receipt: m.Receipt, Action: DeadLetter, LastError: err.Error()})
		return
	}
	step := call(hctx, received.Add(w.o.HandlerTimeout), w.handle, pm, log)
	err := step.Err
	st := Settle{Receipt: m.Receipt}
	switch {
	case err == nil:
		st.Action = Ack
	case hctx.Err() != nil:
		// Interrupted by the end of the drain: not the message's fault.
		st.Action, st.LastError = RetryAfter, err.Error()
	case pipeline.IsPermanent(err) || m.ReceiveCount >= max:
		log.Error("dead-lettering message", "error", err, "permanent", pipeline.IsPermanent(err))
		st.Action, st.LastError = DeadLetter, err.Error()
	default:
		st.Action, st.LastError = RetryAfter, err.Error()
		st.Delay = w.o.RetryDelay(m.ReceiveCount, err)
		log.Warn("message failed; retrying", "error", err, "delay", st.Delay.String())
	}
	w.apply(hctx, log, step.Effects, st)
}

// apply commits a step's effects with its settlement; it runs even after
// the drain ended hctx, or the message would wait for its visibility
// timeout.
func (w *worker) apply(hctx context.Context, log *slog.Logger, e pipeline.Effects, st Settle) {
	st.Queue = w.q.name
	ctx, cancel := context.WithTimeout(context.WithoutCancel(hctx), settleTimeout)
	defer cancel()
	err := w.o.Apply.ApplyStep(ctx, e, &st)
	switch {
	case err == nil:
	case errors.Is(err, ErrStaleReceipt):
		log.Warn("message was received again before it was settled; its effects are applied, the newer receive settles it", "error", err)
	default:
		log.Error("applying the step failed; the message reappears after its visibility timeout", "error", err)
	}
}

// giveBack makes m visible again now (shutdown).
func (w *worker) giveBack(hctx context.Context, m Message, cause error) {
	st := Settle{Receipt: m.Receipt, Action: RetryAfter}
	if cause != nil {
		st.LastError = cause.Error()
	}
	w.apply(hctx, w.log.With("correlation_id", deliveryIDOf(m), "message_id", m.ID), pipeline.Effects{}, st)
}

// call runs handle with a deadline and turns a panic into a failed step.
func call(hctx context.Context, deadline time.Time, handle Handler, m pipeline.Message, log *slog.Logger) (step pipeline.Step) {
	ctx, cancel := context.WithDeadline(hctx, deadline)
	defer cancel()
	defer func() {
		if r := recover(); r != nil {
			log.Error("handler panicked", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			step = pipeline.Step{Err: fmt.Errorf("handler panic: %v", r)}
		}
	}()
	return handle(ctx, m)
}

// deliveryIDOf is the message's delivery id (indexed at enqueue; read from
// the body for older rows), so that every log line about the message has
// the delivery's correlation_id.
func deliveryIDOf(m Message) string {
	if m.DeliveryID != "" {
		return m.DeliveryID
	}
	var v struct {
		DeliveryID string `json:"delivery_id"`
	}
	if json.Unmarshal(m.Body, &v) != nil {
		return ""
	}
	return v.DeliveryID
}
