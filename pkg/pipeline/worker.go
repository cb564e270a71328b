package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"
)

// Message is one received queue message.
type Message struct {
	ID           string // the queue's message id (for logs)
	Handle       string // receipt handle for Ack, Retry and DeadLetter
	Body         []byte
	ReceiveCount int // 1 on the first receive
	// MaxReceives is the queue's dead-letter threshold; RunWorker fills it
	// from WorkerOptions when the consumer leaves it 0.
	MaxReceives int
}

// Delivery returns the receive information of m for a stage handler.
func (m Message) Delivery() Delivery {
	return Delivery{ReceiveCount: m.ReceiveCount, MaxReceives: m.MaxReceives}
}

// Consumer is the receiving side of a queue with a visibility timeout, a
// receive count and a dead-letter queue (SQLite tables in serve; RunWorker
// is not used with SQS, where Lambda receives).
type Consumer interface {
	// Receive returns up to max visible messages, hides each for
	// visibility and increments its receive count. It may wait briefly
	// (long polling) but returns when ctx is done; no message and no error
	// means the queue is empty.
	Receive(ctx context.Context, max int, visibility time.Duration) ([]Message, error)
	// Ack deletes a handled message.
	Ack(ctx context.Context, handle string) error
	// Retry makes the message visible again after delay (0: now) and keeps
	// lastErr as its last error (nil when the worker only gives the message
	// back at shutdown).
	Retry(ctx context.Context, handle string, delay time.Duration, lastErr error) error
	// DeadLetter moves the message to the dead-letter queue with lastErr,
	// from where replay-dlq can move it back.
	DeadLetter(ctx context.Context, handle string, lastErr error) error
}

// WorkerOptions tune RunWorker. Zero values take the defaults shown.
type WorkerOptions struct {
	Name        string        // queue name for logs
	Concurrency int           // messages handled at once; 1
	BatchSize   int           // most messages per Receive; 10
	Visibility  time.Duration // visibility timeout per receive; 30s (QUEUE_VISIBILITY_TIMEOUT)
	MaxReceives int           // receives before dead-lettering; 5 (QUEUE_MAX_RECEIVES)
	// HandlerTimeout bounds one handler call, counted from the receive of
	// its message (so with the default the handler's context ends before
	// the message becomes visible again); Visibility.
	HandlerTimeout time.Duration
	// DrainTimeout is how long in-flight handlers may run after ctx is
	// done before their context is cancelled; 10s.
	DrainTimeout time.Duration
	// PollMin and PollMax bound the wait after an empty or failed receive;
	// it doubles from PollMin up to PollMax. 100ms and 2s.
	PollMin, PollMax time.Duration
	// RetryDelay is the delay before a failed message is visible again;
	// by default 10s·2^(receive-1) capped at 5m, or the error's
	// RetryAfterOf when longer (capped at 15m).
	RetryDelay func(m Message, err error) time.Duration
	Logger     *slog.Logger // slog.Default() when nil
}

func (o WorkerOptions) withDefaults() WorkerOptions {
	if o.Concurrency <= 0 {
		o.Concurrency = 1
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 10
	}
	if o.Visibility <= 0 {
		o.Visibility = 30 * time.Second
	}
	if o.MaxReceives <= 0 {
		o.MaxReceives = 5
	}
	if o.HandlerTimeout <= 0 {
		o.HandlerTimeout = o.Visibility
	}
	if o.DrainTimeout <= 0 {
		o.DrainTimeout = 10 * time.Second
	}
	if o.PollMin <= 0 {
		o.PollMin = 100 * time.Millisecond
	}
	if o.PollMax < o.PollMin {
		o.PollMax = max(2*time.Second, o.PollMin)
	}
	if o.RetryDelay == nil {
		o.RetryDelay = DefaultRetryDelay
	}
	o.Logger = orDefault(o.Logger).With("queue", o.Name)
	return o
}

// DefaultRetryDelay is the default WorkerOptions.RetryDelay.
func DefaultRetryDelay(m Message, err error) time.Duration {
	d := 10 * time.Second
	for i := 1; i < m.ReceiveCount && d < 5*time.Minute; i++ {
		d *= 2
	}
	d = min(d, 5*time.Minute)
	if ra := min(RetryAfterOf(err), 15*time.Minute); ra > d {
		d = ra
	}
	return d
}

// settleTimeout bounds Ack, Retry and DeadLetter calls, which run even
// after the worker's context is done.
const settleTimeout = 10 * time.Second

// RunWorker receives messages from q and calls handle for each until ctx is
// done, then stops receiving, lets in-flight handlers finish (for at most
// DrainTimeout, then cancels them) and returns nil. For each message:
//
//   - handle returns nil: Ack;
//   - handle returns a permanent error (IsPermanent), or fails on the
//     final receive: DeadLetter with the error;
//   - another error, or a panic (recovered and logged with its stack):
//     Retry after RetryDelay;
//   - a handler interrupted by shutdown, and messages received but not
//     started: Retry now, so they are visible again at once;
//   - a message received more than MaxReceives times (handlers that
//     crashed the process): DeadLetter without handling.
//
// If the process dies instead, unacknowledged messages become visible
// again when their visibility timeout ends.
func RunWorker(ctx context.Context, q Consumer, handle func(context.Context, Message) error, opts WorkerOptions) error {
	if q == nil || handle == nil {
		return errors.New("run worker: consumer and handler are required")
	}
	o := opts.withDefaults()
	log := o.Logger
	// Handlers and settle calls outlive ctx (graceful drain); hcancel ends
	// them when the drain times out.
	hctx, hcancel := context.WithCancel(context.WithoutCancel(ctx))
	defer hcancel()

	slots := make(chan struct{}, o.Concurrency)
	var wg sync.WaitGroup
	wait := time.Duration(0)
	sleep := func() bool {
		if wait == 0 {
			wait = o.PollMin
		} else {
			wait = min(2*wait, o.PollMax)
		}
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
			return true
		}
	}

