package ghapp_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/dispatcher-dev/dispatcher/pkg/ghapp"
	"github.com/dispatcher-dev/dispatcher/pkg/ghapp/ghfake"
	"github.com/dispatcher-dev/dispatcher/pkg/pipeline"
)

// maxInWindow is the largest number of dispatches the fake applied in any
// half-open window [t, t+w).
func maxInWindow(ds []ghfake.Dispatch, w time.Duration) int {
	best := 0
	for _, a := range ds {
		n := 0
		for _, b := range ds {
			if !b.At.Before(a.At) && b.At.Before(a.At.Add(w)) {
				n++
			}
		}
		best = max(best, n)
	}
	return best
}

// burst sends n dispatches of acme/deploy from 8 goroutines.
func burst(t *testing.T, c *ghapp.Client, n int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	work := make(chan int, n)
	for i := range n {
		work <- i
	}
	close(work)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				req := deployReq()
				req.Inputs = map[string]string{"sha": fmt.Sprint(i)}
				if _, err := c.Dispatch(context.Background(), req); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestPacingBurst: a burst of 90 dispatches for one installation with a
// budget of 20 per window never has more than 20 in any window, loses
// nothing and waits (with the injected clock) instead of being refused.
// The window is one second of the fake clock, standing for the minute of
// GITHUB_WRITES_PER_MINUTE. Unpaced, the same burst lands in one instant,
// which the window check catches.
func TestPacingBurst(t *testing.T) {
	const n, budget, window = 90, 20, time.Second
	e := setup(t, nil, ghapp.WithPacer(ghapp.NewRatePacer(budget, window)), ghapp.WithAppSlug("dispatcher-test"))
	burst(t, e.c, n)
	ds := e.gh.Dispatches()
	if len(ds) != n {
		t.Fatalf("%d dispatches, want %d", len(ds), n)
	}
	if m := maxInWindow(ds, window); m > budget {
		t.Errorf("%d dispatches in one window, budget %d", m, budget)
	}
	// Nothing is refused: the burst is spread over at least
	// (n-budget)/budget windows instead.
	span := ds[len(ds)-1].At.Sub(ds[0].At)
	if min := time.Duration(n-budget) * window / budget; span < min {
		t.Errorf("burst spread over %s, want at least %s", span, min)
	}
	if v := e.gh.Violations(); len(v) != 0 {
		t.Errorf("violations (concurrent POSTs?): %v", v)
	}

	unpaced := setup(t, nil, ghapp.WithAppSlug("dispatcher-test"))
	burst(t, unpaced.c, n)
	if m := maxInWindow(unpaced.gh.Dispatches(), window); m <= budget {
		t.Errorf("unpaced: %d in one window, want more than %d (the check must be able to fail)", m, budget)
	}
}

// TestPacerWindowProperty: for several budgets and windows, the pacer's
// schedule of a long burst never puts more than the budget in a window.
func TestPacerWindowProperty(t *testing.T) {
	for _, budget := range []int{1, 2, 7, 8, 80, 500} {
		for _, window := range []time.Duration{time.Second, time.Minute} {
			p := ghapp.NewRatePacer(budget, window)
			now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			var at []ghfake.Dispatch
			for range 3*budget + 5 {
				wait, _ := p.Reserve(7, now)
				now = now.Add(wait)
				at = append(at, ghfake.Dispatch{At: now})
			}
			if m := maxInWindow(at, window); m > budget {
				t.Errorf("budget %d per %s: %d in one window", budget, window, m)
			}
			if first, _ := p.Reserve(8, now); first != 0 {
				t.Errorf("budget %d: another installation waits %s", budget, first)
			}
		}
	}
	if ghapp.NewRatePacer(0, time.Minute) != nil {
		t.Error("0 per minute must be unpaced (nil)")
	}
}

// TestPacingWaitTooLong: when the budget has no room within WithMaxWait,
// the dispatch is not sent: a transient ErrPaced whose RetryAfter says
// when there is room; a later call after that wait goes through.
func TestPacingWaitTooLong(t *testing.T) {
	e := setup(t, nil, ghapp.WithPacer(ghapp.NewRatePacer(2, time.Minute)), ghapp.WithMaxWait(time.Second))
	ctx := context.Background()
	if _, err := e.c.Dispatch(ctx, deployReq()); err != nil {
		t.Fatal(err)
	}
	_, err := e.c.Dispatch(ctx, deployReq())
	if !errors.Is(err, ghapp.ErrPaced) || !ghapp.IsTransient(err) || pipeline.IsAmbiguous(err) || pipeline.IsPermanent(err) {
		t.Fatalf("err = %v, want a transient, unambiguous ErrPaced", err)
	}
	wait := pipeline.RetryAfterOf(err)
	if wait < 29*time.Second || wait > 31*time.Second {
		t.Errorf("RetryAfter = %s, want about 30s (2 a minute)", wait)
	}
	if n := len(e.gh.Dispatches()); n != 1 {
		t.Errorf("%d dispatches, want 1", n)
	}
	e.clock.Advance(wait)
	if _, err := e.c.Dispatch(ctx, deployReq()); err != nil {
		t.Fatalf("after the wait: %v", err)
	}
}
