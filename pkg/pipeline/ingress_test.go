package pipeline_test

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/dispatcher-dev/dispatcher/pkg/facts"
	"github.com/dispatcher-dev/dispatcher/pkg/pipeline"
	"github.com/dispatcher-dev/dispatcher/pkg/pipeline/pipelinetest"
	"github.com/dispatcher-dev/dispatcher/pkg/plan"
)

// GitHub's published test vector (validating-webhook-deliveries).
func TestSignGitHubVector(t *testing.T) {
	got := pipeline.Sign([]byte("It's a Secret to Everybody"), []byte("Hello, World!"))
	want := "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
	if got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
	if !pipeline.VerifySignature([]byte("It's a Secret to Everybody"), []byte("Hello, World!"), want) {
		t.Fatal("the vector does not verify")
	}
}

func TestVerifySignatureRejects(t *testing.T) {
	body := []byte(`{"a":1}`)
	good := pipeline.Sign([]byte(secret), body)
	for name, sig := range map[string]string{
		"empty":           "",
		"invalid":         "sha256=invalid",
		"upper-case hex":  "sha256=" + strings.ToUpper(strings.TrimPrefix(good, "sha256=")),
		"no prefix":       strings.TrimPrefix(good, "sha256="),
		"sha1 prefix":     "sha1=" + strings.TrimPrefix(good, "sha256="),
		"other secret":    pipeline.Sign([]byte("other"), body),
		"one char short":  good[:len(good)-1],
		"trailing spaces": good + " ",
	} {
		if pipeline.VerifySignature([]byte(secret), body, sig) {
			t.Errorf("%s: %q verified", name, sig)
		}
	}
	if pipeline.VerifySignature(nil, body, pipeline.Sign(nil, body)) {
		t.Error("an empty secret verified a signature")
	}
	if !pipeline.VerifySignature([]byte(secret), body, good) {
		t.Error("the good signature did not verify")
	}
}

func TestNewIngressRefusesWithoutSecretOrPorts(t *testing.T) {
	ok := pipeline.IngressConfig{Secret: []byte("s"), Apply: pipeline.PortApplier{}}
	if _, err := pipeline.NewIngress(ok); err != nil {
		t.Fatalf("complete config: %v", err)
	}
	noSecret := ok
	noSecret.Secret = nil
	_, err := pipeline.NewIngress(noSecret)
	if err == nil || !strings.Contains(err.Error(), "GITHUB_WEBHOOK_SECRET") {
		t.Fatalf("no secret: err = %v, want one naming GITHUB_WEBHOOK_SECRET", err)
	}
	noApply := ok
	noApply.Apply = nil
	if _, err := pipeline.NewIngress(noApply); err == nil {
		t.Fatal("no applier: no error")
	}
}

