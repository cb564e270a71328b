package pipeline

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"strings"
	"time"
	"unicode"

	"github.com/dispatcher-dev/dispatcher/pkg/dispatching"
	"github.com/dispatcher-dev/dispatcher/pkg/facts"
	"github.com/dispatcher-dev/dispatcher/pkg/plan"
)

// MaxDeliveryIDLen is the longest X-GitHub-Delivery value ingress accepts
// (GitHub sends a 36-character GUID).
const MaxDeliveryIDLen = 200

// IngressConfig configures an Ingress.
type IngressConfig struct {
	// Secret is the webhook secret (GITHUB_WEBHOOK_SECRET). Required
	// unless Secrets is set.
	Secret []byte
	// Secrets, when set, supplies the secrets instead of Secret (a
	// Secrets Manager secret during a rotation: AWSCURRENT and
	// AWSPREVIOUS); a delivery signed with any of them verifies.
	Secrets WebhookSecrets
	// Apply makes an accepted delivery durable: the replay record, the
	// request on QueueRequests and the request.accepted fact (one SQLite
	// transaction in serve; PortApplier on AWS). Required.
	Apply Applier
	// OnPush, when set, is given the body of every correctly signed `push`
	// delivery (which is then answered 202, ignored): the runtime evicts a
	// cached dispatching.yml that the push changed (CONFIG_CACHE_TTL).
	OnPush func(body []byte)
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Logger; slog.Default() when nil.
	Logger *slog.Logger
}

// WebhookSecrets supplies the webhook secrets a signature may be made
// with: the current one first, then those still accepted (the previous one
// during a rotation). An error makes the delivery IngressUnavailable (503),
// so GitHub redelivers it later.
type WebhookSecrets interface {
	WebhookSecrets(ctx context.Context) ([][]byte, error)
}

// Ingress checks and enqueues GitHub webhook deliveries. It knows nothing
// of HTTP: pkg/httpapi reads the request (rate limit, body cap) and maps
// the IngressResult to a status code.
type Ingress struct {
	secret  []byte
	secrets WebhookSecrets
	apply   Applier
	onPush  func([]byte)
	now     func() time.Time
	log     *slog.Logger
}

// NewIngress builds an Ingress. It refuses to build without a secret: a
// webhook endpoint that does not verify signatures must never run.
func NewIngress(c IngressConfig) (*Ingress, error) {
	var missing []string
	if len(c.Secret) == 0 && c.Secrets == nil {
		missing = append(missing, "webhook secret (GITHUB_WEBHOOK_SECRET)")
	}
	if c.Apply == nil {
		missing = append(missing, "applier (requests queue, replay guard, facts)")
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("ingress: missing %s", strings.Join(missing, ", "))
	}
	return &Ingress{
		secret:  bytes.Clone(c.Secret),
		secrets: c.Secrets,
		apply:   c.Apply,
		onPush:  c.OnPush,
		now:     orNow(c.Now),
		log:     orDefault(c.Logger),
	}, nil
}

// WebhookDelivery is one webhook request as received.
type WebhookDelivery struct {
	ID          string // X-GitHub-Delivery; "" means missing (400)
	Event       string // X-GitHub-Event; "" means missing (400)
	Signature   string // X-Hub-Signature-256; "" fails verification (401)
	ContentType string // Content-Type
	Body        []byte // the raw body, exactly as received
}

// IngressStatus is the outcome class of a delivery.
type IngressStatus int

// Ingress statuses, in the order the checks run. pkg/httpapi maps each to an
// HTTP status (docs/pipeline.md has the table).
const (
	IngressAccepted         IngressStatus = iota + 1 // enqueued (202)
	IngressIgnored                                   // not a completed workflow_run (202)
	IngressMissingInput                              // a required header or the body is missing (400)
	IngressBadSignature                              // signature does not verify (401)
	IngressUnsupportedMedia                          // not application/json (415)
	IngressInvalidJSON                               // body is not a JSON object (400)
	IngressInvalidPayload                            // a required field is missing or mistyped (400)
	IngressDuplicate                                 // delivery id already enqueued inside the window (409)
	IngressUnavailable                               // the replay guard or the queue failed (503)
)

// IngressResult is what Accept decided.
type IngressResult struct {
	Status IngressStatus
	// Detail says which header is missing or which payload field is
	// invalid, or explains the media type; safe to show to the caller.
	Detail string
	// Err is the internal cause of IngressUnavailable (logged, never sent).
	Err error
}

// Header names, as GitHub sends them.
const (
	HeaderDelivery  = "X-GitHub-Delivery"
	HeaderEvent     = "X-GitHub-Event"
	HeaderSignature = "X-Hub-Signature-256"
)

