package ghapp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bradleyfalzon/ghinstallation/v2"
	"github.com/google/go-github/v89/github"
)

// Clock gives the time and sleeps. Tests inject a fake that records waits.
type Clock interface {
	Now() time.Time
	// Sleep waits d or until ctx is done (then it returns ctx.Err()).
	Sleep(ctx context.Context, d time.Duration) error
}

// Rand is a source of random numbers; *math/rand/v2.Rand satisfies it.
// The client serialises its calls.
type Rand interface {
	// Int64N returns a number in [0, n).
	Int64N(n int64) int64
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// lockedRand serialises a Rand.
type lockedRand struct {
	mu sync.Mutex
	r  Rand
}

func (l *lockedRand) Int64N(n int64) int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.r.Int64N(n)
}

// secondaryMinWait is what GitHub asks for after a secondary rate limit
// that carries neither Retry-After nor x-ratelimit-reset.
const secondaryMinWait = time.Minute

// attempt is one HTTP exchange's classified outcome.
type attempt struct {
	ok      bool
	status  int
	message string
	kind    Kind
	retry   bool
	// wait is a server-directed wait (Retry-After, rate-limit reset, the
	// secondary-limit minimum); 0 means "use the backoff".
	wait         time.Duration
	minWait      time.Duration
	rateLimited  bool
	unauthorized bool // 401: drop the token and retry once
	// paceWait is the wait for the write budget when the request was not
	// sent for want of it (ErrPaced).
	paceWait time.Duration
	err      error
}

// call describes one operation for run.
type call struct {
	op       string
	mutating bool
	// inst is the installation whose token is used (nil for app JWT
	// calls); a 401 refreshes it.
	inst *installation
	// send makes one request. ctx carries the write tracker.
	send func(ctx context.Context, inst *installation) (*github.Response, error)
	// viaFallback, when set, says inst is the caller's fallback
	// installation, used because looking up the repository's own failed
	// with this transient error: a final 403 or 404 then only says that the
	// fallback cannot see the repository, so it is reported as transient.
	viaFallback error
	// mayHaveApplied, when set, is asked before a mutating request is
	// retried after a 5xx (a gateway error may hide a request that was
	// applied); a non-nil error ends the call with it instead of retrying.
	mayHaveApplied func(ctx context.Context, last *Error) error
}

type wroteKey struct{}

// withWriteTracker returns a context whose HTTP requests set *flag once
// their request was fully written to the connection.
func withWriteTracker(ctx context.Context, flag *atomic.Bool) context.Context {
	return httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		WroteRequest: func(info httptrace.WroteRequestInfo) { flag.Store(true) },
		// A request that got as far as writing headers may have reached
		// the server even if writing the body then failed.
		WroteHeaders: func() { flag.Store(true) },
	})
}

// run performs c with the retry policy and returns the number of HTTP
// requests made. It returns nil or an *Error.
func (c *Client) run(ctx context.Context, cl call) (int, error) {
	n, err := c.runOnce(ctx, cl)
	var e *Error
	if cl.viaFallback != nil && errors.As(err, &e) && e.Kind == KindPermanent &&
		(e.Status == http.StatusNotFound || e.Status == http.StatusForbidden) {
		e.Kind = KindTransient
		e.Err = joinErr(e.Err, fmt.Errorf("answered through the fallback installation because finding the repository's own failed: %w", cl.viaFallback))
	}
	return n, err
}