func TestAcceptChecks(t *testing.T) {
	good := payload(t, apiRun, nil)
	edit := func(f func(m map[string]any)) []byte { return payload(t, apiRun, f) }
	run := func(m map[string]any) map[string]any { return m["workflow_run"].(map[string]any) }
	signed := func(body []byte) pipeline.WebhookDelivery { return delivery("d-1", body) }
	cases := []struct {
		name   string
		d      pipeline.WebhookDelivery
		status pipeline.IngressStatus
		detail string
	}{
		{"valid", signed(good), pipeline.IngressAccepted, ""},
		{"no delivery id", func() pipeline.WebhookDelivery { d := signed(good); d.ID = ""; return d }(), pipeline.IngressMissingInput, "missing X-GitHub-Delivery"},
		{"no event", func() pipeline.WebhookDelivery { d := signed(good); d.Event = ""; return d }(), pipeline.IngressMissingInput, "missing X-GitHub-Event"},
		{"empty body", signed(nil), pipeline.IngressMissingInput, "empty body"},
		{"delivery id with a newline", func() pipeline.WebhookDelivery { d := signed(good); d.ID = "a\nb"; return d }(), pipeline.IngressMissingInput, "X-GitHub-Delivery is not a valid delivery id"},
		{"empty signature", func() pipeline.WebhookDelivery { d := signed(good); d.Signature = ""; return d }(), pipeline.IngressBadSignature, ""},
		{"invalid signature", func() pipeline.WebhookDelivery { d := signed(good); d.Signature = "sha256=invalid"; return d }(), pipeline.IngressBadSignature, ""},
		{"signature of another body", func() pipeline.WebhookDelivery { d := signed(good); d.Body = append([]byte(" "), good...); return d }(), pipeline.IngressBadSignature, ""},
		{"form encoded", func() pipeline.WebhookDelivery {
			d := signed(good)
			d.ContentType = "application/x-www-form-urlencoded"
			return d
		}(), pipeline.IngressUnsupportedMedia, "content type must be application/json (set the webhook's content type to application/json)"},
		{"json with charset", func() pipeline.WebhookDelivery {
			d := signed(good)
			d.ContentType = "application/json; charset=utf-8"
			return d
		}(), pipeline.IngressAccepted, ""},
		{"not json", signed([]byte("not-json")), pipeline.IngressInvalidJSON, "the payload must be a JSON object"},
		{"truncated json", signed(good[:len(good)-1]), pipeline.IngressInvalidJSON, ""},
		{"json array", signed([]byte(`[1,2]`)), pipeline.IngressInvalidJSON, "the payload must be a JSON object"},
		{"json null", signed([]byte(`null`)), pipeline.IngressInvalidJSON, "the payload must be a JSON object"},
		{"ping event", func() pipeline.WebhookDelivery { d := signed([]byte(`{"zen":"hi"}`)); d.Event = "ping"; return d }(), pipeline.IngressIgnored, ""},
		{"requested action", signed(edit(func(m map[string]any) { m["action"] = "requested" })), pipeline.IngressIgnored, ""},
		{"no action", signed(edit(func(m map[string]any) { delete(m, "action") })), pipeline.IngressIgnored, ""},
		{"numeric action", signed(edit(func(m map[string]any) { m["action"] = 1 })), pipeline.IngressInvalidPayload, "action"},
		{"no installation", signed(edit(func(m map[string]any) { delete(m, "installation") })), pipeline.IngressInvalidPayload, "installation.id"},
		{"installation id string", signed(edit(func(m map[string]any) { m["installation"] = map[string]any{"id": "7"} })), pipeline.IngressInvalidPayload, "installation.id"},
		{"installation id zero", signed(edit(func(m map[string]any) { m["installation"] = map[string]any{"id": 0} })), pipeline.IngressInvalidPayload, "installation.id"},
		{"no repository", signed(edit(func(m map[string]any) { delete(m, "repository") })), pipeline.IngressInvalidPayload, "repository"},
		{"no owner login", signed(edit(func(m map[string]any) {
			m["repository"].(map[string]any)["owner"] = map[string]any{}
			delete(m["repository"].(map[string]any), "full_name")
		})), pipeline.IngressInvalidPayload, "repository.owner.login"},
		{"empty repository name", signed(edit(func(m map[string]any) {
			m["repository"].(map[string]any)["name"] = ""
			delete(m["repository"].(map[string]any), "full_name")
		})), pipeline.IngressInvalidPayload, "repository.name"},
		// The planner's parser takes full_name when owner.login is missing;
		// ingress uses the same parser, so it accepts what the planner can plan.
		{"owner from full_name", signed(edit(func(m map[string]any) { m["repository"].(map[string]any)["owner"] = map[string]any{} })), pipeline.IngressAccepted, ""},
		// A payload the planner would refuse is refused at the door (the
		// planner used to dead-letter a signed payload with a numeric conclusion).
		{"numeric conclusion", signed(edit(func(m map[string]any) { run(m)["conclusion"] = 1 })), pipeline.IngressInvalidPayload, "workflow_run.conclusion"},
		{"head_branch object", signed(edit(func(m map[string]any) { run(m)["head_branch"] = map[string]any{} })), pipeline.IngressInvalidPayload, "workflow_run.head_branch"},
		{"no workflow_run", signed(edit(func(m map[string]any) { delete(m, "workflow_run") })), pipeline.IngressInvalidPayload, "workflow_run"},
		{"workflow_run not an object", signed(edit(func(m map[string]any) { m["workflow_run"] = "x" })), pipeline.IngressInvalidPayload, "workflow_run"},
		{"no run id", signed(edit(func(m map[string]any) { delete(run(m), "id") })), pipeline.IngressInvalidPayload, "workflow_run.id"},
		{"fractional run id", signed(edit(func(m map[string]any) { run(m)["id"] = 1.5 })), pipeline.IngressInvalidPayload, "workflow_run.id"},
		{"null run id", signed(edit(func(m map[string]any) { run(m)["id"] = nil })), pipeline.IngressInvalidPayload, "workflow_run.id"},
		{"no path", signed(edit(func(m map[string]any) { delete(run(m), "path") })), pipeline.IngressInvalidPayload, "workflow_run.path"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			r := w.ingress.Accept(t.Context(), tc.d)
			if r.Status != tc.status {
				t.Fatalf("status = %v (%q, %v), want %v", r.Status, r.Detail, r.Err, tc.status)
			}
			// Payload details name the field first, then what was expected.
			if tc.detail != "" && r.Detail != tc.detail && !(tc.status == pipeline.IngressInvalidPayload && strings.HasPrefix(r.Detail, tc.detail+": ")) {
				t.Errorf("detail = %q, want %q", r.Detail, tc.detail)
			}
			enqueued := len(w.requests.Pending())
			if want := map[bool]int{true: 1, false: 0}[tc.status == pipeline.IngressAccepted]; enqueued != want {
				t.Errorf("enqueued %d requests, want %d", enqueued, want)
			}
			if tc.status != pipeline.IngressAccepted && w.replay.Recorded(tc.d.ID) {
				t.Error("a rejected delivery was recorded in the replay guard")
			}
		})
	}
}