// Accept runs the ingress checks on d in order: required headers and body,
// signature (HMAC-SHA256 over the raw bytes, constant-time), media type,
// JSON, event filter, payload (decoded once, by the parser the planner
// uses), then applies the step's effects: the delivery id in the replay
// guard, a Request on QueueRequests (dedup id = delivery id) and
// dispatch.request.accepted. The delivery id is recorded in the same
// transaction as the enqueue (serve) or only after it (AWS), so a
// redelivery of a failed attempt is processed.
func (in *Ingress) Accept(ctx context.Context, d WebhookDelivery) IngressResult {
	log := in.log.With("correlation_id", LogSafe(d.ID))
	r := in.accept(ctx, d)
	switch r.Status {
	case IngressAccepted:
		log.Info("webhook accepted", "event", d.Event)
	case IngressIgnored:
		log.Info("webhook ignored", "event", LogSafe(d.Event))
	case IngressUnavailable:
		log.Error("webhook not accepted: store unavailable", "error", r.Err)
	default:
		if r.Detail != "" {
			log.Warn("webhook rejected", "outcome", r.Status.String(), "detail", r.Detail)
		} else {
			log.Warn("webhook rejected", "outcome", r.Status.String())
		}
	}
	return r
}

func (in *Ingress) accept(ctx context.Context, d WebhookDelivery) IngressResult {
	ev, r := in.Check(ctx, d)
	if r.Status == IngressIgnored && d.Event == "push" && in.onPush != nil {
		in.onPush(d.Body) // signed: Check verified it before ignoring
	}
	if r.Status != IngressAccepted {
		return r
	}
	step, err := in.Step(d.ID, d.Event, ev)
	if err != nil { // cannot happen: every part was validated
		return IngressResult{Status: IngressUnavailable, Err: err}
	}
	switch err := in.apply.Apply(ctx, step); {
	case errors.Is(err, ErrDuplicateDelivery):
		return IngressResult{Status: IngressDuplicate}
	case err != nil:
		return IngressResult{Status: IngressUnavailable, Err: err}
	}
	return IngressResult{Status: IngressAccepted}
}

// Check runs the checks of Accept that need no store, in order, and
// returns the decoded event of a completed workflow_run delivery with
// Status IngressAccepted, or the first failed check (or IngressIgnored).
func (in *Ingress) Check(ctx context.Context, d WebhookDelivery) (plan.Event, IngressResult) {
	switch {
	case d.ID == "":
		return plan.Event{}, IngressResult{Status: IngressMissingInput, Detail: "missing " + HeaderDelivery}
	case d.Event == "":
		return plan.Event{}, IngressResult{Status: IngressMissingInput, Detail: "missing " + HeaderEvent}
	case len(d.Body) == 0:
		return plan.Event{}, IngressResult{Status: IngressMissingInput, Detail: "empty body"}
	case len(d.ID) > MaxDeliveryIDLen || !printable(d.ID):
		return plan.Event{}, IngressResult{Status: IngressMissingInput, Detail: HeaderDelivery + " is not a valid delivery id"}
	}
	// An empty signature fails here (401), never with a server error.
	// (pkg/httpapi answers 400 earlier when the header is absent.)
	ok, err := in.verify(ctx, d)
	if err != nil {
		return plan.Event{}, IngressResult{Status: IngressUnavailable, Err: fmt.Errorf("webhook secret: %w", err)}
	}
	if !ok {
		return plan.Event{}, IngressResult{Status: IngressBadSignature}
	}
	if !isJSONMediaType(d.ContentType) {
		return plan.Event{}, IngressResult{Status: IngressUnsupportedMedia,
			Detail: "content type must be application/json (set the webhook's content type to application/json)"}
	}
	if b := bytes.TrimLeft(d.Body, " \t\r\n"); len(b) == 0 || b[0] != '{' {
		return plan.Event{}, IngressResult{Status: IngressInvalidJSON, Detail: "the payload must be a JSON object"}
	}
	if !json.Valid(d.Body) {
		return plan.Event{}, IngressResult{Status: IngressInvalidJSON}
	}
	if d.Event != "workflow_run" {
		return plan.Event{}, IngressResult{Status: IngressIgnored}
	}
	ev, detail := ParseWorkflowRun(d.Body)
	if detail != "" {
		// A delivery that is not a completed run is ignored whatever else
		// it holds (only the error path decodes the action on its own).
		var a struct {
			Action json.RawMessage `json:"action"`
		}
		var action string
		if json.Unmarshal(d.Body, &a) == nil && len(a.Action) > 0 && json.Unmarshal(a.Action, &action) == nil && action != "completed" {
			return plan.Event{}, IngressResult{Status: IngressIgnored}
		}
		return plan.Event{}, IngressResult{Status: IngressInvalidPayload, Detail: detail}
	}
	if ev.Action != "completed" {
		return plan.Event{}, IngressResult{Status: IngressIgnored}
	}
	return ev, IngressResult{Status: IngressAccepted}
}