func (c *Client) runOnce(ctx context.Context, cl call) (int, error) {
	var (
		attempts  int
		retries   int
		refreshed bool
		last      attempt
		inst      = cl.inst
	)
	for {
		last = c.once(ctx, cl, inst)
		attempts++
		if last.ok {
			return attempts, nil
		}
		if last.unauthorized && !refreshed && inst != nil {
			// The token may have been revoked or expired early: mint a
			// new one and try once more (not counted as a retry).
			refreshed = true
			inst = c.refreshInstallation(inst)
			continue
		}
		if !last.retry || retries >= c.opts.maxRetries {
			return attempts, last.toError(cl.op, attempts)
		}
		if cl.mutating && cl.mayHaveApplied != nil && last.status >= 500 {
			if err := cl.mayHaveApplied(ctx, last.toError(cl.op, attempts)); err != nil {
				return attempts, err
			}
		}
		retries++
		wait := last.wait
		if wait == 0 {
			wait = c.backoff(retries)
			if wait < last.minWait {
				wait = last.minWait
			}
		}
		if wait > c.opts.maxWait || exceedsDeadline(ctx, c.clock.Now(), wait) {
			e := last.toError(cl.op, attempts)
			e.Wait = wait
			return attempts, e
		}
		if err := c.clock.Sleep(ctx, wait); err != nil {
			e := last.toError(cl.op, attempts)
			e.Err = joinErr(e.Err, err)
			return attempts, e
		}
	}
}

// once makes one request of cl.
func (c *Client) once(ctx context.Context, cl call, inst *installation) attempt {
	if inst != nil {
		// Mint (or reuse) the token first, outside the write tracker: a
		// failure here certainly did not reach the API.
		if _, err := inst.tr.Token(ctx); err != nil {
			if ctx.Err() != nil {
				return attempt{kind: KindTransient, err: ctx.Err()}
			}
			return classifyTokenError(err)
		}
	}
	var wrote atomic.Bool
	tctx := withWriteTracker(ctx, &wrote)
	tctx = context.WithValue(tctx, github.BypassRateLimitCheck, true)
	if cl.mutating && inst != nil {
		if err := inst.lockMutation(ctx); err != nil {
			return attempt{kind: KindTransient, err: err}
		}
		defer inst.unlockMutation()
		if a, ok := c.pace(ctx, inst.id); !ok {
			return a
		}
	}
	resp, err := cl.send(tctx, inst)
	if err == nil {
		return attempt{ok: true}
	}
	return classify(ctx, resp, err, cl.mutating && wrote.Load())
}

// pace waits for the installation's write budget (WithWritesPerMinute)
// while the caller holds its write lock. When the wait is longer than
// WithMaxWait or the context's deadline allows, or the context ends, the
// slot is given back and the returned attempt (ok false) says so: nothing
// was sent.
func (c *Client) pace(ctx context.Context, installation int64) (attempt, bool) {
	if c.opts.pacer == nil {
		return attempt{}, true
	}
	now := c.clock.Now()
	wait, cancel := c.opts.pacer.Reserve(installation, now)
	if wait <= 0 {
		return attempt{}, true
	}
	if wait > c.opts.maxWait || exceedsDeadline(ctx, now, wait) {
		cancel()
		return attempt{kind: KindTransient, err: ErrPaced, paceWait: wait}, false
	}
	if err := c.clock.Sleep(ctx, wait); err != nil {
		cancel()
		return attempt{kind: KindTransient, err: joinErr(ErrPaced, err)}, false
	}
	return attempt{}, true
}

func exceedsDeadline(ctx context.Context, now time.Time, wait time.Duration) bool {
	dl, ok := ctx.Deadline()
	return ok && now.Add(wait).After(dl)
}

// backoff is full jitter: a random wait in [0, min(cap, base·2^(n-1))].
func (c *Client) backoff(n int) time.Duration {
	ceil := c.opts.baseDelay
	for i := 1; i < n && ceil < c.opts.maxDelay; i++ {
		ceil *= 2
	}
	if ceil > c.opts.maxDelay {
		ceil = c.opts.maxDelay
	}
	if ceil <= 0 {
		return 0
	}
	return time.Duration(c.rand.Int64N(int64(ceil) + 1))
}

