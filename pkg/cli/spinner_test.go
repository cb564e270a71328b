package cli

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"
)

// lockedBuffer is a bytes.Buffer safe for the spinner goroutine and the
// test to use together.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestSpinner drives the frames with a hand-made tick channel: no timing.
func TestSpinner(t *testing.T) {
	var out lockedBuffer
	tick := make(chan time.Time)
	sp := startSpinner(&out, "asking GitHub \x1b[2J", tick)
	// The first frame is drawn at once.
	if got := out.String(); got != "\r\x1b[K⠋ asking GitHub \\x1b[2J" {
		t.Fatalf("first frame %q", got)
	}
	tick <- time.Time{} // received: the goroutine draws frame 2 before taking the next tick
	tick <- time.Time{}
	sp.Stop()
	sp.Stop() // idempotent
	got := out.String()
	if !strings.Contains(got, "⠙ asking GitHub") || !strings.HasSuffix(got, "\r\x1b[K") {
		t.Errorf("spinner output %q: want the second frame and a final erase", got)
	}
	var nilSpinner *spinner
	nilSpinner.Stop()
}

func TestStartProgressOnlyOnATerminal(t *testing.T) {
	env := func(term string) func(string) (string, bool) {
		return func(k string) (string, bool) {
			if k == "TERM" {
				return term, true
			}
			return "", false
		}
	}
	for _, tc := range []struct {
		tty, show bool
		term      string
		want      bool
	}{
		{tty: true, show: true, term: "xterm", want: true},
		{tty: false, show: true, term: "xterm"},
		{tty: true, show: false, term: "xterm"}, // --format json
		{tty: true, show: true, term: "dumb"},
	} {
		var out lockedBuffer
		sp := startProgress(Streams{Err: &out, ErrTTY: tc.tty, Getenv: env(tc.term)}, tc.show, "waiting")
		sp.Stop()
		if got := out.String() != ""; got != tc.want {
			t.Errorf("%+v: spinner drawn %v, want %v (%q)", tc, got, tc.want, out.String())
		}
	}
}