func TestAcceptEnqueuesDecodedRequestThenRecordsAndPublishes(t *testing.T) {
	w := newWorld(t)
	body := payload(t, apiRun, nil)
	if r := w.ingress.Accept(t.Context(), delivery("d-ok", body)); r.Status != pipeline.IngressAccepted {
		t.Fatalf("status %v", r.Status)
	}
	pending := w.requests.Pending()
	if len(pending) != 1 || pending[0].DedupID != "d-ok" {
		t.Fatalf("pending = %+v, want one message with dedup id d-ok", pending)
	}
	var req pipeline.Request
	if err := json.Unmarshal(pending[0].Body, &req); err != nil {
		t.Fatal(err)
	}
	if req.DeliveryID != "d-ok" || req.Event != "workflow_run" || !req.ReceivedAt.Equal(w.clock.Now()) {
		t.Errorf("request = %+v", req)
	}
	if strings.Contains(string(pending[0].Body), "octocat") || len(req.Payload) != 0 {
		t.Error("the request holds the raw payload (the sender, too), not the decoded event")
	}
	want, err := plan.ParseEvent(body)
	if err != nil {
		t.Fatal(err)
	}
	if req.Run == nil || !reflect.DeepEqual(*req.Run, want) {
		t.Fatalf("request run = %+v, want the event the engine parses from the payload: %+v", req.Run, want)
	}
	ev := *req.Run
	if ev.InstallationID != 7 || ev.Repository.FullName() != "acme/api" || ev.Run.ID != 42 || ev.Run.HeadSHA == "" {
		t.Errorf("parsed event = %+v", ev)
	}
	if !w.replay.Recorded("d-ok") {
		t.Error("delivery not recorded after the enqueue")
	}
	got := w.facts.OfType(facts.TypeRequestAccepted)
	if len(got) != 1 {
		t.Fatalf("accepted facts = %d, want 1", len(got))
	}
	d := got[0].Data
	if d.DeliveryID != "d-ok" || d.SourceRepo != "acme/api" || d.SourceWorkflow != "ci.yml" || d.SourceRunID != 42 || d.RunAttempt != 1 {
		t.Errorf("fact data = %+v (workflow must be the base name)", d)
	}
}

// The replay window, with a fake clock: a duplicate inside 10 minutes is
// refused, the same id after the window is accepted again.
func TestAcceptReplayWindow(t *testing.T) {
	w := newWorld(t)
	body := payload(t, apiRun, nil)
	if r := w.ingress.Accept(t.Context(), delivery("d-dup", body)); r.Status != pipeline.IngressAccepted {
		t.Fatalf("first: %v", r.Status)
	}
	w.clock.Advance(9*time.Minute + 59*time.Second)
	if r := w.ingress.Accept(t.Context(), delivery("d-dup", body)); r.Status != pipeline.IngressDuplicate {
		t.Fatalf("inside the window: %v, want duplicate", r.Status)
	}
	w.clock.Advance(2 * time.Second)
	if r := w.ingress.Accept(t.Context(), delivery("d-dup", body)); r.Status != pipeline.IngressAccepted {
		t.Fatalf("after the window: %v, want accepted", r.Status)
	}
	if n := len(w.requests.Pending()); n != 2 {
		t.Errorf("enqueued %d, want 2", n)
	}
}