func (a attempt) toError(op string, attempts int) *Error {
	e := &Error{Op: op, Status: a.status, Message: a.message, Kind: a.kind, Attempts: attempts, Err: a.err, Wait: a.paceWait}
	if a.rateLimited {
		if a.wait > 0 {
			e.Wait = a.wait
		}
		if e.Err == nil {
			e.Err = ErrRateLimited
		} else {
			e.Err = joinErr(ErrRateLimited, e.Err)
		}
	}
	return e
}

// classify turns one exchange into an attempt. sentMutation says a
// mutating request was (at least partly) written before err.
func classify(ctx context.Context, resp *github.Response, err error, sentMutation bool) attempt {
	if resp != nil && resp.Response != nil && resp.StatusCode != 0 && resp.StatusCode != http.StatusOK &&
		(resp.StatusCode < 200 || resp.StatusCode > 299) {
		return classifyStatus(resp.Response, err)
	}
	if resp != nil && resp.Response != nil && resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		// A 2xx whose body could not be read or decoded: the request was
		// applied.
		return attempt{status: resp.StatusCode, kind: KindPermanent, err: err}
	}
	if ctx.Err() != nil {
		k := KindTransient
		if sentMutation {
			k = KindAmbiguous
		}
		return attempt{kind: k, err: ctx.Err()}
	}
	if sentMutation {
		return attempt{kind: KindAmbiguous, err: joinErr(ErrAmbiguous, err)}
	}
	return attempt{kind: KindTransient, retry: true, err: err}
}

// classifyStatus classifies an HTTP error answer.
func classifyStatus(r *http.Response, err error) attempt {
	a := attempt{status: r.StatusCode, message: githubMessage(err), kind: KindPermanent}
	if a.message == "" {
		a.message = http.StatusText(r.StatusCode)
	}
	retryAfter, hasRetryAfter := parseRetryAfter(r.Header.Get("Retry-After"))
	remaining := r.Header.Get("X-RateLimit-Remaining")
	resetWait := func() time.Duration { return untilReset(r) }
	switch {
	case r.StatusCode == http.StatusUnauthorized:
		a.unauthorized = true
	case (r.StatusCode == 403 || r.StatusCode == 429) && remaining == "0":
		a.kind, a.retry, a.rateLimited = KindTransient, true, true
		if hasRetryAfter {
			a.wait = retryAfter
		} else {
			a.wait = resetWait()
		}
	case (r.StatusCode == 403 || r.StatusCode == 429) && (hasRetryAfter || isSecondaryLimit(err, a.message)):
		a.kind, a.retry, a.rateLimited = KindTransient, true, true
		// GitHub: Retry-After if present; x-ratelimit-reset only matters
		// when the remaining budget is 0 (the case above); otherwise wait
		// at least a minute.
		if hasRetryAfter {
			a.wait = retryAfter
		} else {
			a.minWait = secondaryMinWait
		}
	case r.StatusCode == 429:
		a.kind, a.retry, a.rateLimited = KindTransient, true, true
	case r.StatusCode >= 500 && r.StatusCode != http.StatusNotImplemented:
		a.kind, a.retry = KindTransient, true
		if hasRetryAfter {
			a.wait = retryAfter
		}
	}
	if r.StatusCode == 404 {
		a.err = ErrNotFound
	}
	return a
}

// isSecondaryLimit recognises a secondary rate limit by go-github's type
// (documentation URL) or by the message, which is more stable than the URL.
func isSecondaryLimit(err error, msg string) bool {
	var abuse *github.AbuseRateLimitError
	if errors.As(err, &abuse) {
		return true
	}
	m := strings.ToLower(msg)
	return strings.Contains(m, "secondary rate limit") || strings.Contains(m, "abuse detection")
}

func parseRetryAfter(v string) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	if s, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil && s >= 0 {
		return time.Duration(s) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		d := time.Until(t)
		if d < 0 {
			d = 0
		}
		return d, true
	}
	return 0, false
}

