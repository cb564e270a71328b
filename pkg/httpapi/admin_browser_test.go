package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/dispatcher-dev/dispatcher/pkg/app"
	"github.com/dispatcher-dev/dispatcher/pkg/facts"
	"github.com/dispatcher-dev/dispatcher/pkg/ghapp"
	"github.com/dispatcher-dev/dispatcher/pkg/ghapp/ghfake"
	"github.com/dispatcher-dev/dispatcher/pkg/pipeline"
	"github.com/dispatcher-dev/dispatcher/pkg/settings"
)

var screenshotDir = flag.String("screenshots", "", "directory for the dashboard screenshots (default $DISPATCHER_ARTIFACTS, else a temporary directory); docs/img holds the README's")

// chromium finds the browser: $CHROMIUM, else Debian's chromium. In CI
// (CI=true) a missing browser fails the test; elsewhere it skips.
func chromium(t *testing.T) string {
	t.Helper()
	for _, c := range []string{os.Getenv("CHROMIUM"), "chromium", "chromium-browser", "google-chrome"} {
		if c == "" {
			continue
		}
		if p, err := exec.LookPath(c); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium not found: CI must run the dashboard browser test (install Debian's chromium or set CHROMIUM)")
	}
	t.Skip("chromium not found (set CHROMIUM); CI runs this test")
	return ""
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

type noSleep struct{}

func (noSleep) Now() time.Time                                   { return time.Now() }
func (noSleep) Sleep(ctx context.Context, _ time.Duration) error { return ctx.Err() }

// startServe runs the real serve stack (app.NewLocal + Run on loopback)
// against a fake GitHub holding examples/world.
func startServe(t *testing.T, extra map[string]string) (url string, l *app.Local, fake *ghfake.Server, logs *lockedBuffer) {
	t.Helper()
	fake = ghfake.New(ghfake.WithT(t))
	t.Cleanup(fake.Close)
	names, err := fake.AddWorld(filepath.Join("..", "..", "examples", "world"))
	if err != nil {
		t.Fatal(err)
	}
	fake.AddRepo(ghfake.Repo{FullName: "acme/billing", Files: map[string]string{".github/workflows/cd.yml": "on: workflow_dispatch\n"}})
	fake.AddInstallation(1234, append(names, "acme/billing")...)
	env := map[string]string{
		"GITHUB_WEBHOOK_SECRET": secret, "GITHUB_APP_ID": fmt.Sprint(fake.AppID()),
		"GITHUB_APP_PRIVATE_KEY": string(fake.PrivateKeyPEM()), "GITHUB_API_URL": fake.URL(),
		"DISPATCHER_DB": filepath.Join(t.TempDir(), "dispatcher.db"), "WEBHOOK_RATE_LIMIT": "0",
		"DISPATCH_RETRY_BASE_DELAY_MS": "1", "APP_VERSION": "v9.9.9-browser", "APP_IMAGE_SHA": "sha256:0123456789abcdef0123456789abcdef",
	}
	for k, v := range extra {
		env[k] = v
	}
	st, err := settings.Load(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	logs = &lockedBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	l, err = app.NewLocal(ctx, st, app.BuildInfo{Version: "v1.2.3-test", Commit: "abc", Date: "2026-01-01"},
		slog.New(slog.NewJSONHandler(logs, nil)),
		app.WithWorkerTimings(10*time.Millisecond, 2*time.Second,
			func(int, error) time.Duration { return time.Millisecond }),
		app.WithGitHubOptions(ghapp.WithClock(noSleep{})))
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		cancel()
		l.Close()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return "http://" + ln.Addr().String(), l, fake, logs
}

// deliver posts examples/webhook/workflow_run.json with run id runID.
func deliver(t *testing.T, url, id string, runID int64) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "examples", "webhook", "workflow_run.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	m["workflow_run"].(map[string]any)["id"] = runID
	body, _ := json.Marshal(m)
	req, _ := http.NewRequest(http.MethodPost, url+"/webhooks/github", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", "workflow_run")
	req.Header.Set("X-GitHub-Delivery", id)
	req.Header.Set("X-Hub-Signature-256", pipeline.Sign([]byte(secret), body))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	rb, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 202 {
		t.Fatalf("delivery %s: %d %s", id, res.StatusCode, rb)
	}
}

// waitUntil polls cond; the deadline only keeps a broken test from
// hanging, nothing asserts how long the work took.
func waitUntil(t *testing.T, what string, cond func() bool, diag func() string) {
	t.Helper()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(90 * time.Second)
	for !cond() {
		select {
		case <-deadline:
			t.Fatalf("gave up waiting for %s\n%s", what, diag())
		case <-tick.C:
		}
	}
}

// newBrowser starts headless Chromium with a fresh profile and no
// background networking (the network here is closed).
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium(t)),
		chromedp.Flag("headless", true), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 900),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx)
	ctx, cancelT := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(func() { cancelT(); cancelC(); cancelA() })
	return ctx
}

