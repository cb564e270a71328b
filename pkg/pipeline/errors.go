package pipeline

import (
	"errors"
	"fmt"
	"time"
)

// Error is an error returned by a stage handler. It tells the queue worker
// (RunWorker, or a Lambda shim) what to do with the message:
//
//   - Permanent: retrying the same message cannot succeed (a malformed
//     body, or GitHub refused the dispatch with 404/422); dead-letter it at
//     once so an operator can replay it after fixing the cause.
//   - RetryAfter > 0: a transient condition with a known wait (another
//     worker holds the dispatch claim); retry the message no sooner.
//
// Any other error a handler returns is transient: retry with backoff until
// the queue's receive limit, then dead-letter.
type Error struct {
	Op         string        // what failed, e.g. "decode work item"
	Err        error         // the cause
	permanent  bool          //
	retryAfter time.Duration //
}

// Error implements error.
func (e *Error) Error() string {
	if e.Op == "" {
		return e.Err.Error()
	}
	return e.Op + ": " + e.Err.Error()
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Permanent reports whether retrying cannot succeed (see IsPermanent).
func (e *Error) Permanent() bool { return e.permanent }

// RetryAfter is the minimum wait before a retry; 0 when unknown.
func (e *Error) RetryAfter() time.Duration { return e.retryAfter }

// PermanentError wraps err as a permanent Error.
func PermanentError(op string, err error) error {
	return &Error{Op: op, Err: err, permanent: true}
}

// permanentf formats a permanent error.
func permanentf(op, format string, args ...any) error {
	return PermanentError(op, fmt.Errorf(format, args...))
}

// RetryLater wraps err as a transient Error that should not be retried
// before d has passed.
func RetryLater(op string, d time.Duration, err error) error {
	return &Error{Op: op, Err: err, retryAfter: d}
}

// RetryAfterOf returns the wait an error asks for (an error in the chain
// with a RetryAfter() time.Duration method), or 0.
func RetryAfterOf(err error) time.Duration {
	var r interface{ RetryAfter() time.Duration }
	if errors.As(err, &r) {
		return r.RetryAfter()
	}
	return 0
}

// IsAmbiguous reports whether a failed GitHub.Dispatch may nevertheless
// have created the run (a timeout or a connection lost after the request was
// sent). An adapter says "certainly not sent" by returning an error with an
// Ambiguous() bool method that returns false (for example after a 429, a
// 403 rate limit or a 5xx answer from GitHub itself); an error that says
// nothing is treated as ambiguous, which is the safe choice: the dispatcher
// then keeps the claim in progress and looks for the run before it
// dispatches again.
func IsAmbiguous(err error) bool {
	var a interface{ Ambiguous() bool }
	if errors.As(err, &a) {
		return a.Ambiguous()
	}
	return true
}

// attemptsOf returns the number of calls an adapter error reports (an error
// with an Attempts() int method), or 1.
func attemptsOf(err error) int {
	var a interface{ Attempts() int }
	if errors.As(err, &a) && a.Attempts() > 0 {
		return a.Attempts()
	}
	return 1
}

// ErrClaimBusy is the cause of the transient error HandleWorkItem returns
// when another attempt holds the dispatch claim and its lease has not
// expired.
var ErrClaimBusy = errors.New("dispatch claim held by another attempt")
