package ghfake

import (
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"
)

// StormKind is one kind of failure a storm answers with.
type StormKind int

// Storm kinds. Every one is answered before the request has any effect.
const (
	Storm500       StormKind = iota + 1 // 500 Internal Server Error
	Storm502                            // 502 Bad Gateway
	Storm429                            // 429 with Retry-After
	StormSecondary                      // 403 secondary rate limit with Retry-After
	StormReset                          // the connection is closed without an answer
)

// AllStormKinds are the kinds a storm uses by default.
var AllStormKinds = []StormKind{Storm500, Storm502, Storm429, StormSecondary, StormReset}

// Storm configures a fault storm.
type Storm struct {
	// Fraction of matching requests that fail, in [0, 1].
	Fraction float64
	// Seed makes the storm deterministic: the n-th matching request gets
	// the n-th draw (the order of concurrent requests is the caller's).
	Seed uint64
	// Kinds to draw from, uniformly; AllStormKinds when empty.
	Kinds []StormKind
	// Pattern selects the requests (see Fail); every request when empty.
	Pattern string
	// RetryAfter is the Retry-After of 429 and secondary-limit answers;
	// one second when 0.
	RetryAfter time.Duration
}

type stormState struct {
	cfg Storm
	rnd *rand.Rand
}

// StartStorm makes a fraction of the requests fail (see Storm) until
// StopStorm. Queued faults (Fail) are served first.
func (s *Server) StartStorm(st Storm) {
	if len(st.Kinds) == 0 {
		st.Kinds = AllStormKinds
	}
	if st.Pattern == "" {
		st.Pattern = "* /**"
	}
	if st.RetryAfter <= 0 {
		st.RetryAfter = time.Second
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.storm = &stormState{cfg: st, rnd: rand.New(rand.NewPCG(st.Seed, st.Seed^0x9e3779b97f4a7c15))}
}

// StopStorm ends the storm.
func (s *Server) StopStorm() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.storm = nil
}

// stormFault draws the storm's fault for a request, nil for none.
func (s *Server) stormFault(req string) *Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.storm
	if st == nil || !matchPattern(st.cfg.Pattern, req) {
		return nil
	}
	hit := st.rnd.Float64() < st.cfg.Fraction
	kind := st.cfg.Kinds[st.rnd.IntN(len(st.cfg.Kinds))]
	if !hit {
		return nil
	}
	s.counters.Storm++
	var f Fault
	switch kind {
	case Storm500:
		f = Status(http.StatusInternalServerError)
	case Storm502:
		f = Status(http.StatusBadGateway)
	case Storm429:
		f = TooManyRequests(st.cfg.RetryAfter)
	case StormSecondary:
		f = SecondaryLimit(st.cfg.RetryAfter)
	default:
		f = ConnReset()
	}
	if f.Header != nil && f.Header.Get("Retry-After") == "0" {
		f.Header.Set("Retry-After", strconv.Itoa(1))
	}
	return &f
}

// Counters are what the fake answered, for request-cost measurements.
type Counters struct {
	// Requests counts every request by kind: the operation id of GitHub's
	// description (e.g. "repos/get-content"), or "unknown".
	Requests map[string]int
	// RateLimited counts answers 429, and 403 for a rate limit.
	RateLimited int
	// NotModified counts 304 answers.
	NotModified int
	// Storm counts requests failed by a storm (StartStorm).
	Storm int
	// Resets counts connections closed without an answer.
	Resets int
}

// Counters returns a copy of the counters.
func (s *Server) Counters() Counters {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.counters
	c.Requests = make(map[string]int, len(s.counters.Requests))
	for k, v := range s.counters.Requests {
		c.Requests[k] = v
	}
	return c
}

// ResetCounters zeroes the counters.
func (s *Server) ResetCounters() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.counters = Counters{}
}

// SetLatency delays every answer by d (0: none), like a distant GitHub.
// The wait ends early when the client goes away.
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = d
}

// SetListingDelay makes a dispatched run appear in the run list
// (GET .../workflows/{id}/runs) only d after it was created, by the fake's
// clock, as GitHub sometimes lists runs late; GET of the run itself finds
// it at once. 0 (the default) lists runs at once.
func (s *Server) SetListingDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.listingDelay = d
}