// ParseWorkflowRun decodes a workflow_run payload with plan.ParseEvent (the
// parser the planner's engine reads) and checks the fields the pipeline
// needs: installation.id, repository.owner.login and repository.name,
// workflow_run.id and workflow_run.path. It returns the event, or a detail
// naming the first missing or mistyped field (and what was expected).
func ParseWorkflowRun(body []byte) (plan.Event, string) {
	ev, err := plan.ParseEvent(body)
	if err != nil {
		return plan.Event{}, err.Error()
	}
	switch {
	case ev.InstallationID <= 0:
		return plan.Event{}, "installation.id: expected a positive number"
	case ev.Run.ID <= 0:
		return plan.Event{}, "workflow_run.id: expected a positive number"
	case ev.Run.Path == "":
		return plan.Event{}, "workflow_run.path: expected the workflow file's path"
	}
	return ev, ""
}

// Step returns the effects of accepting a checked delivery: the replay
// record, the Request on QueueRequests and dispatch.request.accepted.
func (in *Ingress) Step(deliveryID, event string, ev plan.Event) (Effects, error) {
	now := in.now().UTC()
	msg, err := json.Marshal(Request{DeliveryID: deliveryID, Event: event, ReceivedAt: now, Run: &ev})
	if err != nil {
		return Effects{}, fmt.Errorf("encode request: %w", err)
	}
	fact := facts.New(facts.TypeRequestAccepted, now, facts.Data{
		DeliveryID:     deliveryID,
		SourceRepo:     ev.Repository.FullName(),
		SourceWorkflow: dispatching.WorkflowBase(ev.Run.Path),
		SourceRunID:    ev.Run.ID,
		RunAttempt:     ev.Run.RunAttempt,
	})
	return Effects{
		Replay:  deliveryID,
		Enqueue: []Outgoing{{Queue: QueueRequests, DedupID: deliveryID, Body: msg}},
		Facts:   []facts.Event{fact},
	}, nil
}

// verify checks the signature against the secret, or against every secret
// the source returns (each one is checked: the time does not tell which
// matched).
func (in *Ingress) verify(ctx context.Context, d WebhookDelivery) (bool, error) {
	if in.secrets == nil {
		return VerifySignature(in.secret, d.Body, d.Signature), nil
	}
	secrets, err := in.secrets.WebhookSecrets(ctx)
	if err != nil {
		return false, err
	}
	ok := false
	for _, s := range secrets {
		ok = VerifySignature(s, d.Body, d.Signature) || ok
	}
	return ok, nil
}

// String names the status for logs.
func (s IngressStatus) String() string {
	switch s {
	case IngressAccepted:
		return "accepted"
	case IngressIgnored:
		return "ignored"
	case IngressMissingInput:
		return "missing_input"
	case IngressBadSignature:
		return "bad_signature"
	case IngressUnsupportedMedia:
		return "unsupported_media_type"
	case IngressInvalidJSON:
		return "invalid_json"
	case IngressInvalidPayload:
		return "invalid_payload"
	case IngressDuplicate:
		return "duplicate"
	case IngressUnavailable:
		return "unavailable"
	}
	return fmt.Sprintf("IngressStatus(%d)", int(s))
}

// Sign returns the X-Hub-Signature-256 value GitHub sends for body:
// "sha256=" and the lower-case hex HMAC-SHA256 of the raw bytes.
func Sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// VerifySignature reports whether signature is the X-Hub-Signature-256 of
// body under secret. The comparison is constant-time; upper-case hex and a
// missing "sha256=" prefix fail, as does an empty secret or signature.
func VerifySignature(secret, body []byte, signature string) bool {
	if len(secret) == 0 || len(signature) != len("sha256=")+2*sha256.Size {
		return false
	}
	return hmac.Equal([]byte(Sign(secret, body)), []byte(signature))
}

func isJSONMediaType(ct string) bool {
	if ct == "" {
		return false
	}
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && mt == "application/json"
}

func printable(s string) bool {
	for _, r := range s {
		if !unicode.IsPrint(r) || r == ' ' {
			return false
		}
	}
	return true
}

// LogSafe bounds a caller-controlled string before it goes into a log
// line (the JSON handler escapes it; this only limits the size).
func LogSafe(s string) string {
	const max = 128
	if len(s) > max {
		return s[:max] + "…"
	}
	return s
}
