package local

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 5, 1, 12, 30, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// openAt opens a store at path with the clock and options; it is closed
// when the test ends.
func openAt(t testing.TB, path string, c *fakeClock, o Options) *Store {
	t.Helper()
	if c != nil {
		o.Clock = c.Now
	}
	o.Create = true
	s, err := Open(context.Background(), path, o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func openTemp(t testing.TB, c *fakeClock, o Options) *Store {
	t.Helper()
	return openAt(t, filepath.Join(t.TempDir(), "dispatcher.db"), c, o)
}

// fold folds every pending fact into the projections.
func fold(t testing.TB, s *Store) {
	t.Helper()
	if _, err := s.Fold(context.Background()); err != nil {
		t.Fatalf("Fold: %v", err)
	}
}