// untilReset is the wait until x-ratelimit-reset plus one second of
// margin, computed against the server's Date header when present (so a
// skewed local clock does not matter), else 0.
func untilReset(r *http.Response) time.Duration {
	reset, err := strconv.ParseInt(r.Header.Get("X-RateLimit-Reset"), 10, 64)
	if err != nil || reset <= 0 {
		return 0
	}
	now := time.Now()
	if d, err := http.ParseTime(r.Header.Get("Date")); err == nil {
		now = d
	}
	w := time.Unix(reset, 0).Sub(now) + time.Second
	if w < time.Second {
		w = time.Second
	}
	return w
}

// githubMessage is GitHub's message from a go-github error, with the
// field errors GitHub adds for 422s.
func githubMessage(err error) string {
	var er *github.ErrorResponse
	var rl *github.RateLimitError
	var ab *github.AbuseRateLimitError
	switch {
	case errors.As(err, &rl):
		return rl.Message
	case errors.As(err, &ab):
		return ab.Message
	case errors.As(err, &er):
		msg := er.Message
		for _, fe := range er.Errors {
			detail := fe.Message
			if detail == "" {
				detail = strings.TrimSpace(strings.Join([]string{fe.Resource, fe.Field, fe.Code}, " "))
			}
			if detail != "" && !strings.Contains(msg, detail) {
				msg += "; " + detail
			}
		}
		return msg
	}
	return ""
}

// classifyTokenError classifies a failure to mint an installation token.
// Nothing reached the API, so a transient failure is always safe to retry.
func classifyTokenError(err error) attempt {
	var he *ghinstallation.HTTPError
	if errors.As(err, &he) && he.Response != nil {
		st := he.Response.StatusCode
		var msg string
		if he.Response.Body != nil {
			// ghinstallation leaves the error answer's body unread.
			var body struct {
				Message string `json:"message"`
			}
			if b, rerr := io.ReadAll(io.LimitReader(he.Response.Body, 64<<10)); rerr == nil {
				_ = json.Unmarshal(b, &body)
				msg = body.Message
			}
			he.Response.Body.Close()
		}
		a := attempt{status: st, message: "could not create an installation token: " + http.StatusText(st), kind: KindPermanent}
		if msg != "" {
			a.message = "could not create an installation token: " + msg
		}
		retryAfter, hasRetryAfter := parseRetryAfter(he.Response.Header.Get("Retry-After"))
		switch {
		case st == 404:
			a.err = ErrNoInstallation
		case st == 403 && he.Response.Header.Get("X-RateLimit-Remaining") == "0":
			a.kind, a.retry, a.rateLimited, a.wait = KindTransient, true, true, untilReset(he.Response)
		case st == 403 && (hasRetryAfter || isSecondaryLimit(nil, msg)):
			// A secondary rate limit on the token request itself.
			a.kind, a.retry, a.rateLimited = KindTransient, true, true
			if hasRetryAfter {
				a.wait = retryAfter
			} else {
				a.minWait = secondaryMinWait
			}
		case st == 429 || (st >= 500 && st != 501):
			a.kind, a.retry = KindTransient, true
			a.rateLimited = st == 429
			if hasRetryAfter {
				a.wait = retryAfter
			}
		}
		return a
	}
	if errors.Is(err, ErrResponseTooLarge) {
		// Minting again would get the same answer.
		return attempt{kind: KindPermanent, message: "could not create an installation token", err: unwrapTokenErr(err)}
	}
	return attempt{kind: KindTransient, retry: true, message: "could not create an installation token", err: unwrapTokenErr(err)}
}

// unwrapTokenErr keeps the root cause of a token failure (ghinstallation's
// text repeats the URL, which holds no secret, but is noisy).
func unwrapTokenErr(err error) error {
	var he *ghinstallation.HTTPError
	if errors.As(err, &he) && he.RootCause != nil {
		return he.RootCause
	}
	return err
}
