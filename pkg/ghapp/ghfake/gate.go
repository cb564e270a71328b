package ghfake

import (
	"sync"
)

// Gate holds requests whose "METHOD /path" matches a pattern: each waits
// until n of them have arrived (then all of them go on, as do later
// ones), or until Open. A test proves that requests are sent in parallel
// without measuring time: sent one after another, the first would wait
// for the others forever (the client's timeout then fails the test).
type Gate struct {
	pattern string
	n       int

	mu      sync.Mutex
	arrived int
	open    chan struct{}
	once    sync.Once
	waiting chan struct{} // signalled on every arrival
}

// Gate installs a gate for pattern (see Fail for patterns) that opens when
// n matching requests are waiting; n ≤ 0 opens only on Open. Requests are
// held before any fault or effect. Remove it with Open (it stays
// installed, open).
func (s *Server) Gate(pattern string, n int) *Gate {
	g := &Gate{pattern: pattern, n: n, open: make(chan struct{}), waiting: make(chan struct{}, 1<<10)}
	s.mu.Lock()
	s.gates = append(s.gates, g)
	s.mu.Unlock()
	return g
}

// Open lets every held and later request through.
func (g *Gate) Open() { g.once.Do(func() { close(g.open) }) }

// Arrived is the number of requests that reached the gate.
func (g *Gate) Arrived() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.arrived
}

// WaitArrived blocks until at least n requests have reached the gate or
// done is closed; it reports whether they did.
func (g *Gate) WaitArrived(n int, done <-chan struct{}) bool {
	for {
		if g.Arrived() >= n {
			return true
		}
		select {
		case <-g.waiting:
		case <-done:
			return false
		}
	}
}

// pass holds a request until the gate opens or cancel is closed.
func (g *Gate) pass(cancel <-chan struct{}) {
	g.mu.Lock()
	g.arrived++
	full := g.n > 0 && g.arrived >= g.n
	g.mu.Unlock()
	select {
	case g.waiting <- struct{}{}:
	default:
	}
	if full {
		g.Open()
	}
	select {
	case <-g.open:
	case <-cancel:
	}
}

func (s *Server) gatesFor(req string) []*Gate {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*Gate
	for _, g := range s.gates {
		if matchPattern(g.pattern, req) {
			out = append(out, g)
		}
	}
	return out
}
