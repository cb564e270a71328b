package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/dispatcher-dev/dispatcher/pkg/facts"
	"github.com/dispatcher-dev/dispatcher/pkg/httpapi"
	"github.com/dispatcher-dev/dispatcher/pkg/local"
	"github.com/dispatcher-dev/dispatcher/pkg/pipeline"
	"github.com/dispatcher-dev/dispatcher/pkg/pipeline/pipelinetest"
)

// adminNow is the clock of the scripted stream below.
var adminNow = time.Date(2026, 5, 1, 12, 12, 0, 0, time.UTC)

func at(hh, mm, ss int) time.Time { return time.Date(2026, 5, 1, hh, mm, ss, 0, time.UTC) }

func ip[T any](v T) *T { return &v }

// script is a stream of facts covering every read model: four deliveries
// over three hours, a denial, a success, a failure with GitHub's message, a
// duplicate fact and a delivery whose facts arrive out of order.
func script() []facts.Event {
	d1 := facts.Data{DeliveryID: "d-1", SourceRepo: "acme/api", SourceWorkflow: "ci.yml", SourceRunID: 101, RunAttempt: 1}
	d2 := facts.Data{DeliveryID: "d-2", SourceRepo: "acme/lib", SourceWorkflow: "ci.yml", SourceRunID: 202, RunAttempt: 1}
	d3 := facts.Data{DeliveryID: "d-3", SourceRepo: "acme/api", SourceWorkflow: "ci.yml", SourceRunID: 303, RunAttempt: 1}
	d4 := facts.Data{DeliveryID: "d-4", SourceRepo: "acme/api", SourceWorkflow: "ci.yml", SourceRunID: 404, RunAttempt: 1}
	with := func(d facts.Data, f func(*facts.Data)) facts.Data { f(&d); return d }
	target := func(d facts.Data, repo string) facts.Data {
		return with(d, func(d *facts.Data) { d.TargetRepo, d.TargetWorkflow, d.Ref = repo, "cd.yml", "main" })
	}
	plan := func(d facts.Data, eligible bool, allowed, denied int, reason string) facts.Data {
		return with(d, func(d *facts.Data) {
			d.Eligible, d.Candidates, d.Allowed, d.Denied, d.Reason = ip(eligible), ip(allowed+denied), ip(allowed), ip(denied), reason
		})
	}
	succeeded := facts.New(facts.TypeTriggerSucceeded, at(12, 0, 12), with(target(d1, "acme/web"), func(d *facts.Data) {
		d.Attempts, d.TargetRunID, d.TargetRunURL = 1, 9001, "https://github.com/acme/web/actions/runs/9001"
	}))
	return []facts.Event{
		facts.New(facts.TypeRequestAccepted, at(9, 15, 0), d4),
		facts.New(facts.TypePlanCreated, at(9, 15, 1), plan(d4, true, 0, 0, "")),
		facts.New(facts.TypeRequestAccepted, at(11, 20, 0), d3),
		facts.New(facts.TypePlanCreated, at(11, 20, 1), plan(d3, false, 0, 0, "source_not_default_branch")),
		facts.New(facts.TypeRequestAccepted, at(12, 0, 0), d1),
		facts.New(facts.TypePlanCreated, at(12, 0, 1), plan(d1, true, 2, 1, "")),
		facts.New(facts.TypeTargetDenied, at(12, 0, 1), with(target(d1, "acme/secret"), func(d *facts.Data) {
			d.Reason, d.Detail = "inbound_not_authorized", "no inbound rule of acme/secret/dispatching.yml allows acme/api"
		})),
		facts.New(facts.TypeTargetQueued, at(12, 0, 2), target(d1, "acme/web")),
		facts.New(facts.TypeTargetQueued, at(12, 0, 2), target(d1, "acme/docs")),
		succeeded,
		facts.New(facts.TypeTriggerFailed, at(12, 0, 20), with(target(d1, "acme/docs"), func(d *facts.Data) {
			d.Attempts, d.Error = 1, "Workflow does not have 'workflow_dispatch' trigger"
		})),
		succeeded, // a redelivered fact counts once
		// d-2 out of order: the success is recorded before its request.
		facts.New(facts.TypeTriggerSucceeded, at(12, 10, 30), with(target(d2, "acme/site"), func(d *facts.Data) {
			d.Attempts, d.TargetRunID, d.TargetRunURL = 2, 9002, "https://github.com/acme/site/actions/runs/9002"
		})),
		facts.New(facts.TypeTargetQueued, at(12, 10, 2), target(d2, "acme/site")),
		facts.New(facts.TypePlanCreated, at(12, 10, 1), plan(d2, true, 1, 0, "")),
		facts.New(facts.TypeRequestAccepted, at(12, 10, 0), d2),
	}
}

