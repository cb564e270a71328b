package ghapp

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/dispatcher-dev/dispatcher/pkg/pipeline"
)

// Sentinel errors. Test with errors.Is; every error the client returns is
// an *Error that matches the sentinels that apply.
var (
	// ErrNotFound: GitHub answered 404 (unknown repository, run, workflow
	// or ref).
	ErrNotFound = errors.New("not found")
	// ErrNoInstallation: the GitHub App is not installed on the repository
	// (or the repository does not exist), or the installation is gone.
	ErrNoInstallation = errors.New("the GitHub App is not installed on the repository")
	// ErrRateLimited: a primary or secondary rate limit was still in force
	// when the client gave up.
	ErrRateLimited = errors.New("rate limited")
	// ErrAmbiguous: a mutating request may or may not have reached GitHub.
	ErrAmbiguous = errors.New("outcome unknown: the request may have reached GitHub")
	// ErrBadPrivateKey: the App private key could not be used.
	ErrBadPrivateKey = errors.New("invalid GitHub App private key")
)

// Kind classifies an Error.
type Kind int

// Error kinds.
const (
	// KindTransient: retrying later may succeed (5xx, 429, rate limits,
	// network errors).
	KindTransient Kind = iota + 1
	// KindPermanent: retrying the same request cannot succeed (404, 422,
	// 403 without a rate limit, bad credentials).
	KindPermanent
	// KindAmbiguous: a mutating request failed after it was sent; it may
	// have been applied.
	KindAmbiguous
)

// String returns the text form.
func (k Kind) String() string {
	switch k {
	case KindTransient:
		return "transient"
	case KindPermanent:
		return "permanent"
	case KindAmbiguous:
		return "ambiguous"
	}
	return "unknown"
}

// Error is a failed GitHub operation. Its text never holds credentials.
type Error struct {
	// Op says what was attempted, e.g. `dispatch "cd.yml" in acme/deploy`.
	Op string
	// Status is the HTTP status of the last answer, 0 when there was none.
	Status int
	// Message is GitHub's message for the last answer ("" when none).
	Message string
	Kind    Kind
	// Attempts is the number of HTTP requests made for the operation.
	Attempts int
	// Wait is how long to wait before trying again: what GitHub asked for
	// (Retry-After, a rate-limit reset) or the write budget needs (ErrPaced);
	// 0 if unknown. RetryAfter returns it.
	Wait time.Duration
	// Err is the underlying cause (a sentinel, a transport error, ...).
	Err error
	// Candidates are the runs that may be the result of an ambiguous
	// dispatch or search (newest first), when the client looked: a caller
	// that cannot tell which is its own keeps them for an operator.
	Candidates []pipeline.DispatchResult
}

// Error returns the message (it implements error).
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Op)
	b.WriteString(": ")
	switch {
	case e.Status != 0 && e.Message != "":
		fmt.Fprintf(&b, "%d %s", e.Status, e.Message)
	case e.Status != 0:
		fmt.Fprintf(&b, "HTTP %d", e.Status)
	case e.Err != nil:
		b.WriteString(e.Err.Error())
	default:
		b.WriteString("failed")
	}
	// With a status the cause adds nothing unless it is more than one of
	// the sentinels (those are already implied by the status).
	if e.Status != 0 && e.Err != nil && !onlySentinels(e.Err) {
		fmt.Fprintf(&b, " (%v)", e.Err)
	}
	if e.Wait > 0 {
		fmt.Fprintf(&b, "; retry after %s", e.Wait)
	}
	if len(e.Candidates) > 0 {
		b.WriteString("; candidate runs:")
		for i, r := range e.Candidates {
			if i == 5 {
				fmt.Fprintf(&b, " and %d more", len(e.Candidates)-i)
				break
			}
			fmt.Fprintf(&b, " %d", r.RunID)
		}
	}
	if e.Attempts > 1 {
		fmt.Fprintf(&b, " [%s, %d attempts]", e.Kind, e.Attempts)
	} else {
		fmt.Fprintf(&b, " [%s]", e.Kind)
	}
	return b.String()
}

// onlySentinels reports whether err is one of the package's sentinels or
// a join of them.
func onlySentinels(err error) bool {
	if j, ok := err.(interface{ Unwrap() []error }); ok && err.Error() == joinedText(j.Unwrap()) {
		for _, e := range j.Unwrap() {
			if !onlySentinels(e) {
				return false
			}
		}
		return true
	}
	for _, s := range []error{ErrNotFound, ErrNoInstallation, ErrRateLimited, ErrAmbiguous, ErrBadPrivateKey, ErrPaced, ErrSeveralRuns} {
		if err == s {
			return true
		}
	}
	return false
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// RetryAfter is the wait before a retry can succeed (Wait), 0 if unknown;
// pipeline.RetryAfterOf reads it, so a queue redelivers no sooner.
func (e *Error) RetryAfter() time.Duration { return e.Wait }

// Is matches ErrNotFound for a 404, ErrRateLimited for a rate-limit answer
// and ErrAmbiguous for an ambiguous failure, besides the wrapped cause.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return e.Status == 404
	case ErrAmbiguous:
		return e.Kind == KindAmbiguous
	}
	return false
}

// Permanent reports whether retrying cannot help (pipeline.IsPermanent).
func (e *Error) Permanent() bool { return e.Kind == KindPermanent }

// Transient reports whether a later retry may succeed.
func (e *Error) Transient() bool { return e.Kind == KindTransient }

// Ambiguous reports whether a mutating request may have been applied
// although it failed. A caller holding an idempotency claim must keep it
// in progress and look for the run before dispatching again.
func (e *Error) Ambiguous() bool { return e.Kind == KindAmbiguous }

// IsAmbiguous reports whether err (or an error it wraps) is ambiguous.
func IsAmbiguous(err error) bool {
	var a interface{ Ambiguous() bool }
	return errors.As(err, &a) && a.Ambiguous()
}

// IsTransient reports whether err (or an error it wraps) is transient.
func IsTransient(err error) bool {
	var a interface{ Transient() bool }
	return errors.As(err, &a) && a.Transient()
}

func joinedText(errs []error) string {
	parts := make([]string, len(errs))
	for i, e := range errs {
		parts[i] = e.Error()
	}
	return strings.Join(parts, ": ")
}

// joinErr wraps both errors on one line ("a: b"); either may be nil.
func joinErr(a, b error) error {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	}
	return fmt.Errorf("%w: %w", a, b)
}
