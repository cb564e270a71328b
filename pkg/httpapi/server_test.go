package httpapi_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dispatcher-dev/dispatcher/pkg/internal/npmfixture"
	"github.com/dispatcher-dev/dispatcher/pkg/settings"

	"github.com/dispatcher-dev/dispatcher/pkg/httpapi"
	"github.com/dispatcher-dev/dispatcher/pkg/pipeline"
	"github.com/dispatcher-dev/dispatcher/pkg/pipeline/pipelinetest"
)

const secret = "test-secret"

type env struct {
	clock    *pipelinetest.Clock
	queue    *pipelinetest.Queue
	replay   *pipelinetest.ReplayGuard
	facts    *pipelinetest.Facts
	enqueues atomic.Int32 // calls that reached the queue ("handler called")
	srv      *httpapi.Server
	logs     *bytes.Buffer
}

func newEnv(t testing.TB, edit func(*httpapi.Config)) *env {
	t.Helper()
	e := &env{clock: &pipelinetest.Clock{}, facts: &pipelinetest.Facts{}, logs: &bytes.Buffer{}}
	e.queue = &pipelinetest.Queue{Now: e.clock.Now, EnqueueErr: func(string, []byte) error { e.enqueues.Add(1); return nil }}
	e.replay = &pipelinetest.ReplayGuard{Now: e.clock.Now}
	log := slog.New(slog.NewJSONHandler(e.logs, nil))
	in, err := pipeline.NewIngress(pipeline.IngressConfig{Secret: []byte(secret), Apply: e.applier(log), Now: e.clock.Now, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	c := httpapi.Config{Ingress: in, Build: httpapi.BuildInfo{Version: "1.2.3", Commit: "abc", Date: "2026-01-01"},
		RateLimit: httpapi.DefaultRateLimit, Now: e.clock.Now, Logger: log}
	if edit != nil {
		edit(&c)
	}
	if e.srv, err = httpapi.New(c); err != nil {
		t.Fatal(err)
	}
	return e
}

// applier applies ingress effects to the env's fakes.
func (e *env) applier(log *slog.Logger) pipeline.Applier {
	return pipeline.PortApplier{Queues: map[string]pipeline.Enqueuer{pipeline.QueueRequests: e.queue}, Replay: e.replay, Facts: e.facts, Logger: log}
}

func workflowRun(t testing.TB) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{
		"action":       "completed",
		"installation": map[string]any{"id": 7},
		"repository":   map[string]any{"name": "api", "full_name": "acme/api", "default_branch": "main", "owner": map[string]any{"login": "acme"}},
		"workflow_run": map[string]any{"id": 42, "run_attempt": 1, "path": ".github/workflows/ci.yml", "head_branch": "main",
			"head_sha": "abc", "conclusion": "success", "html_url": "https://github.test/acme/api/actions/runs/42",
			"head_repository": map[string]any{"full_name": "acme/api"}, "repository": map[string]any{"full_name": "acme/api"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// post builds a signed webhook request; edit may change it.
func post(id string, body []byte, edit func(r *http.Request)) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/webhooks/github", bytes.NewReader(body))
	r.RemoteAddr = "203.0.113.9:5555"
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("X-GitHub-Delivery", id)
	r.Header.Set("X-GitHub-Event", "workflow_run")
	r.Header.Set("X-Hub-Signature-256", pipeline.Sign([]byte(secret), body))
	if edit != nil {
		edit(r)
	}
	return r
}

// unsigned is post with a signature that does not verify (what the rate
// limit counts).
func unsigned(id string, body []byte, edit func(r *http.Request)) *http.Request {
	return post(id, body, func(r *http.Request) {
		r.Header.Set("X-Hub-Signature-256", "sha256="+strings.Repeat("0", 64))
		if edit != nil {
			edit(r)
		}
	})
}

type answer struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func (e *env) do(t testing.TB, r *http.Request) answer {
	t.Helper()
	rec := httptest.NewRecorder()
	e.srv.ServeHTTP(rec, r)
	a := answer{status: rec.Code, header: rec.Header(), raw: rec.Body.String()}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s %s: Content-Type %q, want application/json", r.Method, r.URL.Path, ct)
	}
	if r.Method != http.MethodHead {
		if err := json.Unmarshal(rec.Body.Bytes(), &a.body); err != nil {
			t.Errorf("%s %s: body is not a JSON object: %q", r.Method, r.URL.Path, a.raw)
		}
	}
	return a
}

func TestNewRefusesWithoutIngressOrWithBadLimits(t *testing.T) {
	if _, err := httpapi.New(httpapi.Config{}); err == nil || !strings.Contains(err.Error(), "GITHUB_WEBHOOK_SECRET") {
		t.Fatalf("err = %v, want one naming the secret", err)
	}
	if _, err := pipeline.NewIngress(pipeline.IngressConfig{Apply: pipeline.PortApplier{}}); err == nil {
		t.Fatal("an ingress without a secret was built")
	}
	e := newEnv(t, nil)
	in := func() *pipeline.Ingress {
		in, _ := pipeline.NewIngress(pipeline.IngressConfig{Secret: []byte("s"), Apply: e.applier(nil)})
		return in
	}()
	if _, err := httpapi.New(httpapi.Config{Ingress: in, RateLimit: -1}); err == nil {
		t.Fatal("negative rate limit accepted")
	}
}

func TestHealthVersionAndUnknownRoutes(t *testing.T) {
	e := newEnv(t, nil)
	a := e.do(t, httptest.NewRequest(http.MethodGet, "/health", nil))
	if a.status != 200 || a.body["status"] != "ok" {
		t.Errorf("health: %d %s", a.status, a.raw)
	}
	a = e.do(t, httptest.NewRequest(http.MethodGet, "/version", nil))
	if a.status != 200 || a.body["version"] != "1.2.3" || a.body["commit"] != "abc" || a.body["date"] != "2026-01-01" {
		t.Errorf("version: %d %s", a.status, a.raw)
	}
	if a := e.do(t, httptest.NewRequest(http.MethodHead, "/health", nil)); a.status != 200 {
		t.Errorf("HEAD health: %d", a.status)
	}
	if a := e.do(t, httptest.NewRequest(http.MethodGet, "/nope", nil)); a.status != 404 || a.body["error"] != "Not Found" {
		t.Errorf("unknown route: %d %s", a.status, a.raw)
	}
	if a := e.do(t, httptest.NewRequest(http.MethodPost, "/health", nil)); a.status != 405 || a.header.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST /health: %d allow %q", a.status, a.header.Get("Allow"))
	}
	if a := e.do(t, httptest.NewRequest(http.MethodGet, "/webhooks/github", nil)); a.status != 405 || a.header.Get("Allow") != "POST" {
		t.Errorf("GET webhook: %d allow %q", a.status, a.header.Get("Allow"))
	}
	e.srv.Handle("/admin/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(299) }))
	rec := httptest.NewRecorder()
	e.srv.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/admin/x", nil))
	if rec.Code != 299 {
		t.Errorf("mounted route: %d", rec.Code)
	}
}

// Every status code of the webhook table.
func TestWebhookStatusTable(t *testing.T) {
	good := workflowRun(t)
	cases := []struct {
		name   string
		req    *http.Request
		status int
		body   string // exact JSON, or "" to skip
	}{
		{"accepted", post("d-1", good, nil), 202, `{"accepted":true}`},
		{"ignored event", post("d-2", []byte(`{"zen":"x"}`), func(r *http.Request) { r.Header.Set("X-GitHub-Event", "ping") }), 202, `{"accepted":true,"ignored":true}`},
		{"ignored action", post("d-3", []byte(`{"action":"requested"}`), nil), 202, `{"accepted":true,"ignored":true}`},
		{"missing delivery", post("", good, nil), 400, `{"error":"Missing required GitHub webhook headers or payload","detail":"missing X-GitHub-Delivery"}`},
		{"missing event", post("d-4", good, func(r *http.Request) { r.Header.Del("X-GitHub-Event") }), 400, `{"error":"Missing required GitHub webhook headers or payload","detail":"missing X-GitHub-Event"}`},
		{"missing signature", post("d-5", good, func(r *http.Request) { r.Header.Del("X-Hub-Signature-256") }), 400, `{"error":"Missing required GitHub webhook headers or payload","detail":"missing X-Hub-Signature-256"}`},
		{"missing all", post("", good, func(r *http.Request) { r.Header = http.Header{} }), 400, `{"error":"Missing required GitHub webhook headers or payload","detail":"missing X-GitHub-Delivery, X-GitHub-Event, X-Hub-Signature-256"}`},
		{"empty body", post("d-6", nil, nil), 400, `{"error":"Missing required GitHub webhook headers or payload","detail":"empty body"}`},
		{"empty signature", post("d-7", good, func(r *http.Request) { r.Header.Set("X-Hub-Signature-256", "") }), 401, `{"error":"Invalid webhook signature"}`},
		{"bad signature", post("d-8", good, func(r *http.Request) { r.Header.Set("X-Hub-Signature-256", "sha256=invalid") }), 401, `{"error":"Invalid webhook signature"}`},
		{"form encoded", post("d-9", good, func(r *http.Request) { r.Header.Set("Content-Type", "application/x-www-form-urlencoded") }), 415, ""},
		{"no content type", post("d-10", good, func(r *http.Request) { r.Header.Del("Content-Type") }), 415, ""},
		{"bad json", post("d-11", []byte("not-json"), nil), 400, `{"error":"Invalid JSON payload","detail":"the payload must be a JSON object"}`},
		{"invalid payload", post("d-12", []byte(`{"action":"completed","repository":{"name":"r","owner":{"login":"o"}},"workflow_run":{"id":1,"path":"p"}}`), nil), 400, `{"error":"Invalid workflow_run payload","detail":"installation.id: expected a positive number"}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil)
			a := e.do(t, tc.req)
			if a.status != tc.status {
				t.Fatalf("status %d (%s), want %d", a.status, a.raw, tc.status)
			}
			if tc.body != "" && strings.TrimSpace(a.raw) != tc.body {
				t.Errorf("body %s, want %s", strings.TrimSpace(a.raw), tc.body)
			}
			if tc.status == 415 && !strings.Contains(a.raw, "application/json") {
				t.Errorf("415 body does not say what to use: %s", a.raw)
			}
		})
	}
}

// behaviour.md §10, webhook.test.ts, in our terms.
func TestWebhookOriginalCases(t *testing.T) {
	t.Run("invalid signature is 401", func(t *testing.T) {
		e := newEnv(t, nil)
		if a := e.do(t, post("delivery-1", workflowRun(t), func(r *http.Request) { r.Header.Set("X-Hub-Signature-256", "sha256=invalid") })); a.status != 401 {
			t.Fatalf("status %d", a.status)
		}
		if e.enqueues.Load() != 0 {
			t.Fatal("enqueued")
		}
	})
	t.Run("valid is 202 and enqueued once with the delivery context", func(t *testing.T) {
		e := newEnv(t, nil)
		if a := e.do(t, post("delivery-2", workflowRun(t), nil)); a.status != 202 {
			t.Fatalf("status %d %s", a.status, a.raw)
		}
		p := e.queue.Pending()
		if e.enqueues.Load() != 1 || len(p) != 1 {
			t.Fatalf("enqueues %d", e.enqueues.Load())
		}
		var req pipeline.Request
		if err := json.Unmarshal(p[0].Body, &req); err != nil || req.DeliveryID != "delivery-2" || req.Event != "workflow_run" {
			t.Fatalf("request %+v %v", req, err)
		}
	})
	t.Run("the original's minimal body lacks installation.id: 400 here", func(t *testing.T) {
		e := newEnv(t, nil)
		a := e.do(t, post("delivery-2b", []byte(`{"action":"completed","workflow_run":{"id":123},"repository":{"full_name":"owner/repo"}}`), nil))
		if d, _ := a.body["detail"].(string); a.status != 400 || !strings.HasPrefix(d, "installation.id: ") {
			t.Fatalf("status %d %s", a.status, a.raw)
		}
	})
	t.Run("duplicate is 202 then 409", func(t *testing.T) {
		e := newEnv(t, nil)
		body := workflowRun(t)
		if a := e.do(t, post("delivery-duplicate", body, nil)); a.status != 202 {
			t.Fatalf("first %d", a.status)
		}
		if a := e.do(t, post("delivery-duplicate", body, nil)); a.status != 409 || a.body["error"] != "Duplicate webhook delivery" {
			t.Fatalf("second %d %s", a.status, a.raw)
		}
		if e.enqueues.Load() != 1 {
			t.Fatalf("enqueues %d, want 1", e.enqueues.Load())
		}
	})
	t.Run("not-json is 400", func(t *testing.T) {
		e := newEnv(t, nil)
		if a := e.do(t, post("delivery-4", []byte("not-json"), nil)); a.status != 400 {
			t.Fatalf("status %d", a.status)
		}
		if e.enqueues.Load() != 0 {
			t.Fatal("enqueued")
		}
	})
	t.Run("101 unsigned requests from one IP: the last is 429", func(t *testing.T) {
		e := newEnv(t, nil)
		body := workflowRun(t)
		var last answer
		for i := range 101 {
			last = e.do(t, unsigned(fmt.Sprintf("delivery-rl-%d", i), body, nil))
			if i < 100 && last.status != 401 {
				t.Fatalf("request %d: %d", i, last.status)
			}
		}
		if last.status != 429 {
			t.Fatalf("101st: %d", last.status)
		}
		if n := e.enqueues.Load(); n != 0 {
			t.Fatalf("enqueues %d, want 0", n)
		}
		ra, err := strconv.Atoi(last.header.Get("Retry-After"))
		if err != nil || ra < 1 || ra > 60 {
			t.Errorf("Retry-After %q", last.header.Get("Retry-After"))
		}
		if last.header.Get("X-RateLimit-Limit") != "100" || last.header.Get("X-RateLimit-Remaining") != "0" || last.body["error"] != "Rate limit exceeded" {
			t.Errorf("429 answer: %v %s", last.header, last.raw)
		}
	})
}

// TestSignedDeliveriesAreNeverRateLimited: a flood of correctly signed
// deliveries from one address (GitHub sends from a few) is never answered
// 429, even after unsigned requests from the same address exhausted its
// limit; a flood of unsigned ones is.
func TestSignedDeliveriesAreNeverRateLimited(t *testing.T) {
	e := newEnv(t, func(c *httpapi.Config) { c.RateLimit = 3 })
	body := workflowRun(t)
	for i := range 500 {
		a := e.do(t, post(fmt.Sprintf("signed-%d", i), body, nil))
		if a.status != 202 {
			t.Fatalf("signed delivery %d: %d %s", i, a.status, a.raw)
		}
		if a.header.Get("X-RateLimit-Limit") != "" {
			t.Fatalf("signed delivery %d carries rate-limit headers: %v", i, a.header)
		}
	}
	refused := 0
	for i := range 50 {
		switch a := e.do(t, unsigned(fmt.Sprintf("junk-%d", i), body, nil)); a.status {
		case 429:
			refused++
		case 401:
		default:
			t.Fatalf("unsigned %d: %d", i, a.status)
		}
	}
	if refused != 47 {
		t.Errorf("%d of 50 unsigned requests refused, want 47 (limit 3)", refused)
	}
	// Malformed requests count too: missing headers, wrong method.
	if a := e.do(t, post("no-event", body, func(r *http.Request) { r.Header.Del("X-GitHub-Event") })); a.status != 429 {
		t.Errorf("missing header over the limit: %d, want 429", a.status)
	}
	get := httptest.NewRequest(http.MethodGet, "/webhooks/github", nil)
	get.RemoteAddr = "203.0.113.9:6000"
	if a := e.do(t, get); a.status != 429 {
		t.Errorf("GET over the limit: %d, want 429", a.status)
	}
	for i := range 100 {
		if a := e.do(t, post(fmt.Sprintf("signed-after-%d", i), body, nil)); a.status != 202 {
			t.Fatalf("signed delivery after the flood %d: %d", i, a.status)
		}
	}
	// A signed delivery that fails a later check (not JSON) is GitHub's
	// too: answered 400, never 429.
	if a := e.do(t, post("signed-junk", []byte("not-json"), nil)); a.status != 400 {
		t.Errorf("signed, not JSON: %d, want 400", a.status)
	}
	if n := e.enqueues.Load(); n != 600 {
		t.Errorf("%d enqueued, want 600", n)
	}
}

func TestRateLimitWindowClientsAndOff(t *testing.T) {
	e := newEnv(t, func(c *httpapi.Config) { c.RateLimit = 3 })
	body := workflowRun(t)
	from := func(id, addr string) int {
		return e.do(t, unsigned(id, body, func(r *http.Request) { r.RemoteAddr = addr })).status
	}
	for i := range 3 {
		if s := from("a"+strconv.Itoa(i), "198.51.100.1:1"); s != 401 {
			t.Fatalf("a%d: %d", i, s)
		}
	}
	if s := from("a3", "198.51.100.1:2"); s != 429 {
		t.Fatalf("4th from the same IP: %d", s)
	}
	if s := from("b0", "198.51.100.2:1"); s != 401 {
		t.Fatalf("another IP: %d", s)
	}
	// IPv6 clients are grouped by /64.
	for i := range 3 {
		from("v6-"+strconv.Itoa(i), fmt.Sprintf("[2001:db8:1:2::%x]:1", i+1))
	}
	if s := from("v6-x", "[2001:db8:1:2::ff]:1"); s != 429 {
		t.Fatalf("4th from the same /64: %d", s)
	}
	e.clock.Advance(59 * time.Second)
	if s := from("a4", "198.51.100.1:1"); s != 429 {
		t.Fatalf("inside the window: %d", s)
	}
	e.clock.Advance(time.Second)
	if s := from("a5", "198.51.100.1:1"); s != 401 {
		t.Fatalf("after the window: %d", s)
	}

	off := newEnv(t, func(c *httpapi.Config) { c.RateLimit = 0 })
	for i := range 150 {
		if a := off.do(t, post("o"+strconv.Itoa(i), body, nil)); a.status != 202 || a.header.Get("X-RateLimit-Limit") != "" {
			t.Fatalf("limit off, request %d: %d", i, a.status)
		}
	}
}

func TestTrustedProxies(t *testing.T) {
	list, err := settings.ParseIPList("10.0.0.0/8, 192.0.2.1")
	trusted := []netip.Prefix(list)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, func(c *httpapi.Config) { c.RateLimit = 2; c.TrustedProxies = trusted })
	body := workflowRun(t)
	n := 0
	send := func(peer, xff string) int {
		n++
		return e.do(t, unsigned("p"+strconv.Itoa(n), body, func(r *http.Request) {
			r.RemoteAddr = peer
			if xff != "" {
				r.Header.Set("X-Forwarded-For", xff)
			}
		})).status
	}
	// An untrusted peer cannot escape its limit with a spoofed header.
	for i := range 3 {
		s := send("203.0.113.50:1", fmt.Sprintf("198.51.100.%d", i))
		if (i < 2 && s != 401) || (i == 2 && s != 429) {
			t.Fatalf("spoofed XFF from an untrusted peer, request %d: %d", i, s)
		}
	}
	// Through a trusted proxy, two clients have separate limits.
	for i := range 2 {
		if s := send("10.1.2.3:1", "198.51.100.7"); s != 401 {
			t.Fatalf("client 7 request %d: %d", i, s)
		}
		if s := send("10.1.2.3:1", "198.51.100.8"); s != 401 {
			t.Fatalf("client 8 request %d: %d", i, s)
		}
	}
	if s := send("10.1.2.3:1", "198.51.100.7"); s != 429 {
		t.Fatalf("client 7 third request: %d", s)
	}
	// The right-most untrusted hop counts: a client prepending a fake
	// address to the header is still client 8.
	if s := send("10.1.2.3:1", "1.2.3.4, 198.51.100.8, 192.0.2.1"); s != 429 {
		t.Fatalf("client 8 with a forged prefix: %d, want its own (exhausted) limit", s)
	}

	cases := []struct {
		peer, xff string
		want      string
	}{
		{"203.0.113.50:1", "1.1.1.1", "203.0.113.50"},
		{"10.0.0.1:1", "", "10.0.0.1"},
		{"10.0.0.1:1", "1.1.1.1", "1.1.1.1"},
		{"10.0.0.1:1", "1.1.1.1, 2.2.2.2", "2.2.2.2"},
		{"10.0.0.1:1", "1.1.1.1, 10.9.9.9", "1.1.1.1"},
		{"10.0.0.1:1", "10.2.2.2, 10.3.3.3", "10.2.2.2"},
		{"10.0.0.1:1", "1.1.1.1, garbage, 10.3.3.3", "10.3.3.3"},
		{"[::ffff:10.0.0.1]:1", "[2001:db8::1]:443", "2001:db8::1"},
		{"not-an-address", "1.1.1.1", "invalid IP"},
	}
	for _, tc := range cases {
		r := httptest.NewRequest(http.MethodPost, "/", nil)
		r.RemoteAddr = tc.peer
		if tc.xff != "" {
			r.Header.Set("X-Forwarded-For", tc.xff)
		}
		if got := httpapi.ClientIP(r, trusted).String(); got != tc.want {
			t.Errorf("peer %s XFF %q: %s, want %s", tc.peer, tc.xff, got, tc.want)
		}
	}
}

func TestBodyCap(t *testing.T) {
	if httpapi.DefaultMaxBodyBytes != 25*1024*1024 {
		t.Fatalf("default cap %d, want 25 MiB", httpapi.DefaultMaxBodyBytes)
	}
	e := newEnv(t, func(c *httpapi.Config) { c.MaxBodyBytes = 1024 })
	big := bytes.Repeat([]byte("x"), 1025)
	if a := e.do(t, post("big-1", big, nil)); a.status != 413 {
		t.Fatalf("declared length over the cap: %d", a.status)
	}
	// Without a Content-Length (chunked), the reader stops at the cap.
	r := post("big-2", big, nil)
	r.ContentLength = -1
	r.Body = io.NopCloser(bytes.NewReader(big))
	if a := e.do(t, r); a.status != 413 {
		t.Fatalf("chunked body over the cap: %d", a.status)
	}
	if e.enqueues.Load() != 0 {
		t.Fatal("enqueued")
	}
	if a := e.do(t, post("ok", workflowRun(t), nil)); a.status != 202 {
		t.Fatalf("body under the cap: %d", a.status)
	}
}

func TestEnqueueFailureIs503AndNotRecorded(t *testing.T) {
	e := newEnv(t, nil)
	down := true
	e.queue.EnqueueErr = func(string, []byte) error {
		if down {
			return pipelinetest.ErrInjected
		}
		return nil
	}
	body := workflowRun(t)
	a := e.do(t, post("d-x", body, nil))
	if a.status != 503 || a.header.Get("Retry-After") == "" {
		t.Fatalf("status %d, Retry-After %q", a.status, a.header.Get("Retry-After"))
	}
	if strings.Contains(a.raw, "injected") {
		t.Error("the internal error leaked into the answer")
	}
	if e.replay.Recorded("d-x") {
		t.Fatal("recorded after a failed enqueue")
	}
	down = false
	if a := e.do(t, post("d-x", body, nil)); a.status != 202 {
		t.Fatalf("redelivery: %d, want 202", a.status)
	}
}

func TestEveryLogLineHasTheCorrelationID(t *testing.T) {
	e := newEnv(t, func(c *httpapi.Config) { c.RateLimit = 1; c.MaxBodyBytes = 2000 })
	e.do(t, unsigned("c-1", workflowRun(t), nil))
	e.do(t, unsigned("c-2", workflowRun(t), nil)) // rate limited
	e2 := newEnv(t, func(c *httpapi.Config) { c.MaxBodyBytes = 10 })
	e2.do(t, post("c-3", workflowRun(t), nil)) // too large
	for _, logs := range []*bytes.Buffer{e.logs, e2.logs} {
		for _, l := range bytes.Split(bytes.TrimSpace(logs.Bytes()), []byte("\n")) {
			var m map[string]any
			if err := json.Unmarshal(l, &m); err != nil {
				t.Fatalf("not JSON: %s", l)
			}
			if id, _ := m["correlation_id"].(string); !strings.HasPrefix(id, "c-") {
				t.Errorf("line without correlation id: %s", l)
			}
		}
	}
	if !strings.Contains(e.logs.String(), "rate limited") || !strings.Contains(e2.logs.String(), "payload_too_large") {
		t.Error("expected log lines missing")
	}
}

func TestLimiterMemoryIsBounded(t *testing.T) {
	e := newEnv(t, func(c *httpapi.Config) { c.RateLimit = 1; c.MaxClients = 10 })
	body := []byte(`{}`)
	for i := range 50 {
		e.do(t, unsigned("m"+strconv.Itoa(i), body, func(r *http.Request) { r.RemoteAddr = fmt.Sprintf("198.51.100.%d:1", i) }))
	}
	// The 11th and later clients share the overflow window: one passes,
	// the rest are limited together.
	a := e.do(t, unsigned("m-last", body, func(r *http.Request) { r.RemoteAddr = "198.51.100.200:1" }))
	if a.status != 429 {
		t.Fatalf("overflow client: %d, want 429", a.status)
	}
	e.clock.Advance(time.Minute)
	a = e.do(t, unsigned("m-next", body, func(r *http.Request) { r.RemoteAddr = "198.51.100.201:1" }))
	if a.status == 429 {
		t.Fatal("after the window the sweep did not free the table")
	}
}

// A real workflow_run payload from @octokit/webhooks-examples (installed
// under .ci by `make test`), with the installation GitHub Apps receive.
func TestRealOctokitPayload(t *testing.T) {
	examples := npmfixture.WorkflowRunExamples(t)
	tested := 0
	{
		for i, raw := range examples {
			var ex map[string]any
			if err := json.Unmarshal(raw, &ex); err != nil {
				t.Fatal(err)
			}
			ex["installation"] = map[string]any{"id": 99}
			body, _ := json.Marshal(ex)
			e := newEnv(t, nil)
			a := e.do(t, post("octo-"+strconv.Itoa(i), body, nil))
			run, _ := ex["workflow_run"].(map[string]any)
			switch {
			case ex["action"] != "completed":
				if a.status != 202 || a.body["ignored"] != true {
					t.Errorf("example %d (%v): %d %s", i, ex["action"], a.status, a.raw)
				}
			case run["path"] == nil:
				if d, _ := a.body["detail"].(string); a.status != 400 || !strings.HasPrefix(d, "workflow_run.path: ") {
					t.Errorf("example %d without path: %d %s", i, a.status, a.raw)
				}
			default:
				if a.status != 202 || a.body["ignored"] != nil {
					t.Fatalf("example %d: %d %s", i, a.status, a.raw)
				}
				var req pipeline.Request
				json.Unmarshal(e.queue.Pending()[0].Body, &req)
				if req.Run == nil || req.Run.InstallationID != 99 || req.Run.Run.Path == "" {
					t.Fatalf("example %d: forwarded event %+v", i, req.Run)
				}
				tested++
			}
		}
	}
	if tested == 0 {
		t.Fatal("no completed workflow_run example with a path")
	}
}
