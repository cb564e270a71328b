package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/dispatcher-dev/dispatcher/pkg/httpapi"
	"github.com/dispatcher-dev/dispatcher/pkg/pipeline"
)

// FuzzWebhook sends random headers and bodies, signed or not: the handler
// never panics, never answers 5xx (the stores work), always answers JSON,
// and accepts work only for a correctly signed completed workflow_run.
func FuzzWebhook(f *testing.F) {
	good := workflowRun(f)
	f.Add("d-1", "workflow_run", "application/json", "", good, true)
	f.Add("d-2", "workflow_run", "application/json", "sha256=invalid", good, false)
	f.Add("d-3", "workflow_run", "application/json", "", []byte("not-json"), true)
	f.Add("d-4", "ping", "application/json", "", []byte(`{"zen":"x"}`), true)
	f.Add("", "", "", "", []byte{}, false)
	f.Add("d-5", "workflow_run", "application/x-www-form-urlencoded", "", []byte("payload=%7B%7D"), true)
	f.Add("d-6", "workflow_run", "application/json; charset=utf-8", "", []byte(`{"action":"completed","installation":{"id":"1"},"workflow_run":[]}`), true)
	f.Add("d\n7", "workflow_run", "application/json", "", []byte(`{"action":"completed","installation":{"id":1e400}}`), true)
	f.Add("d-8", "workflow_run", "text/plain", "", []byte(`{"action":"completed"}`), true)

	e := newEnv(f, func(c *httpapi.Config) { c.RateLimit = 0; c.MaxBodyBytes = 1 << 20 })
	f.Fuzz(func(t *testing.T, id, event, contentType, sig string, body []byte, sign bool) {
		r := httptest.NewRequestWithContext(context.Background(), http.MethodPost, "/webhooks/github", bytes.NewReader(body))
		r.RemoteAddr = "192.0.2.10:1"
		set := func(k, v string) {
			if v != "" && !strings.ContainsAny(v, "\r\n\x00") {
				r.Header.Set(k, v)
			} else if v != "" {
				r.Header[k] = []string{v} // a proxy could pass odd bytes through
			}
		}
		set("X-GitHub-Delivery", id)
		set("X-GitHub-Event", event)
		set("Content-Type", contentType)
		if sign {
			sig = pipeline.Sign([]byte(secret), body)
		}
		if sig != "" {
			r.Header["X-Hub-Signature-256"] = []string{sig}
		}
		rec := httptest.NewRecorder()
		e.srv.ServeHTTP(rec, r)
		if rec.Code >= 500 {
			t.Fatalf("status %d for bad input: %s", rec.Code, rec.Body)
		}
		if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
			t.Fatalf("Content-Type %q", ct)
		}
		var out map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
			t.Fatalf("body is not JSON: %q", rec.Body)
		}
		if rec.Code == 202 && out["ignored"] == nil {
			if !pipeline.VerifySignature([]byte(secret), body, sig) {
				t.Fatal("accepted work without a valid signature")
			}
			if event != "workflow_run" {
				t.Fatalf("accepted work for event %q", event)
			}
		}
		if rec.Code == 401 && pipeline.VerifySignature([]byte(secret), body, sig) {
			t.Fatal(fmt.Sprintf("a valid signature got 401 (id %q)", id))
		}
	})
}
