package ghapp

import (
	"errors"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// ErrPaced: a content-creating request was not sent because its
// installation's write budget (GITHUB_WRITES_PER_MINUTE) had no room for it
// before the caller's deadline, or within WithMaxWait. Nothing reached
// GitHub; the *Error is transient and its RetryAfter says when there is
// room.
var ErrPaced = errors.New("write budget of the installation spent; not sent")

// Pacer spaces the content-creating requests (dispatches, issues) of each
// installation. The Client asks it while holding the installation's write
// lock, so the requests of one installation reserve their slots in order
// and are sent one at a time.
type Pacer interface {
	// Reserve books the next write of installation at now and returns how
	// long to wait before sending it (0: at once) and a function that gives
	// the slot back when the caller will not send it after all.
	Reserve(installation int64, now time.Time) (wait time.Duration, cancel func())
}

// RatePacer is a Pacer that keeps each installation under a budget of
// writes per window, with golang.org/x/time/rate token buckets: in any
// window of that length at most the budget is sent, a short burst goes at
// once (a few dispatches of one delivery do not wait), and a longer burst
// is spread out. A token bucket of capacity b refilled at r per window lets
// at most b + r through in any window, so r is the budget minus b.
type RatePacer struct {
	perWindow int
	window    time.Duration
	burst     int
	limit     rate.Limit

	mu       sync.Mutex
	limiters map[int64]*rate.Limiter
}

// NewRatePacer returns a pacer allowing perWindow writes per installation
// in any window (GITHUB_WRITES_PER_MINUTE with a one-minute window; tests
// use a short one). perWindow ≤ 0 or window ≤ 0 returns nil: unpaced.
func NewRatePacer(perWindow int, window time.Duration) *RatePacer {
	if perWindow <= 0 || window <= 0 {
		return nil
	}
	burst := min(max(perWindow/8, 1), 10)
	refill := perWindow - burst
	if burst == 1 {
		// One token: the budget itself is the refill (a half-open window
		// then holds at most perWindow writes).
		refill = perWindow
	}
	return &RatePacer{
		perWindow: perWindow,
		window:    window,
		burst:     burst,
		// A millionth slower than exact, so that the limiter's nanosecond
		// rounding can never fit one write too many into a window.
		limit:    rate.Limit(float64(refill) / window.Seconds() * (1 - 1e-6)),
		limiters: map[int64]*rate.Limiter{},
	}
}

// Burst is how many writes of an idle installation go without waiting.
func (p *RatePacer) Burst() int { return p.burst }

// Reserve implements Pacer.
func (p *RatePacer) Reserve(installation int64, now time.Time) (time.Duration, func()) {
	p.mu.Lock()
	lim, ok := p.limiters[installation]
	if !ok {
		lim = rate.NewLimiter(p.limit, p.burst)
		// A new bucket is full as of its first use.
		p.limiters[installation] = lim
	}
	p.mu.Unlock()
	r := lim.ReserveN(now, 1)
	if !r.OK() {
		return 0, func() {}
	}
	return r.DelayFrom(now), func() { r.CancelAt(now) }
}