type adminEnv struct {
	store *local.Store
	srv   *httpapi.Server
	logs  *bytes.Buffer
}

const adminToken = "adm-token-0123456789abcdef"

// newAdminEnv builds a server whose admin reads a store fed with script();
// edit may change the admin configuration. The server is told it listens
// on loopback (newAdminEnvOn does not say where it listens).
func newAdminEnv(t *testing.T, edit func(*httpapi.Config)) *adminEnv {
	t.Helper()
	ctx := context.Background()
	store, err := local.Open(ctx, filepath.Join(t.TempDir(), "d.db"), local.Options{Clock: func() time.Time { return adminNow }, Create: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	if err := store.Publish(ctx, script()...); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Fold(context.Background()); err != nil {
		t.Fatal(err)
	}
	e := newAdminEnvOn(t, store.AdminView("requests", "targets"), store, edit)
	e.srv.ListeningOn(loopback)
	return e
}

var loopback = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 3000}

func newAdminEnvOn(t *testing.T, rd httpapi.AdminReader, store *local.Store, edit func(*httpapi.Config)) *adminEnv {
	t.Helper()
	logs := &bytes.Buffer{}
	log := slog.New(slog.NewJSONHandler(logs, nil))
	clock := pipelinetest.NewClock(adminNow)
	in, err := pipeline.NewIngress(pipeline.IngressConfig{Secret: []byte(secret), Apply: pipeline.PortApplier{
		Queues: map[string]pipeline.Enqueuer{pipeline.QueueRequests: &pipelinetest.Queue{Now: clock.Now}},
		Replay: &pipelinetest.ReplayGuard{Now: clock.Now}, Facts: &pipelinetest.Facts{}}, Now: clock.Now, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	c := httpapi.Config{Ingress: in, Build: httpapi.BuildInfo{Version: "1.2.3", Commit: "abc", Date: "2026-01-01"},
		AppVersion: "img-7", Now: clock.Now, Logger: log,
		Admin: &httpapi.AdminConfig{Reader: rd, AppVersion: "img-7", ImageSHA: "sha256:0123",
			Secrets: []string{secret, adminToken, "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAsecretkeymaterial\n-----END RSA PRIVATE KEY-----"}}}
	if edit != nil {
		edit(&c)
	}
	srv, err := httpapi.New(c)
	if err != nil {
		t.Fatal(err)
	}
	return &adminEnv{store: store, srv: srv, logs: logs}
}

// get serves one GET and returns the status, the body and the headers.
func (e *adminEnv) get(t *testing.T, path string, edit func(*http.Request)) (int, []byte, http.Header) {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, path, nil)
	r.RemoteAddr = "127.0.0.1:40000"
	if edit != nil {
		edit(r)
	}
	w := httptest.NewRecorder()
	e.srv.ServeHTTP(w, r)
	b, _ := io.ReadAll(w.Result().Body)
	return w.Code, b, w.Result().Header
}

// schemas compiles the admin schemas of schemas/.
func adminSchemas(t *testing.T) map[string]*jsonschema.Schema {
	t.Helper()
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	files, err := filepath.Glob("../../schemas/admin-*.schema.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no admin schemas: %v", err)
	}
	ids := map[string]string{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		id := doc.(map[string]any)["$id"].(string)
		if err := c.AddResource(id, doc); err != nil {
			t.Fatal(err)
		}
		ids[strings.TrimSuffix(filepath.Base(f), ".schema.json")] = id
	}
	out := map[string]*jsonschema.Schema{}
	for name, id := range ids {
		s, err := c.Compile(id)
		if err != nil {
			t.Fatalf("compile %s: %v", name, err)
		}
		out[name] = s
	}
	return out
}

func validate(t *testing.T, s *jsonschema.Schema, name string, body []byte) {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("%s: not JSON: %v\n%s", name, err, body)
	}
	if err := s.Validate(v); err != nil {
		t.Errorf("%s does not match its schema: %v\n%s", name, err, body)
	}
}

