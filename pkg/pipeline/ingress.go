package pipeline

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"mime"
	"strings"
	"time"
	"unicode"

	"github.com/dispatcher-dev/dispatcher/pkg/dispatching"
	"github.com/dispatcher-dev/dispatcher/pkg/facts"
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
	// Requests is the requests queue. Required.
	Requests Enqueuer
	// Replay is the shared replay guard. Required.
	Replay ReplayGuard
	// Facts receives dispatch.request.accepted. Required.
	Facts FactPublisher
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
	secret   []byte
	secrets  WebhookSecrets
	requests Enqueuer
	replay   ReplayGuard
	facts    FactPublisher
	now      func() time.Time
	log      *slog.Logger
}

// NewIngress builds an Ingress. It refuses to build without a secret: a
// webhook endpoint that does not verify signatures must never run.
func NewIngress(c IngressConfig) (*Ingress, error) {
	var missing []string
	if len(c.Secret) == 0 && c.Secrets == nil {
		missing = append(missing, "webhook secret (GITHUB_WEBHOOK_SECRET)")
	}
	if c.Requests == nil {
		missing = append(missing, "requests queue")
	}
	if c.Replay == nil {
		missing = append(missing, "replay guard")
	}
	if c.Facts == nil {
		missing = append(missing, "fact publisher")
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("ingress: missing %s", strings.Join(missing, ", "))
	}
	in := &Ingress{
		secret:   bytes.Clone(c.Secret),
		secrets:  c.Secrets,
		requests: c.Requests,
		replay:   c.Replay,
		facts:    c.Facts,
		now:      c.Now,
		log:      c.Logger,
	}
	if in.now == nil {
		in.now = time.Now
	}
	if in.log == nil {
		in.log = slog.Default()
	}
	return in, nil
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
// JSON, event filter, payload fields, replay guard; then enqueues a Request
// (dedup id = delivery id), records the delivery id, and publishes
// dispatch.request.accepted. The delivery id is recorded only after the
// enqueue succeeded, so a redelivery of a failed attempt is processed.
func (in *Ingress) Accept(ctx context.Context, d WebhookDelivery) IngressResult {
	log := in.log.With("correlation_id", LogSafe(d.ID))
	r := in.accept(ctx, d, log)
	switch r.Status {
	case IngressAccepted:
		log.Info("webhook accepted", "event", d.Event)
	case IngressIgnored:
		log.Info("webhook ignored", "event", LogSafe(d.Event))
	case IngressUnavailable:
		log.Error("webhook not accepted: store unavailable", "error", r.Err)
	default:
		log.Warn("webhook rejected", "outcome", r.Status.String(), "detail", r.Detail)
	}
	return r
}

func (in *Ingress) accept(ctx context.Context, d WebhookDelivery, log *slog.Logger) IngressResult {
	switch {
	case d.ID == "":
		return IngressResult{Status: IngressMissingInput, Detail: "missing " + HeaderDelivery}
	case d.Event == "":
		return IngressResult{Status: IngressMissingInput, Detail: "missing " + HeaderEvent}
	case len(d.Body) == 0:
		return IngressResult{Status: IngressMissingInput, Detail: "empty body"}
	case len(d.ID) > MaxDeliveryIDLen || !printable(d.ID):
		return IngressResult{Status: IngressMissingInput, Detail: HeaderDelivery + " is not a valid delivery id"}
	}
	// An empty signature fails here (401), never with a server error.
	// (pkg/httpapi answers 400 earlier when the header is absent.)
	ok, err := in.verify(ctx, d)
	if err != nil {
		return IngressResult{Status: IngressUnavailable, Err: fmt.Errorf("webhook secret: %w", err)}
	}
	if !ok {
		return IngressResult{Status: IngressBadSignature}
	}
	if !isJSONMediaType(d.ContentType) {
		return IngressResult{Status: IngressUnsupportedMedia,
			Detail: "content type must be application/json (set the webhook's content type to application/json)"}
	}
	var env webhookEnvelope
	if b := bytes.TrimLeft(d.Body, " \t\r\n"); len(b) == 0 || b[0] != '{' {
		return IngressResult{Status: IngressInvalidJSON, Detail: "the payload must be a JSON object"}
	}
	if err := json.Unmarshal(d.Body, &env); err != nil {
		return IngressResult{Status: IngressInvalidJSON}
	}
	if d.Event != "workflow_run" {
		return IngressResult{Status: IngressIgnored}
	}
	var action string
	if len(env.Action) > 0 && json.Unmarshal(env.Action, &action) != nil {
		return IngressResult{Status: IngressInvalidPayload, Detail: "action"}
	}
	if action != "completed" {
		return IngressResult{Status: IngressIgnored}
	}
	fields, detail := validateWorkflowRun(env)
	if detail != "" {
		return IngressResult{Status: IngressInvalidPayload, Detail: detail}
	}

	seen, err := in.replay.Seen(ctx, d.ID)
	if err != nil {
		return IngressResult{Status: IngressUnavailable, Err: fmt.Errorf("replay guard: %w", err)}
	}
	if seen {
		return IngressResult{Status: IngressDuplicate}
	}

	now := in.now().UTC()
	msg, err := json.Marshal(Request{
		DeliveryID: d.ID,
		Event:      d.Event,
		ReceivedAt: now,
		Payload:    env.trimmed(),
	})
	if err != nil { // cannot happen: every part was validated JSON
		return IngressResult{Status: IngressUnavailable, Err: fmt.Errorf("encode request: %w", err)}
	}
	if err := in.requests.Enqueue(ctx, d.ID, msg); err != nil {
		return IngressResult{Status: IngressUnavailable, Err: fmt.Errorf("enqueue request: %w", err)}
	}

	// The request is durable: from here on a failure must not turn into an
	// error answer (GitHub would show the delivery as failed although the
	// work will happen), nor be cut short by the caller going away.
	ctx = context.WithoutCancel(ctx)
	if err := in.replay.Record(ctx, d.ID); err != nil {
		// A redelivery inside the window would be enqueued again; the
		// planner and dispatcher are idempotent, so that is harmless.
		log.Warn("delivery enqueued but not recorded in the replay guard", "error", err)
	}
	fact := facts.New(facts.TypeRequestAccepted, now, facts.Data{
		DeliveryID:     d.ID,
		SourceRepo:     fields.repo,
		SourceWorkflow: dispatching.WorkflowBase(fields.path),
		SourceRunID:    fields.runID,
		RunAttempt:     fields.attempt,
	})
	if err := in.facts.Publish(ctx, fact); err != nil {
		// The planner publishes the same fact (same id) again when it
		// handles the request, so it is only late, not lost.
		log.Warn("publish request accepted fact failed; the planner will publish it", "error", err)
	}
	return IngressResult{Status: IngressAccepted}
}

// verify checks the signature against the secret, or against every
// secret the WebhookSecrets source gives.
func (in *Ingress) verify(ctx context.Context, d WebhookDelivery) (bool, error) {
	if in.secrets == nil {
		return VerifySignature(in.secret, d.Body, d.Signature), nil
	}
	secrets, err := in.secrets.WebhookSecrets(ctx)
	if err != nil {
		return false, err
	}
	ok := false
	for _, s := range secrets { // every one is checked: the time does not tell which matched
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

// webhookEnvelope holds the parts of a workflow_run payload the pipeline
// forwards; everything else (sender, organization, workflow, ...) is
// dropped from the queue message to keep it small.
type webhookEnvelope struct {
	Action       json.RawMessage `json:"action"`
	Installation json.RawMessage `json:"installation"`
	Repository   json.RawMessage `json:"repository"`
	WorkflowRun  json.RawMessage `json:"workflow_run"`
}

// trimmed is the forwarded payload: a JSON object with only the four parts
// plan.ParseEvent reads.
func (e webhookEnvelope) trimmed() json.RawMessage {
	var b bytes.Buffer
	b.Grow(len(e.Action) + len(e.Installation) + len(e.Repository) + len(e.WorkflowRun) + 64)
	b.WriteString(`{"action":`)
	b.Write(e.Action)
	b.WriteString(`,"installation":`)
	b.Write(e.Installation)
	b.WriteString(`,"repository":`)
	b.Write(e.Repository)
	b.WriteString(`,"workflow_run":`)
	b.Write(e.WorkflowRun)
	b.WriteByte('}')
	return b.Bytes()
}

type runFields struct {
	repo    string
	path    string
	runID   int64
	attempt int
}

// validateWorkflowRun checks the fields the pipeline needs and returns the
// name of the first missing or mistyped one.
func validateWorkflowRun(e webhookEnvelope) (runFields, string) {
	var f runFields
	var instID int64
	inst, ok := object(e.Installation)
	if !ok || !positive(inst["id"], &instID) {
		return f, "installation.id"
	}
	repo, ok := object(e.Repository)
	if !ok {
		return f, "repository"
	}
	owner, _ := object(repo["owner"])
	var login, name string
	if !nonEmpty(owner["login"], &login) {
		return f, "repository.owner.login"
	}
	if !nonEmpty(repo["name"], &name) {
		return f, "repository.name"
	}
	run, ok := object(e.WorkflowRun)
	if !ok {
		return f, "workflow_run"
	}
	if !positive(run["id"], &f.runID) {
		return f, "workflow_run.id"
	}
	if !nonEmpty(run["path"], &f.path) {
		return f, "workflow_run.path"
	}
	var attempt int64
	if positive(run["run_attempt"], &attempt) && attempt < 1<<31 {
		f.attempt = int(attempt)
	}
	f.repo = login + "/" + name
	return f, ""
}

// object decodes raw when it is a JSON object.
func object(raw json.RawMessage) (map[string]json.RawMessage, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return nil, false
	}
	var m map[string]json.RawMessage
	return m, json.Unmarshal(raw, &m) == nil
}

// positive decodes a positive integer into v.
func positive(raw json.RawMessage, v *int64) bool {
	var n int64
	if len(raw) == 0 || json.Unmarshal(raw, &n) != nil || n <= 0 { // null leaves n at 0
		return false
	}
	*v = n
	return true
}

// nonEmpty decodes a non-empty string into v.
func nonEmpty(raw json.RawMessage, v *string) bool {
	var s string
	if len(raw) == 0 || json.Unmarshal(raw, &s) != nil || s == "" {
		return false
	}
	*v = s
	return true
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