func screenshots(t *testing.T) string {
	dir := *screenshotDir
	if dir == "" {
		dir = os.Getenv("DISPATCHER_ARTIFACTS")
	}
	if dir == "" {
		dir = t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// The dashboard in headless Chromium over the real serve stack: two
// deliveries of the example world (five denials each), one dispatch
// failing at GitHub with a 422, and a fact carrying markup.
func TestDashboardInBrowser(t *testing.T) {
	ctx := newBrowser(t) // first: skips early without a browser
	url, l, fake, logs := startServe(t, nil)
	fake.Fail("POST /repos/acme/docs/actions/workflows/*/dispatches",
		ghfake.Fault{Status: 422, Message: "Workflow does not have 'workflow_dispatch' trigger"})

	store := l.Store
	settled := func(outcomes int64) func() bool {
		return func() bool {
			s, err := store.Summary(context.Background())
			if err != nil || s.TriggerSucceeded+s.TriggerFailed < outcomes {
				return false
			}
			for _, q := range []string{app.RequestsQueue, app.TargetsQueue} {
				st, err := store.Queue(q).Stats(context.Background())
				if err != nil || st.Visible+st.NotVisible > 0 {
					return false
				}
			}
			return true
		}
	}
	// One at a time, so that the injected fault meets the first delivery.
	deliver(t, url, "dlv-fail-0001", 5001)
	waitUntil(t, "the first delivery to settle", settled(2), logs.String)
	deliver(t, url, "dlv-ok-0002", 5002)
	waitUntil(t, "the second delivery to settle", settled(4), logs.String)
	// A fact whose text is markup: the page must show it, not run it.
	evil := "acme/<img src=x onerror=window.__xss=1>"
	if err := store.Publish(context.Background(), facts.New(facts.TypeTargetDenied, time.Now(), facts.Data{
		DeliveryID: "dlv-fail-0001", SourceRepo: "acme/api", SourceWorkflow: "ci.yml", SourceRunID: 5001, RunAttempt: 1,
		TargetRepo: evil, TargetWorkflow: "x.yml", Reason: "target_repo_not_allowlisted", Detail: "<script>window.__xss=2</script>",
	})); err != nil {
		if _, err := store.Fold(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Fatal(err)
	}

	// run runs one action and fails the test on an error.
	run := func(what string, a chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, a); err != nil {
			t.Fatalf("%s: %v\n%s", what, err, logs.String())
		}
	}
	text := func(sel string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return v
	}
	eval := func(expr string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
		if err != nil {
			t.Fatalf("evaluate %s: %v", expr, err)
		}
		return v
	}
	loaded := chromedp.WaitVisible(chromedp.CSS(`body[data-loaded="true"]`))

	run("open /admin", chromedp.Steps(chromedp.EmulateViewport(1280, 900), chromedp.Navigate(url+"/admin"), loaded))
	if banner := text("#banner"); !strings.Contains(banner, "System: Red") || !strings.Contains(banner, "Trigger success rate: 75%") {
		t.Errorf("banner %q", banner)
	}
	for card, want := range map[string]string{"requests": "2", "queued": "4", "denied": "11", "succeeded": "3", "failed": "1", "dlq": "1", "rate": "75%"} {
		if got := text(`[data-card="` + card + `"] .v`); got != want {
			t.Errorf("card %s = %q, want %q", card, got, want)
		}
	}
	if n := eval(`String(document.querySelectorAll('#trend-svg g.hour').length)`); n != "24" {
		t.Errorf("trend chart has %s hour groups, want 24", n)
	}
	if failure := text("#failures tbody"); !strings.Contains(failure, "Workflow does not have 'workflow_dispatch' trigger") || !strings.Contains(failure, "acme/docs") {
		t.Errorf("failures table %q", failure)
	}
	if dlq := text("#dlq-hint"); !strings.Contains(dlq, "dispatcher replay-dlq") {
		t.Errorf("DLQ hint %q", dlq)
	}

	// The journey explorer, driven from the keyboard: type the id, press Enter.
	run("journey", chromedp.Steps(
		chromedp.Focus(chromedp.ID("journey-input")),
		chromedp.SendKeys(chromedp.ID("journey-input"), "dlv-fail-0001\r"),
		chromedp.WaitVisible(chromedp.CSS(`#journey[data-state="loaded"] #journey-timeline`)),
	))
	journey := text("#journey")
	for _, want := range []string{"acme/deploy", "inbound_not_authorized", "Workflow does not have 'workflow_dispatch' trigger", evil, "<script>window.__xss=2</script>"} {
		if !strings.Contains(journey, want) {
			t.Errorf("journey lacks %q:\n%s", want, journey)
		}
	}
	timeline := eval(`Array.from(document.querySelectorAll('#journey-timeline li')).map(li => li.dataset.type).join(',')`)
	if !strings.HasPrefix(timeline, facts.TypeRequestAccepted+","+facts.TypePlanCreated) || strings.Count(timeline, facts.TypeTargetDenied) != 6 ||
		strings.Count(timeline, facts.TypeTriggerFailed) != 1 {
		t.Errorf("timeline %s", timeline)
	}
	if x := eval(`String(window.__xss !== undefined || document.querySelector('main img, main script') !== null)`); x != "false" {
		t.Error("markup from a fact was interpreted")
	}
	link, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS(`#journey-targets a[href]`), "href"))
	if err != nil || !strings.Contains(link.Value, "/actions/runs/") {
		t.Errorf("target run link %q (%v)", link.Value, err)
	}
	// The id is held in the URL, so the journey can be shared.
	if loc := eval(`location.search`); !strings.Contains(loc, "delivery=dlv-fail-0001") {
		t.Errorf("location %q", loc)
	}

	dir := screenshots(t)
	shot := func(name string, a chromedp.Action[[]byte]) {
		t.Helper()
		b, err := chromedp.Run(ctx, a)
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		if !bytes.HasPrefix(b, []byte("\x89PNG")) {
			t.Errorf("%s is not a PNG", name)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	run("light", chromedp.Steps(chromedp.EmulateViewport(1280, 1200), chromedp.Navigate(url+"/admin?delivery=dlv-ok-0002&refresh=off"), loaded,
		chromedp.WaitVisible(chromedp.CSS(`#journey[data-state="loaded"]`))))
	shot("dashboard-light.png", chromedp.CaptureScreenshot())
	if _, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
		Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}}}); err != nil {
		t.Fatal(err)
	}
	if bg := eval(`getComputedStyle(document.body).backgroundColor`); bg != "rgb(13, 17, 23)" {
		t.Errorf("dark mode background %q", bg)
	}
	shot("dashboard-dark.png", chromedp.CaptureScreenshot())
	run("phone", chromedp.Steps(chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile),
		chromedp.Navigate(url+"/admin?refresh=off"), loaded))
	if o := eval(`String(document.documentElement.scrollWidth > window.innerWidth + 1)`); o != "false" {
		t.Error("the page scrolls sideways on a 390px phone")
	}
	shot("dashboard-phone.png", chromedp.CaptureScreenshot())
	t.Logf("screenshots in %s", dir)
}

