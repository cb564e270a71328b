package facts

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"time"
)

// Fact types.
const (
	TypeRequestAccepted  = "dispatch.request.accepted"
	TypePlanCreated      = "dispatch.plan.created"
	TypeTargetQueued     = "dispatch.target.queued"
	TypeTargetDenied     = "dispatch.target.denied"
	TypeTriggerSucceeded = "dispatch.trigger.succeeded"
	TypeTriggerFailed    = "dispatch.trigger.failed"
)

// SpecVersion is the CloudEvents version of every Event.
const SpecVersion = "1.0"

// EventSource is the CloudEvents "source" of every fact.
const EventSource = "dispatcher"

// Event is a fact as a CloudEvents 1.0 event (structured JSON mode).
type Event struct {
	SpecVersion     string    `json:"specversion"`
	ID              string    `json:"id"`
	Source          string    `json:"source"`
	Type            string    `json:"type"`
	Subject         string    `json:"subject"` // the source repository, "owner/name"
	Time            time.Time `json:"time"`    // RFC 3339 with sub-second precision
	DataContentType string    `json:"datacontenttype"`
	Data            Data      `json:"data"`
}

// Data is the payload of a fact. Fields that do not apply to a type are
// left empty and omitted from JSON.
type Data struct {
	DeliveryID     string `json:"delivery_id"`
	SourceRepo     string `json:"source_repo"`
	SourceWorkflow string `json:"source_workflow"` // base name, for every type
	SourceRunID    int64  `json:"source_run_id,omitempty"`
	RunAttempt     int    `json:"run_attempt,omitempty"`

	// dispatch.plan.created
	Eligible   *bool  `json:"eligible,omitempty"`
	Candidates *int   `json:"candidates,omitempty"`
	Allowed    *int   `json:"allowed,omitempty"`
	Denied     *int   `json:"denied,omitempty"`
	Reason     string `json:"reason,omitempty"` // source reason (plan), target reason (denied)
	Detail     string `json:"detail,omitempty"`

	// target facts
	TargetRepo     string `json:"target_repo,omitempty"`
	TargetWorkflow string `json:"target_workflow,omitempty"`
	Ref            string `json:"ref,omitempty"`

	// trigger facts
	Attempts     int    `json:"attempts,omitempty"`
	Error        string `json:"error,omitempty"`
	TargetRunID  int64  `json:"target_run_id,omitempty"`
	TargetRunURL string `json:"target_run_url,omitempty"`
}

// New builds a fact. Its id is derived from what the fact is about, so that
// a stage that runs twice for the same work (an at-least-once redelivery)
// emits the same id and the fact counts once: see ID.
func New(typ string, at time.Time, d Data) Event {
	return Event{
		SpecVersion:     SpecVersion,
		ID:              ID(typ, d),
		Source:          EventSource,
		Type:            typ,
		Subject:         d.SourceRepo,
		Time:            at.UTC(),
		DataContentType: "application/json",
		Data:            d,
	}
}

// ID is the deterministic fact id used by New. Delivery facts
// (request.accepted, plan.created) are identified by the delivery; target
// facts (queued, denied, succeeded, failed) by the dispatch they describe —
// source repository, run id, run attempt, target repository and workflow —
// and not by the delivery, because a dispatch happens at most once however
// many deliveries announce the same run.
func ID(typ string, d Data) string {
	delivery := d.DeliveryID
	switch typ {
	case TypeTargetQueued, TypeTargetDenied, TypeTriggerSucceeded, TypeTriggerFailed:
		delivery = ""
	}
	h := sha256.New()
	h.Write([]byte(strings.Join([]string{
		typ, delivery, d.SourceRepo, strconv.FormatInt(d.SourceRunID, 10),
		strconv.Itoa(d.RunAttempt), strings.ToLower(d.TargetRepo), strings.ToLower(d.TargetWorkflow),
	}, "\x00")))
	return hex.EncodeToString(h.Sum(nil))[:32]
}
