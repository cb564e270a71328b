package httpapi

import (
	"net/netip"
	"sync"
	"time"
)

// limiter is a fixed-window rate limiter per client: a client's window
// starts with its first request and allows limit requests. Memory is
// bounded: expired windows are swept once per window, and when maxClients
// windows are live, further new clients share one overflow window (they
// are limited together rather than not at all).
type limiter struct {
	limit      int
	window     time.Duration
	maxClients int
	now        func() time.Time

	mu        sync.Mutex
	clients   map[netip.Addr]*fixedWindow
	overflow  fixedWindow
	lastSweep time.Time
}

type fixedWindow struct {
	start time.Time
	n     int
}

func newLimiter(limit int, window time.Duration, maxClients int, now func() time.Time) *limiter {
	return &limiter{limit: limit, window: window, maxClients: maxClients, now: now,
		clients: make(map[netip.Addr]*fixedWindow)}
}

// clientKey groups IPv6 clients by /64 (one host usually owns a whole /64).
func clientKey(a netip.Addr) netip.Addr {
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.Addr()
	}
	return a
}

// allow counts a request of client a and reports whether it is within the
// limit, how many requests remain and when the window resets.
func (l *limiter) allow(a netip.Addr) (ok bool, remaining int, reset time.Duration) {
	now := l.now()
	key := clientKey(a)
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.lastSweep) >= l.window {
		l.sweep(now)
	}
	w := l.clients[key]
	if w == nil {
		if len(l.clients) >= l.maxClients {
			l.sweep(now)
		}
		if len(l.clients) < l.maxClients {
			w = &fixedWindow{start: now}
			l.clients[key] = w
		} else {
			w = &l.overflow
		}
	}
	if now.Sub(w.start) >= l.window || now.Before(w.start) {
		w.start, w.n = now, 0
	}
	w.n++
	reset = w.start.Add(l.window).Sub(now)
	if w.n > l.limit {
		return false, 0, reset
	}
	return true, l.limit - w.n, reset
}

func (l *limiter) sweep(now time.Time) {
	for k, w := range l.clients {
		if now.Sub(w.start) >= l.window {
			delete(l.clients, k)
		}
	}
	l.lastSweep = now
}

// size is the number of tracked clients (tests).
func (l *limiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.clients)
}