// With ADMIN_TOKEN set, the page asks for the token once, keeps it in the
// tab's session storage, and says so when it is refused.
func TestDashboardAsksForToken(t *testing.T) {
	ctx := newBrowser(t)
	const token = "browser-token-0123456789"
	url, _, _, logs := startServe(t, map[string]string{"ADMIN_TOKEN": token})
	do := func(what string, a ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, a...); err != nil {
			t.Fatalf("%s: %v\n%s", what, err, logs.String())
		}
	}
	eval := func(expr string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
		if err != nil {
			t.Fatalf("evaluate %s: %v", expr, err)
		}
		return v
	}
	do("open", chromedp.Navigate(url+"/admin"), chromedp.WaitVisible(chromedp.ID("token-form")))
	do("wrong token", chromedp.SendKeys(chromedp.ID("token-input"), "wrong\r"),
		chromedp.WaitVisible(chromedp.CSS(`#token-form:not([hidden])`)))
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.getElementById('token-error').textContent === 'The token was refused.'`)); err != nil {
		t.Fatalf("refused token message: %v", err)
	}
	do("right token", chromedp.SendKeys(chromedp.ID("token-input"), token+"\r"),
		chromedp.WaitVisible(chromedp.CSS(`body[data-loaded="true"]`)))
	if got := eval(`sessionStorage.getItem('dispatcher-admin-token')`); got != token {
		t.Errorf("session storage holds %q", got)
	}
	// A reload uses the stored token: no second prompt.
	do("reload", chromedp.Navigate(url+"/admin"), chromedp.WaitVisible(chromedp.CSS(`body[data-loaded="true"]`)))
	if hidden := eval(`String(document.getElementById('token-form').hidden)`); hidden != "true" {
		t.Error("the token was asked again after a reload")
	}
	if !strings.Contains(logs.String(), `"reason":"token_invalid"`) {
		t.Error("the refused token was not logged with its reason")
	}
}
