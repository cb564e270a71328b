package pipeline

import (
	"context"
	"errors"
	"time"

	"github.com/dispatcher-dev/dispatcher/pkg/facts"
	"github.com/dispatcher-dev/dispatcher/pkg/plan"
)

// Enqueuer puts messages on one queue. dedupID is a deterministic id of the
// message (the delivery id on the requests queue, the work item key on the
// targets queue) that a queue may use to drop true duplicates.
type Enqueuer interface {
	Enqueue(ctx context.Context, dedupID string, body []byte) error
}

// ReplayGuard remembers webhook delivery ids for the replay window. It is
// shared by every ingress (SQLite or DynamoDB), not per process.
type ReplayGuard interface {
	// Seen reports whether id was recorded less than the window ago.
	Seen(ctx context.Context, id string) (bool, error)
	// Record remembers id for the window. Ingress calls it only after the
	// request was durably enqueued.
	Record(ctx context.Context, id string) error
}

// FactPublisher records facts. Publishing the same fact id twice must count
// once.
type FactPublisher interface {
	Publish(ctx context.Context, events ...facts.Event) error
}

// ClaimState is the state of an idempotency record.
type ClaimState int

// Claim states.
const (
	// ClaimAcquired: no record existed; the caller now holds the claim and
	// must dispatch, then Complete (or Release, with ClaimedAt as its
	// lease, on a failure that certainly did not dispatch).
	ClaimAcquired ClaimState = iota + 1
	// ClaimInProgress: a record exists but was never completed (a crash
	// between claim and completion, or a concurrent worker). The POST may
	// have reached GitHub: look for the run before dispatching again.
	ClaimInProgress
	// ClaimDone: the dispatch already happened; do nothing.
	ClaimDone
)

// Claim is an idempotency record.
type Claim struct {
	State     ClaimState
	ClaimedAt time.Time // when the (first) claim was taken
	// LeasedAt is when the current holder took the claim: ClaimedAt, or
	// the time of the latest TakeOver. Zero means ClaimedAt.
	LeasedAt time.Time
	Result   DispatchResult
}

// Claims are the idempotency records of dispatches.
type Claims interface {
	// Claim takes the record for key, or reports its current state.
	Claim(ctx context.Context, key string, now time.Time) (Claim, error)
	// TakeOver takes an in-progress claim from a holder presumed dead (its
	// lease, started at leasedAt, has ended): when the record of key is
	// still in progress with that lease start, the lease restarts at now
	// and TakeOver reports true; ClaimedAt (the first claim) is kept.
	// Otherwise (another attempt took it over first, or it was completed
	// or released meanwhile) it changes nothing and reports false. Of any
	// number of concurrent callers that saw the same lease, at most one
	// gets true.
	TakeOver(ctx context.Context, key string, leasedAt, now time.Time) (bool, error)
	// Complete marks key done with its result.
	Complete(ctx context.Context, key string, result DispatchResult) error
	// Release forgets the claim the caller holds (the dispatch certainly
	// did not happen), so that a replay of the work item can dispatch.
	// leasedAt is the start of the caller's lease: ClaimedAt when it
	// acquired the claim, the takeover's now when it took it over. Like
	// TakeOver it is a compare-and-delete: only a record still in progress
	// with that lease start is removed (Release reports true). An attempt
	// that outlived its lease therefore cannot release a claim another
	// attempt has taken over (or completed) since.
	Release(ctx context.Context, key string, leasedAt time.Time) (bool, error)
}

// Lineage remembers which dispatch chain led to each run dispatcher
// started, so that the planner can deny cycles and over-long chains.
type Lineage interface {
	// RecordRun stores chain (oldest first, ending with the dispatched
	// target) for the target run repository/runID.
	RecordRun(ctx context.Context, repository string, runID int64, chain []plan.ChainLink) error
	// ChainOf returns the stored chain of a run, or nil when dispatcher did
	// not start it.
	ChainOf(ctx context.Context, repository string, runID int64) ([]plan.ChainLink, error)
}

// DispatchRequest is one workflow_dispatch call.
type DispatchRequest struct {
	InstallationID int64 // the source installation; the adapter may look up the target's own
	Repository     string
	Workflow       string
	Ref            string
	Inputs         map[string]string
}

// DispatchResult is what a successful dispatch returned.
type DispatchResult struct {
	Attempts int    `json:"attempts"`
	RunID    int64  `json:"run_id,omitempty"`  // 0 when the server did not return run details
	RunURL   string `json:"run_url,omitempty"` // API URL of the run
	HTMLURL  string `json:"html_url,omitempty"`
}

// GitHub is what the stages need from GitHub.
type GitHub interface {
	// Configs returns a lookup of dispatching.yml files seen through the
	// given installation (the adapter may resolve each repository's own
	// installation).
	Configs(installationID int64) plan.ConfigLookup
	// ReadConfigs reads the source's dispatching.yml and the configs of
	// the target repositories targetsOf names in it, in parallel (a warm
	// delivery costs one round trip of revalidations), and returns the
	// source's result and a lookup holding the targets'. A non-nil error
	// is transient (GitHub unavailable after the client's retries): the
	// step must fail and be retried, never decide. A result of status
	// plan.ConfigUnavailable read later through the lookup means the same.
	ReadConfigs(ctx context.Context, installationID int64, source string, targetsOf func(plan.ConfigResult) []string) (plan.ConfigResult, plan.ConfigLookup, error)
	// Dispatch creates a workflow_dispatch event, retrying transient
	// failures. An error that is permanent (404, 422, ...) satisfies
	// IsPermanent.
	Dispatch(ctx context.Context, req DispatchRequest) (DispatchResult, error)
	// FindDispatchedRun looks for a workflow_dispatch run of workflow in
	// repository created at or after since (used after an ambiguous claim).
	FindDispatchedRun(ctx context.Context, installationID int64, repository, workflow string, since time.Time) (DispatchResult, bool, error)
}

// Outcome statuses.
const (
	OutcomeSuccess = "success"
	OutcomeFailed  = "failed"
	OutcomeDenied  = "denied"
)

// Outcome is the final outcome of one candidate target of a delivery.
type Outcome struct {
	Index      int    `json:"index"` // position of the target in the plan
	Repository string `json:"repository"`
	Workflow   string `json:"workflow"`
	Status     string `json:"status"` // OutcomeSuccess, OutcomeFailed or OutcomeDenied
	Attempts   int    `json:"attempts,omitempty"`
	Error      string `json:"error,omitempty"`  // failed: GitHub's message
	Reason     string `json:"reason,omitempty"` // denied: reason code
	Detail     string `json:"detail,omitempty"` // denied: rule or file that decided
	RunURL     string `json:"run_url,omitempty"`
}

// Outcomes collects the outcomes of the targets of a delivery, so that the
// stage that stores the last one can write the result issue. Only used when
// result issues are enabled.
type Outcomes interface {
	// Put stores o under (deliveryID, o.Index), replacing an earlier
	// outcome with the same index, and returns every outcome stored for
	// deliveryID (in any order), o included. Records may expire after a
	// few days.
	Put(ctx context.Context, deliveryID string, o Outcome) ([]Outcome, error)
}

// IssueCreator opens an issue (CREATE_ISSUES).
type IssueCreator interface {
	CreateIssue(ctx context.Context, installationID int64, repository, title, body string) error
}

// IsPermanent reports whether err says that retrying the same request
// cannot succeed (an adapter error with a Permanent() bool method that
// returns true).
func IsPermanent(err error) bool {
	var p interface{ Permanent() bool }
	return errors.As(err, &p) && p.Permanent()
}