// A failed enqueue is not recorded, so GitHub's redelivery is processed.
func TestAcceptEnqueueFailureThenRedelivery(t *testing.T) {
	w := newWorld(t)
	fail := true
	w.requests.EnqueueErr = func(string, []byte) error {
		if fail {
			return pipelinetest.ErrInjected
		}
		return nil
	}
	body := payload(t, apiRun, nil)
	r := w.ingress.Accept(t.Context(), delivery("d-retry", body))
	if r.Status != pipeline.IngressUnavailable || r.Err == nil {
		t.Fatalf("status %v err %v, want unavailable with a cause", r.Status, r.Err)
	}
	if w.replay.Recorded("d-retry") || w.facts.Count(facts.TypeRequestAccepted) != 0 {
		t.Fatal("a delivery that was not enqueued was recorded or announced")
	}
	fail = false
	if r := w.ingress.Accept(t.Context(), delivery("d-retry", body)); r.Status != pipeline.IngressAccepted {
		t.Fatalf("redelivery: %v, want accepted", r.Status)
	}
}

func TestAcceptStoreFailures(t *testing.T) {
	body := payload(t, apiRun, nil)
	t.Run("replay guard down", func(t *testing.T) {
		w := newWorld(t)
		w.replay.SeenErr = pipelinetest.ErrInjected
		if r := w.ingress.Accept(t.Context(), delivery("d", body)); r.Status != pipeline.IngressUnavailable {
			t.Fatalf("status %v, want unavailable", r.Status)
		}
		if len(w.requests.Pending()) != 0 {
			t.Fatal("enqueued although the replay guard failed")
		}
	})
	t.Run("record fails after enqueue", func(t *testing.T) {
		w := newWorld(t)
		w.replay.RecordErr = pipelinetest.ErrInjected
		if r := w.ingress.Accept(t.Context(), delivery("d", body)); r.Status != pipeline.IngressAccepted {
			t.Fatalf("status %v, want accepted (the request is durable)", r.Status)
		}
	})
	t.Run("publish fails after enqueue; the planner publishes the same fact", func(t *testing.T) {
		w := newWorld(t)
		w.facts.Err = func([]facts.Event) error { return pipelinetest.ErrInjected }
		if r := w.ingress.Accept(t.Context(), delivery("d", body)); r.Status != pipeline.IngressAccepted {
			t.Fatalf("status %v, want accepted", r.Status)
		}
		if !strings.Contains(w.logs.String(), "the planner will publish it") {
			t.Error("the lost fact was not logged")
		}
		w.facts.Err = nil
		msg := w.requests.Pending()[0].Body
		if err := w.planner.HandleRequest(t.Context(), msg, pipeline.Delivery{ReceiveCount: 1}); err != nil {
			t.Fatal(err)
		}
		if n := w.facts.Count(facts.TypeRequestAccepted); n != 1 {
			t.Fatalf("accepted facts after planning = %d, want 1", n)
		}
	})
	t.Run("cancelled caller after the enqueue still records", func(t *testing.T) {
		w := newWorld(t)
		ctx, cancel := context.WithCancel(t.Context())
		w.requests.EnqueueErr = func(string, []byte) error { cancel(); return nil }
		if r := w.ingress.Accept(ctx, delivery("d", body)); r.Status != pipeline.IngressAccepted {
			t.Fatalf("status %v", r.Status)
		}
		if !w.replay.Recorded("d") || w.facts.Count(facts.TypeRequestAccepted) != 1 {
			t.Fatal("record or publish was cut short by the caller's context")
		}
	})
}

func TestAcceptLogsCarryCorrelationID(t *testing.T) {
	w := newWorld(t)
	body := payload(t, apiRun, nil)
	w.facts.Err = func([]facts.Event) error { return pipelinetest.ErrInjected }
	w.ingress.Accept(t.Context(), delivery("d-log", body))
	d := delivery("d-bad", body)
	d.Signature = "sha256=invalid"
	w.ingress.Accept(t.Context(), d)
	lines := w.logs.Lines(t)
	if len(lines) < 3 {
		t.Fatalf("only %d log lines", len(lines))
	}
	for _, l := range lines {
		if id, _ := l["correlation_id"].(string); id != "d-log" && id != "d-bad" {
			t.Errorf("log line without correlation id: %v", l)
		}
	}
	if strings.Contains(w.logs.String(), secret) {
		t.Error("the secret appears in the logs")
	}
}