func decode[T any](t *testing.T, b []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decode: %v\n%s", err, b)
	}
	return v
}

// Every admin route answers with its schema's shape and the numbers of the
// scripted stream.
func TestAdminAPI(t *testing.T) {
	e := newAdminEnv(t, nil)
	schemas := adminSchemas(t)
	ctx := context.Background()
	// One waiting request, one dead letter.
	if err := e.store.Queue("requests").Enqueue(ctx, "x", []byte(`{"delivery_id":"d-9"}`)); err != nil {
		t.Fatal(err)
	}
	if err := e.store.Queue("targets").DLQ().Enqueue(ctx, "y", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}

	t.Run("projections", func(t *testing.T) {
		for _, c := range []struct {
			q    string
			want []facts.RepoCount
		}{
			{"", []facts.RepoCount{{Repo: "acme/lib", Count: 4}}},
			{"?minutes=5", []facts.RepoCount{{Repo: "acme/lib", Count: 4}}},
			{"?minutes=7", []facts.RepoCount{{Repo: "acme/lib", Count: 4}}},
			{"?minutes=15", []facts.RepoCount{{Repo: "acme/api", Count: 7}, {Repo: "acme/lib", Count: 4}}},
			{"?minutes=60", []facts.RepoCount{{Repo: "acme/api", Count: 9}, {Repo: "acme/lib", Count: 4}}},
		} {
			code, b, _ := e.get(t, "/admin/projections"+c.q, nil)
			if code != 200 {
				t.Fatalf("%s: %d %s", c.q, code, b)
			}
			validate(t, schemas["admin-projections"], "projections", b)
			p := decode[httpapi.ProjectionsBody](t, b)
			if diff := cmp.Diff(c.want, p.TopRepos.Repos); diff != "" {
				t.Errorf("top repos %s (-want +got):\n%s", c.q, diff)
			}
		}
		_, b, _ := e.get(t, "/admin/projections?minutes=60", nil)
		p := decode[httpapi.ProjectionsBody](t, b)
		wantSum := httpapi.SummaryBody{Counts: facts.Counts{Total: 15, RequestAccepted: 4, PlanCreated: 4, TargetQueued: 3,
			TargetDenied: 1, TriggerSucceeded: 2, TriggerFailed: 1}, LastEventAt: at(12, 10, 30)}
		if diff := cmp.Diff(wantSum, p.Summary); diff != "" {
			t.Errorf("summary (-want +got):\n%s", diff)
		}
		if len(p.HourlyTrend) != 24 || !p.HourlyTrend[23].Hour.Equal(at(12, 0, 0)) || !p.HourlyTrend[0].Hour.Equal(at(12, 0, 0).Add(-23*time.Hour)) {
			t.Fatalf("trend: %d buckets, %v .. %v", len(p.HourlyTrend), p.HourlyTrend[0].Hour, p.HourlyTrend[len(p.HourlyTrend)-1].Hour)
		}
		totals := map[int]int64{}
		for i, h := range p.HourlyTrend {
			if h.Total > 0 {
				totals[i] = h.Total
			}
		}
		if diff := cmp.Diff(map[int]int64{20: 2, 22: 2, 23: 11}, totals); diff != "" {
			t.Errorf("trend totals by index (-want +got):\n%s", diff)
		}
		if h := p.HourlyTrend[23]; h.TriggerSucceeded != 2 || h.TriggerFailed != 1 || h.RequestAccepted != 2 {
			t.Errorf("hour 12: %+v", h)
		}
		wantLat := facts.LatencySummary{Count: 2, P50Seconds: ip(15.0), P95Seconds: ip(30.0), AvgSeconds: ip(21.0), Estimated: true}
		if diff := cmp.Diff(wantLat, p.Latency); diff != "" {
			t.Errorf("latency (-want +got):\n%s", diff)
		}
		var ids, statuses []string
		for _, d := range p.RecentDeliveries {
			ids, statuses = append(ids, d.DeliveryID), append(statuses, d.Status)
		}
		if diff := cmp.Diff([]string{"d-2", "d-1", "d-3", "d-4"}, ids); diff != "" {
			t.Errorf("recent deliveries (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]string{"success", "partial", "no_dispatch", "no_dispatch"}, statuses); diff != "" {
			t.Errorf("statuses (-want +got):\n%s", diff)
		}
		if d := p.RecentDeliveries[0]; d.Accepted != 1 || d.Queued != 1 || d.Succeeded != 1 || *d.LatencySeconds != 30 || !d.AcceptedAt.Equal(at(12, 10, 0)) {
			t.Errorf("d-2 funnel (out of order): %+v", d)
		}
		if d := p.RecentDeliveries[1]; d.Queued != 2 || d.Denied != 1 || d.Succeeded != 1 || d.Failed != 1 || *d.LatencySeconds != 12 {
			t.Errorf("d-1 funnel: %+v", d)
		}
		if len(p.RecentFailures) != 1 || p.RecentFailures[0].Error != "Workflow does not have 'workflow_dispatch' trigger" ||
			p.RecentFailures[0].TargetRepo != "acme/docs" || p.RecentFailures[0].DeliveryID != "d-1" {
			t.Errorf("failures: %+v", p.RecentFailures)
		}
		wantQ := []facts.QueueDepth{{Name: "requests", Visible: 1, OldestVisibleAt: adminNow}, {Name: "targets", DeadLetters: 1}}
		if diff := cmp.Diff(wantQ, p.Queues); diff != "" {
			t.Errorf("queues (-want +got):\n%s", diff)
		}
	})

	t.Run("health", func(t *testing.T) {
		code, b, _ := e.get(t, "/admin/api/health", nil)
		if code != 200 {
			t.Fatalf("%d %s", code, b)
		}
		validate(t, schemas["admin-health"], "health", b)
		h := decode[httpapi.HealthBody](t, b)
		got := map[string]facts.Status{}
		for _, c := range h.Checks {
			got[c.ID] = c.Status
		}
		want := map[string]facts.Status{
			"event_recency": "green", "trigger_success_rate": "red", "planning_backlog": "green", "dispatch_backlog": "green",
			"end_to_end_latency": "green", "queue_backlog": "green", "dead_letters": "amber", "projection_fold_lag": "green",
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("checks (-want +got):\n%s", diff)
		}
		if h.Status != facts.StatusRed || h.TotalEvents != 15 || h.SuccessRate == nil || *h.SuccessRate != 2.0/3 {
			t.Errorf("status %s total %d rate %v", h.Status, h.TotalEvents, h.SuccessRate)
		}
		if h.Checks[0].Detail != "Last event 2 min ago (green <= 15, amber <= 45, red > 45)." {
			t.Errorf("recency detail %q", h.Checks[0].Detail)
		}
		if !strings.Contains(strings.Join(h.Reasons, "|"), "Trigger success rate: 67% (green >= 95%, amber >= 80%, red < 80%).") {
			t.Errorf("reasons %q", h.Reasons)
		}
	})

	t.Run("repos", func(t *testing.T) {
		code, b, _ := e.get(t, "/admin/api/repos", nil)
		if code != 200 {
			t.Fatalf("%d %s", code, b)
		}
		validate(t, schemas["admin-repos"], "repos", b)
		want := []facts.RepoStats{
			{Repo: "acme/lib", Counts: facts.Counts{Total: 4, RequestAccepted: 1, PlanCreated: 1, TargetQueued: 1, TriggerSucceeded: 1}, LastEventAt: at(12, 10, 30)},
			{Repo: "acme/api", Counts: facts.Counts{Total: 11, RequestAccepted: 3, PlanCreated: 3, TargetQueued: 2, TargetDenied: 1, TriggerSucceeded: 1, TriggerFailed: 1}, LastEventAt: at(12, 0, 20)},
		}
		if diff := cmp.Diff(want, decode[[]facts.RepoStats](t, b)); diff != "" {
			t.Errorf("repos (-want +got):\n%s", diff)
		}
	})

	t.Run("recent events and journey", func(t *testing.T) {
		code, b, _ := e.get(t, "/admin/api/recent-events", nil)
		if code != 200 {
			t.Fatalf("%d %s", code, b)
		}
		validate(t, schemas["admin-events"], "recent events", b)
		evs := decode[[]facts.Event](t, b)
		if len(evs) != 15 || !evs[0].Time.Equal(at(12, 10, 30)) || !evs[14].Time.Equal(at(9, 15, 0)) {
			t.Errorf("recent events: %d, first %v", len(evs), evs[0].Time)
		}
		code, b, _ = e.get(t, "/admin/api/journey?deliveryId=d-2", nil)
		if code != 200 {
			t.Fatalf("%d %s", code, b)
		}
		validate(t, schemas["admin-events"], "journey", b)
		var types []string
		for _, ev := range decode[[]facts.Event](t, b) {
			types = append(types, ev.Type)
		}
		if diff := cmp.Diff([]string{facts.TypeRequestAccepted, facts.TypePlanCreated, facts.TypeTargetQueued, facts.TypeTriggerSucceeded}, types); diff != "" {
			t.Errorf("journey order (-want +got):\n%s", diff)
		}
		code, b, _ = e.get(t, "/admin/api/journey?deliveryId=nope", nil)
		if code != 200 || strings.TrimSpace(string(b)) != "[]" {
			t.Errorf("unknown journey: %d %s", code, b)
		}
		code, b, _ = e.get(t, "/admin/api/journey", nil)
		validate(t, schemas["admin-error"], "journey error", b)
		if code != 400 || !strings.Contains(string(b), "Missing required query parameter: deliveryId") {
			t.Errorf("journey without id: %d %s", code, b)
		}
	})

	t.Run("delivery", func(t *testing.T) {
		code, b, _ := e.get(t, "/admin/api/deliveries/d-1", nil)
		if code != 200 {
			t.Fatalf("%d %s", code, b)
		}
		validate(t, schemas["admin-delivery"], "delivery", b)
		d := decode[httpapi.DeliveryBody](t, b)
		want := []httpapi.TargetTrace{
			{Repository: "acme/secret", Workflow: "cd.yml", Ref: "main", Status: "denied", Reason: "inbound_not_authorized",
				Detail: "no inbound rule of acme/secret/dispatching.yml allows acme/api", Time: at(12, 0, 1)},
			{Repository: "acme/web", Workflow: "cd.yml", Ref: "main", Status: "succeeded", Attempts: 1, RunID: 9001,
				RunURL: "https://github.com/acme/web/actions/runs/9001", Time: at(12, 0, 12)},
			{Repository: "acme/docs", Workflow: "cd.yml", Ref: "main", Status: "failed", Attempts: 1,
				Error: "Workflow does not have 'workflow_dispatch' trigger", Time: at(12, 0, 20)},
		}
		if diff := cmp.Diff(want, d.Targets); diff != "" {
			t.Errorf("targets (-want +got):\n%s", diff)
		}
		if len(d.Journey) != 7 || d.Delivery.Status != "partial" || d.Delivery.LastError == "" {
			t.Errorf("journey %d, funnel %+v", len(d.Journey), d.Delivery)
		}
		code, b, _ = e.get(t, "/admin/api/deliveries/unknown", nil)
		validate(t, schemas["admin-error"], "delivery 404", b)
		if code != 404 {
			t.Errorf("unknown delivery: %d %s", code, b)
		}
	})

	t.Run("version", func(t *testing.T) {
		for _, p := range []string{"/admin/api/version", "/version"} {
			code, b, _ := e.get(t, p, nil)
			if code != 200 {
				t.Fatalf("%s: %d %s", p, code, b)
			}
			validate(t, schemas["admin-version"], p, b)
			v := decode[httpapi.VersionBody](t, b)
			if v.Version != "1.2.3" || v.Commit != "abc" || v.AppVersion != "img-7" {
				t.Errorf("%s: %+v", p, v)
			}
			if (p == "/admin/api/version") != (v.ImageSHA == "sha256:0123") {
				t.Errorf("%s: image sha %q", p, v.ImageSHA)
			}
		}
	})

	t.Run("not found", func(t *testing.T) {
		for _, p := range []string{"/admin/api/health/", "/admin/api/nope", "/admin/x", "/admin/assets/", "/admin/assets/index.html"} {
			code, b, _ := e.get(t, p, nil)
			if code != 404 {
				t.Errorf("%s: %d %s", p, code, b)
			}
			validate(t, schemas["admin-error"], p, b)
		}
	})
}

// /metrics is Prometheus text with the scripted stream's numbers.
func TestAdminMetrics(t *testing.T) {
	e := newAdminEnv(t, nil)
	if err := e.store.Queue("targets").DLQ().Enqueue(context.Background(), "y", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	code, b, h := e.get(t, "/metrics", nil)
	if code != 200 || !strings.HasPrefix(h.Get("Content-Type"), "text/plain; version=0.0.4") {
		t.Fatalf("%d %s", code, h.Get("Content-Type"))
	}
	body := string(b)
	for _, want := range []string{
		`dispatcher_build_info{version="1.2.3",commit="abc",app_version="img-7"} 1`,
		`dispatcher_facts_total{type="dispatch.request.accepted"} 4`,
		`dispatcher_facts_total{type="dispatch.target.denied"} 1`,
		`dispatcher_facts_total{type="dispatch.trigger.succeeded"} 2`,
		`dispatcher_facts_total{type="dispatch.trigger.failed"} 1`,
		`dispatcher_facts_recorded_total 15`,
		`dispatcher_last_fact_timestamp_seconds 1.77763743e+09`,
		`dispatcher_repo_triggers_total{repo="acme/api",outcome="failed"} 1`,
		`dispatcher_queue_messages{queue="requests",state="visible"} 0`,
		`dispatcher_dlq_messages{queue="targets"} 1`,
		`dispatcher_delivery_latency_seconds_bucket{le="10"} 0`,
		`dispatcher_delivery_latency_seconds_bucket{le="15"} 1`,
		`dispatcher_delivery_latency_seconds_bucket{le="30"} 2`,
		`dispatcher_delivery_latency_seconds_bucket{le="+Inf"} 2`,
		`dispatcher_delivery_latency_seconds_sum 42`,
		`dispatcher_delivery_latency_seconds_count 2`,
		`dispatcher_health_status 3`,
		`dispatcher_health_check_status{check="dead_letters"} 2`,
	} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("metrics lack %q", want)
		}
	}
	// Every sample belongs to a family announced by HELP and TYPE.
	typed := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(body), "\n") {
		if f, ok := strings.CutPrefix(line, "# TYPE "); ok {
			typed[strings.Fields(f)[0]] = true
			continue
		}
		if strings.HasPrefix(line, "#") {
			continue
		}
		name := strings.FieldsFunc(line, func(r rune) bool { return r == '{' || r == ' ' })[0]
		base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_sum"), "_count")
		if !typed[name] && !typed[base] {
			t.Errorf("sample without TYPE: %s", line)
		}
	}
}

