package pipeline

import (
	"context"
	"encoding/json"
	"time"

	"github.com/dispatcher-dev/dispatcher/pkg/plan"
)

// Request is the message on the requests queue (ingress → planner).
type Request struct {
	DeliveryID string    `json:"delivery_id"`
	Event      string    `json:"event"`
	ReceivedAt time.Time `json:"received_at"`
	// Run is the workflow_run event as ingress decoded it (once, with
	// plan.ParseEvent).
	Run *plan.Event `json:"run,omitempty"`
	// Payload is the trimmed webhook payload that messages written before
	// Run existed carry instead; the planner parses it when Run is nil.
	Payload json.RawMessage `json:"payload,omitempty"`
}

// WorkItem is the message on the targets queue (planner → dispatcher): one
// authorised target, with its resolved ref and inputs.
type WorkItem struct {
	DeliveryID     string      `json:"delivery_id"`
	InstallationID int64       `json:"installation_id"`
	ReceivedAt     time.Time   `json:"received_at"`
	Source         plan.Source `json:"source"`
	Target         plan.Target `json:"target"`
	// Chain is the lineage of the source run including the source itself
	// (oldest first); the run this item dispatches gets Chain + Target.
	Chain []plan.ChainLink `json:"chain,omitempty"`
	// Report is set when the delivery wants a result issue (CREATE_ISSUES)
	// and carries what the dispatcher needs to write it; nil otherwise.
	Report *Report `json:"report,omitempty"`
}

// Report is the part of a WorkItem that lets the dispatcher that records
// the last outcome of a delivery write the result issue.
type Report struct {
	// Targets is the number of candidate targets in the plan (authorised
	// and denied); the issue is written once that many outcomes are stored.
	Targets int `json:"targets"`
	// Index is the position of this item's target in the plan.
	Index int `json:"index"`
	// WorkflowPath is workflow_run.path of the source run.
	WorkflowPath string `json:"workflow_path,omitempty"`
	// RunURL is workflow_run.html_url of the source run.
	RunURL string `json:"run_url,omitempty"`
}

// Key is the idempotency key of the dispatch: source repository, run id,
// run attempt, target repository and target workflow (lower-cased where
// GitHub is case-insensitive).
func (w WorkItem) Key() string {
	return idempotencyKey(w.Source.Repository, w.Source.RunID, w.Source.RunAttempt, w.Target.Repository, w.Target.Workflow)
}

// Delivery tells a handler which receive of its message this is.
type Delivery struct {
	ReceiveCount int // 1 on the first receive
	MaxReceives  int // the queue dead-letters after this many; 0 = unknown
}

// Final reports whether this is the last receive before the message is
// dead-lettered (never true when MaxReceives is unknown).
func (d Delivery) Final() bool { return d.MaxReceives > 0 && d.ReceiveCount >= d.MaxReceives }

// Message is one received queue message.
type Message struct {
	ID           string // the queue's message id (for logs)
	Handle       string // receipt handle
	Body         []byte
	ReceiveCount int // 1 on the first receive
	// MaxReceives is the queue's dead-letter threshold; 0 when unknown.
	MaxReceives int
}

// Delivery returns the receive information of m for a stage handler.
func (m Message) Delivery() Delivery {
	return Delivery{ReceiveCount: m.ReceiveCount, MaxReceives: m.MaxReceives}
}

// HandleMessage adapts HandleRequest to a queue message (the AWS runtime's
// SQS handler).
func (p *Planner) HandleMessage(ctx context.Context, m Message) error {
	return p.HandleRequest(ctx, m.Body, m.Delivery())
}

// HandleMessage adapts HandleWorkItem to a queue message (the AWS
// runtime's SQS handler).
func (s *Dispatcher) HandleMessage(ctx context.Context, m Message) error {
	return s.HandleWorkItem(ctx, m.Body, m.Delivery())
}

// DefaultRetryDelay is the delay before a failed message is received
// again: 10s·2^(receive−1) capped at 5 minutes, or the error's
// RetryAfterOf when longer (capped at 15 minutes).
func DefaultRetryDelay(receiveCount int, err error) time.Duration {
	d := 10 * time.Second
	for i := 1; i < receiveCount && d < 5*time.Minute; i++ {
		d *= 2
	}
	d = min(d, 5*time.Minute)
	if ra := min(RetryAfterOf(err), 15*time.Minute); ra > d {
		d = ra
	}
	return d
}
