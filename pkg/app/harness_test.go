package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dispatcher-dev/dispatcher/pkg/app"
	"github.com/dispatcher-dev/dispatcher/pkg/facts"
	"github.com/dispatcher-dev/dispatcher/pkg/ghapp"
	"github.com/dispatcher-dev/dispatcher/pkg/ghapp/ghfake"
	"github.com/dispatcher-dev/dispatcher/pkg/local"
	"github.com/dispatcher-dev/dispatcher/pkg/pipeline"
	"github.com/dispatcher-dev/dispatcher/pkg/settings"
)

const (
	secret       = "it's a secret to everybody"
	installation = 1234
	dispatchPath = "POST /repos/*/*/actions/workflows/*/dispatches"
)

var repoRoot = filepath.Join("..", "..")

// newWorld starts a fake GitHub holding the repositories of
// examples/world (files, workflows, default branch from repo.yml), plus
// acme/billing (a repository without dispatching.yml), all in one
// installation of the App.
func newWorld(t testing.TB, opts ...ghfake.Option) *ghfake.Server {
	t.Helper()
	fake := ghfake.New(append([]ghfake.Option{ghfake.WithT(t)}, opts...)...)
	t.Cleanup(fake.Close)
	names, err := fake.AddWorld(filepath.Join(repoRoot, "examples", "world"))
	if err != nil {
		t.Fatal(err)
	}
	fake.AddRepo(ghfake.Repo{FullName: "acme/billing", Files: map[string]string{".github/workflows/cd.yml": "on: workflow_dispatch\n"}})
	names = append(names, "acme/billing")
	fake.AddInstallation(installation, names...)
	return fake
}

// env is the environment of a serve process talking to fake, with its
// store at db.
func env(fake *ghfake.Server, db string, extra map[string]string) map[string]string {
	e := map[string]string{
		"GITHUB_WEBHOOK_SECRET":        secret,
		"GITHUB_APP_ID":                fmt.Sprint(fake.AppID()),
		"GITHUB_APP_PRIVATE_KEY":       string(fake.PrivateKeyPEM()),
		"GITHUB_API_URL":               fake.URL(),
		"DISPATCHER_DB":                db,
		"LOG_LEVEL":                    "debug",
		"WEBHOOK_RATE_LIMIT":           "0",
		"DISPATCH_RETRY_BASE_DELAY_MS": "1",
		"QUEUE_VISIBILITY_TIMEOUT":     "5s",
		// The GitHub client's clock is instant in these tests (no back-off
		// sleeps), which a pacing budget cannot work with; pacing is tested
		// in pkg/ghapp with a fake clock.
		"GITHUB_WRITES_PER_MINUTE": "0",
	}
	for k, v := range extra {
		e[k] = v
	}
	return e
}

func loadSettings(t testing.TB, e map[string]string) *settings.Settings {
	t.Helper()
	st, err := settings.Load(func(k string) (string, bool) { v, ok := e[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// lines decodes the JSON log lines.
func (b *syncBuffer) lines(t testing.TB) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", l)
		}
		out = append(out, m)
	}
	return out
}

// instantSleep makes the GitHub client's backoff waits return at once
// (the waits themselves are tested in pkg/ghapp).
type instantSleep struct{}

func (instantSleep) Now() time.Time                                   { return time.Now() }
func (instantSleep) Sleep(ctx context.Context, _ time.Duration) error { return ctx.Err() }

// fastOptions are the test timings: a quick idle check, short drain,
// retries after at most 20ms and no GitHub backoff sleeps.
func fastOptions() []app.Option {
	return []app.Option{
		app.WithWorkerTimings(10*time.Millisecond, 2*time.Second,
			func(_ int, err error) time.Duration {
				return min(pipeline.RetryAfterOf(err), 20*time.Millisecond)
			}),
		app.WithGitHubOptions(ghapp.WithClock(instantSleep{})),
		app.WithShutdownTimeout(5 * time.Second),
	}
}

// server is one running serve app.
type server struct {
	t    testing.TB
	URL  string
	App  *app.Local
	Logs *syncBuffer
	stop context.CancelFunc
	done chan error
}

// start runs app.NewLocal + Run on 127.0.0.1:0, as dispatcher serve does.
func start(t testing.TB, st *settings.Settings, opts ...app.Option) *server {
	t.Helper()
	logs := &syncBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: st.SlogLevel()}))
	ctx, cancel := context.WithCancel(context.Background())
	l, err := app.NewLocal(ctx, st, app.BuildInfo{Version: "v1.2.3-test", Commit: "abc", Date: "2026-01-01"}, log,
		append(fastOptions(), opts...)...)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		l.Close()
		cancel()
		t.Fatal(err)
	}
	s := &server{t: t, URL: "http://" + ln.Addr().String(), App: l, Logs: logs, stop: cancel, done: make(chan error, 1)}
	go func() { s.done <- l.Run(ctx, ln) }()
	t.Cleanup(func() { s.Stop() })
	return s
}

