package ghfake

import (
	"net/http"
	"strconv"
	"time"
)

// Fault is one injected failure, consumed by one matching request.
type Fault struct {
	// Status, when non-zero, is answered instead of the real response.
	Status int
	// Message is the JSON "message" (default: the status text).
	Message string
	// DocumentationURL is the JSON "documentation_url".
	DocumentationURL string
	// Header is added to the answer.
	Header http.Header
	// Latency delays the answer.
	Latency time.Duration
	// Reset closes the connection without an answer.
	Reset bool
	// After applies the request first (a dispatch is recorded, an issue
	// created) and then fails: the ambiguous case.
	After bool
	// BodyBytes, when positive, streams that many bytes of JSON whitespace
	// before the answer's JSON body (the real answer, or Status's), so the
	// body is still valid JSON but huge: a misbehaving server or proxy.
	// The fake does not hold the padding in memory.
	BodyBytes int64
}

func (f Fault) answer(now time.Time) answer {
	msg := f.Message
	if msg == "" {
		msg = http.StatusText(f.Status)
	}
	body := map[string]any{"message": msg, "status": strconv.Itoa(f.Status)}
	if f.DocumentationURL != "" {
		body["documentation_url"] = f.DocumentationURL
	}
	return answer{status: f.Status, header: f.Header.Clone(), body: body, pad: f.BodyBytes}
}

// Status is a fault answering code.
func Status(code int) Fault { return Fault{Status: code} }

// SecondaryLimit is GitHub's secondary rate limit answer (403); a
// positive retryAfter adds a Retry-After header in whole seconds.
func SecondaryLimit(retryAfter time.Duration) Fault {
	f := Fault{
		Status:           http.StatusForbidden,
		Message:          "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
		DocumentationURL: "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits",
		Header:           http.Header{},
	}
	if retryAfter > 0 {
		f.Header.Set("Retry-After", strconv.Itoa(int(retryAfter/time.Second)))
	}
	return f
}

// PrimaryLimit is GitHub's primary rate limit answer: 403 with
// x-ratelimit-remaining 0 and the given reset time.
func PrimaryLimit(reset time.Time) Fault {
	h := http.Header{}
	h.Set("X-RateLimit-Remaining", "0")
	h.Set("X-RateLimit-Reset", strconv.FormatInt(reset.Unix(), 10))
	return Fault{
		Status:           http.StatusForbidden,
		Message:          "API rate limit exceeded for installation.",
		DocumentationURL: "https://docs.github.com/rest/overview/resources-in-the-rest-api#rate-limiting",
		Header:           h,
	}
}

// TooManyRequests is a 429 with Retry-After (omitted when 0).
func TooManyRequests(retryAfter time.Duration) Fault {
	f := Fault{Status: http.StatusTooManyRequests, Header: http.Header{}}
	if retryAfter > 0 {
		f.Header.Set("Retry-After", strconv.Itoa(int(retryAfter/time.Second)))
	}
	return f
}

// HugeBody answers the real response preceded by n bytes of whitespace.
func HugeBody(n int64) Fault { return Fault{BodyBytes: n} }

// ConnReset closes the connection after reading the request, before
// applying it.
func ConnReset() Fault { return Fault{Reset: true} }

// ApplyThenReset applies the request, then closes the connection without
// an answer.
func ApplyThenReset() Fault { return Fault{Reset: true, After: true} }

type faultRule struct {
	pattern string
	queue   []Fault
}

// Fail queues faults for requests whose "METHOD /path" (without prefix)
// matches pattern (segments matched with path.Match; a trailing "**"
// matches the rest), e.g. "POST /repos/*/*/actions/workflows/*/dispatches".
// Each matching request takes the next fault; when the queue is empty
// requests behave normally.
func (s *Server) Fail(pattern string, faults ...Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.faults {
		if r.pattern == pattern {
			r.queue = append(r.queue, faults...)
			return
		}
	}
	s.faults = append(s.faults, &faultRule{pattern: pattern, queue: faults})
}

// PendingFaults counts queued faults not yet consumed.
func (s *Server) PendingFaults() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range s.faults {
		n += len(r.queue)
	}
	return n
}

func (s *Server) takeFault(req string) *Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.faults {
		if len(r.queue) > 0 && matchPattern(r.pattern, req) {
			f := r.queue[0]
			r.queue = r.queue[1:]
			return &f
		}
	}
	return nil
}

// ClearFaults drops every queued fault.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}