loop:
	for ctx.Err() == nil {
		// Take one slot (blocking), then as many free ones as there are.
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			break loop
		}
		n := 1
		for n < o.BatchSize {
			select {
			case slots <- struct{}{}:
				n++
				continue
			default:
			}
			break
		}
		// The handlers' deadline counts from before the receive, so that a
		// handler's context ends no later than its message becomes visible
		// to other workers again.
		received := time.Now()
		msgs, err := q.Receive(ctx, n, o.Visibility)
		if len(msgs) > n { // a misbehaving consumer: never run more than n
			for _, m := range msgs[n:] {
				o.giveBack(hctx, q, m, nil)
			}
			msgs = msgs[:n]
		}
		for range n - len(msgs) {
			<-slots
		}
		if ctx.Err() != nil {
			for _, m := range msgs {
				o.giveBack(hctx, q, m, nil)
				<-slots
			}
			break
		}
		if err != nil {
			log.Error("receive failed", "error", err)
			if !sleep() {
				break
			}
			continue
		}
		if len(msgs) == 0 {
			if !sleep() {
				break
			}
			continue
		}
		wait = 0
		for _, m := range msgs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-slots }()
				o.process(hctx, q, handle, m, received)
			}()
		}
	}

	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	t := time.NewTimer(o.DrainTimeout)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		log.Warn("drain timeout: cancelling in-flight handlers")
		hcancel()
		<-done
	}
	return nil
}

// process handles one message and settles it.
func (o WorkerOptions) process(hctx context.Context, q Consumer, handle func(context.Context, Message) error, m Message, received time.Time) {
	if m.MaxReceives == 0 {
		m.MaxReceives = o.MaxReceives
	}
	log := o.Logger.With("correlation_id", deliveryIDOf(m.Body), "message_id", m.ID, "receive", m.ReceiveCount)
	if m.ReceiveCount > m.MaxReceives {
		err := fmt.Errorf("received %d times (limit %d) without being settled", m.ReceiveCount, m.MaxReceives)
		log.Error("dead-lettering message", "error", err)
		o.settle(hctx, log, "dead-letter", func(ctx context.Context) error { return q.DeadLetter(ctx, m.Handle, err) })
		return
	}

	err := call(hctx, received.Add(o.HandlerTimeout), handle, m, log)
	switch {
	case err == nil:
		o.settle(hctx, log, "ack", func(ctx context.Context) error { return q.Ack(ctx, m.Handle) })
	case hctx.Err() != nil:
		// Interrupted by the end of the drain: not the message's fault.
		o.giveBack(hctx, q, m, err)
	case IsPermanent(err) || m.ReceiveCount >= m.MaxReceives:
		log.Error("dead-lettering message", "error", err, "permanent", IsPermanent(err))
		o.settle(hctx, log, "dead-letter", func(ctx context.Context) error { return q.DeadLetter(ctx, m.Handle, err) })
	default:
		d := o.RetryDelay(m, err)
		log.Warn("message failed; retrying", "error", err, "delay", d.String())
		o.settle(hctx, log, "retry", func(ctx context.Context) error { return q.Retry(ctx, m.Handle, d, err) })
	}
}

// giveBack makes m visible again now (shutdown).
func (o WorkerOptions) giveBack(hctx context.Context, q Consumer, m Message, cause error) {
	log := o.Logger.With("correlation_id", deliveryIDOf(m.Body), "message_id", m.ID)
	o.settle(hctx, log, "give back", func(ctx context.Context) error { return q.Retry(ctx, m.Handle, 0, cause) })
}

func (o WorkerOptions) settle(hctx context.Context, log *slog.Logger, what string, f func(context.Context) error) {
	// Settling must work even when hctx was cancelled at the end of the
	// drain, or the message would wait for its visibility timeout.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(hctx), settleTimeout)
	defer cancel()
	if err := f(ctx); err != nil {
		log.Error(what+" failed; the message reappears after its visibility timeout", "error", err)
	}
}

// call runs handle with a deadline and turns a panic into an error.
func call(hctx context.Context, deadline time.Time, handle func(context.Context, Message) error, m Message, log *slog.Logger) (err error) {
	ctx, cancel := context.WithDeadline(hctx, deadline)
	defer cancel()
	defer func() {
		if r := recover(); r != nil {
			log.Error("handler panicked", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			err = fmt.Errorf("handler panic: %v", r)
		}
	}()
	return handle(ctx, m)
}

// HandleMessage adapts HandleRequest to RunWorker.
func (p *Planner) HandleMessage(ctx context.Context, m Message) error {
	return p.HandleRequest(ctx, m.Body, m.Delivery())
}

// HandleMessage adapts HandleWorkItem to RunWorker.
func (s *Dispatcher) HandleMessage(ctx context.Context, m Message) error {
	return s.HandleWorkItem(ctx, m.Body, m.Delivery())
}

// deliveryIDOf reads the delivery id of a queue message (Request and
// WorkItem both carry it as delivery_id), so that every log line about the
// message has the delivery's correlation_id; "" when the body has none.
func deliveryIDOf(body []byte) string {
	var m struct {
		DeliveryID string `json:"delivery_id"`
	}
	if json.Unmarshal(body, &m) != nil {
		return ""
	}
	return m.DeliveryID
}