// Stop cancels the app's context and waits for Run to return.
func (s *server) Stop() {
	s.t.Helper()
	s.stop()
	if err := <-s.done; err != nil {
		s.t.Errorf("Run: %v", err)
	}
	s.done <- nil // later Stops return at once
}

// send posts a signed webhook and returns the status and body.
func send(t testing.TB, url, event, delivery string, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url+"/webhooks/github", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", event)
	req.Header.Set("X-GitHub-Delivery", delivery)
	req.Header.Set("X-Hub-Signature-256", pipeline.Sign([]byte(secret), body))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// waitFor polls cond until it holds. The deadline only stops a broken test
// from hanging; nothing asserts how long the work took.
func waitFor(t testing.TB, what string, cond func() bool, diag func() string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			msg := ""
			if diag != nil {
				msg = diag()
			}
			t.Fatalf("gave up waiting for %s\n%s", what, msg)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// settled reports whether both queues have no message left except dead
// letters.
func settled(t testing.TB, store *local.Store) bool {
	t.Helper()
	for _, q := range []string{app.RequestsQueue, app.TargetsQueue} {
		st, err := store.Queue(q).Stats(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if st.Visible+st.NotVisible > 0 {
			return false
		}
	}
	return true
}

func dlq(t testing.TB, store *local.Store, queue string) []local.Message {
	t.Helper()
	ms, err := store.Queue(queue).ListDLQ(context.Background(), local.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

// summary folds the facts not folded yet (the app's folder may lag behind)
// and returns the counters.
func summary(t testing.TB, store *local.Store) facts.Counts {
	t.Helper()
	if _, err := store.Fold(context.Background()); err != nil {
		t.Fatal(err)
	}
	s, err := store.Summary(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return s.Counts
}

// openStore opens a store file for reading after an app stopped.
func openStore(t testing.TB, path string) *local.Store {
	t.Helper()
	s, err := local.Open(context.Background(), path, local.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// samplePayload is examples/webhook/workflow_run.json (acme/api ci.yml,
// run 4242), optionally with another run id.
func samplePayload(t testing.TB, runID int64) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "examples", "webhook", "workflow_run.json"))
	if err != nil {
		t.Fatal(err)
	}
	if runID == 0 {
		return b
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	m["workflow_run"].(map[string]any)["id"] = runID
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// dispatchKey names a dispatch for counting: target, workflow and the
// source run (carried in the sha input of deploy, or the order of docs).
type dispatchKey struct{ Repo, Workflow, Ref, Sha string }

func countDispatches(fake *ghfake.Server) map[string]int {
	out := map[string]int{}
	for _, d := range fake.Dispatches() {
		out[d.Repository+" "+d.Workflow]++
	}
	return out
}

func dumpState(t testing.TB, fake *ghfake.Server, store *local.Store, logs *syncBuffer) func() string {
	return func() string {
		var b strings.Builder
		fmt.Fprintf(&b, "dispatches: %v\n", countDispatches(fake))
		for _, q := range []string{app.RequestsQueue, app.TargetsQueue} {
			st, _ := store.Queue(q).Stats(context.Background())
			fmt.Fprintf(&b, "queue %s: %+v\n", q, st)
			for _, m := range dlq(t, store, q) {
				fmt.Fprintf(&b, "  dead: %s %s\n", m.DeliveryID, m.LastError)
			}
		}
		if logs != nil {
			fmt.Fprintf(&b, "logs:\n%s", logs.String())
		}
		return b.String()
	}
}
