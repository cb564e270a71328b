package cli

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// spinnerFrames are drawn in turn, one per tick.
var spinnerFrames = []string{"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"}

// spinnerInterval is the time between frames.
const spinnerInterval = 100 * time.Millisecond

// spinner shows on a terminal that a command is waiting (for GitHub, say),
// on one line of stderr that it erases when stopped. Its first frame is
// drawn at once, so that even a short wait shows what is happening.
type spinner struct {
	w    io.Writer
	msg  string
	stop chan struct{}
	done chan struct{}
	once sync.Once
}

// startSpinner draws msg with a turning frame on w, one frame per value
// received from tick (a time.Ticker's channel in production), until Stop.
func startSpinner(w io.Writer, msg string, tick <-chan time.Time) *spinner {
	sp := &spinner{w: w, msg: termSafe(msg), stop: make(chan struct{}), done: make(chan struct{})}
	sp.draw(0)
	go func() {
		defer close(sp.done)
		for i := 1; ; i++ {
			select {
			case <-sp.stop:
				return
			case <-tick:
				sp.draw(i)
			}
		}
	}()
	return sp
}

func (sp *spinner) draw(i int) {
	fmt.Fprintf(sp.w, "\r\x1b[K%s %s", spinnerFrames[i%len(spinnerFrames)], sp.msg)
}

// Stop stops the spinner and erases its line; it returns once nothing more
// will be written. It is safe to call more than once, and on nil.
func (sp *spinner) Stop() {
	if sp == nil {
		return
	}
	sp.once.Do(func() {
		close(sp.stop)
		<-sp.done
		fmt.Fprint(sp.w, "\r\x1b[K")
	})
}

// startProgress starts a spinner on stderr when the command may show one:
// stderr is a terminal that understands escape sequences (not TERM=dumb)
// and the output is for people (show is false for --format json). It
// returns nil otherwise; (*spinner).Stop accepts nil.
func startProgress(s Streams, show bool, msg string) *spinner {
	if !show || !s.ErrTTY || s.Env("TERM") == "dumb" {
		return nil
	}
	t := time.NewTicker(spinnerInterval)
	sp := startSpinner(s.Err, msg, t.C)
	go func() {
		<-sp.done
		t.Stop()
	}()
	return sp
}