// The page is self-contained: no URL outside the instance, no HTML built
// from strings, a CSP that allows only its own script and style.
func TestAdminPageSelfContained(t *testing.T) {
	e := newAdminEnv(t, nil)
	code, page, h := e.get(t, "/admin", nil)
	if code != 200 || h.Get("Content-Type") != "text/html; charset=utf-8" || !strings.Contains(string(page), "<title>Dispatcher Admin</title>") {
		t.Fatalf("/admin: %d %s", code, h.Get("Content-Type"))
	}
	csp := h.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "script-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	all := string(page)
	for _, a := range []string{"/admin/assets/app.js", "/admin/assets/app.css"} {
		code, b, h := e.get(t, a, nil)
		if code != 200 || h.Get("Content-Security-Policy") == "" {
			t.Errorf("%s: %d", a, code)
		}
		all += string(b)
	}
	// The only absolute URL is the SVG namespace, which is never fetched.
	rest := strings.ReplaceAll(all, "http://www.w3.org/2000/svg", "")
	for _, bad := range []string{"http://", "https://", "//cdn", "innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "<script>"} {
		if strings.Contains(rest, bad) {
			t.Errorf("dashboard assets contain %q", bad)
		}
	}
}

// Each target keeps its latest fate: an outcome beats queued, a success
// after a failure (a redriven work item) wins, and targets keep their
// order of first appearance (case-insensitive).
func TestTargets(t *testing.T) {
	d := func(typ, repo string, sec int, f func(*facts.Data)) facts.Event {
		x := facts.Data{DeliveryID: "d", SourceRepo: "acme/api", TargetRepo: repo, TargetWorkflow: "cd.yml"}
		if f != nil {
			f(&x)
		}
		return facts.New(typ, at(12, 0, sec), x)
	}
	got := httpapi.Targets([]facts.Event{
		d(facts.TypeRequestAccepted, "", 0, nil),
		d(facts.TypeTargetQueued, "acme/b", 1, nil),
		d(facts.TypeTargetDenied, "acme/a", 1, func(x *facts.Data) { x.Reason = "inbound_not_authorized" }),
		d(facts.TypeTriggerFailed, "acme/b", 2, func(x *facts.Data) { x.Error, x.Attempts = "boom", 3 }),
		d(facts.TypeTriggerSucceeded, "ACME/B", 9, func(x *facts.Data) { x.TargetRunID, x.Attempts = 7, 1 }),
		d(facts.TypeTargetQueued, "acme/b", 10, nil), // a late duplicate does not demote it
	})
	want := []httpapi.TargetTrace{
		{Repository: "acme/b", Workflow: "cd.yml", Status: "succeeded", Attempts: 1, RunID: 7, Time: at(12, 0, 9)},
		{Repository: "acme/a", Workflow: "cd.yml", Status: "denied", Reason: "inbound_not_authorized", Time: at(12, 0, 1)},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("targets (-want +got):\n%s", diff)
	}
	if got := httpapi.Targets(nil); got == nil || len(got) != 0 {
		t.Errorf("no facts: %#v, want an empty list", got)
	}
}

// Label values are escaped in /metrics.
func TestAdminMetricsEscapesLabels(t *testing.T) {
	e := newAdminEnv(t, nil)
	if err := e.store.Publish(context.Background(), facts.New(facts.TypeTriggerFailed, at(12, 11, 0),
		facts.Data{DeliveryID: "q", SourceRepo: "acme/we\"ird\\repo\nx"})); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.Fold(context.Background()); err != nil {
		t.Fatal(err)
	}
	_, b, _ := e.get(t, "/metrics", nil)
	if want := `dispatcher_repo_triggers_total{repo="acme/we\"ird\\repo\nx",outcome="failed"} 1` + "\n"; !strings.Contains(string(b), want) {
		t.Errorf("metrics lack %q", want)
	}
}
