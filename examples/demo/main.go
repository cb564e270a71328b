// Command demo runs dispatcher's main job end to end on this machine, with
// no GitHub App and no network: the real `dispatcher serve` (webhook
// ingress, planner, dispatcher, SQLite store) against a fake GitHub that
// holds the repositories of examples/world, fed the signed sample webhook
// of examples/webhook.
//
//	go run ./examples/demo
//
// It prints what the webhook answered, each dispatch GitHub received, the
// facts recorded for the delivery and the result issue, then stops.
package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/dispatcher-dev/dispatcher/pkg/app"
	"github.com/dispatcher-dev/dispatcher/pkg/facts"
	"github.com/dispatcher-dev/dispatcher/pkg/ghapp/ghfake"
	"github.com/dispatcher-dev/dispatcher/pkg/pipeline"
	"github.com/dispatcher-dev/dispatcher/pkg/settings"
)

const (
	secret       = "demo-webhook-secret"
	installation = 1234 // the installation id in examples/webhook/workflow_run.json
	delivery     = "demo-delivery-1"
)

func main() {
	if err := run(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run(w io.Writer) error {
	root, err := repoRoot()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	// The fake GitHub: examples/world's repositories, one installation.
	// It plays GitHub's REST API (installation tokens, contents, dispatches,
	// runs, issues); see pkg/ghapp/ghfake.
	gh := ghfake.New()
	defer gh.Close()
	repos, err := gh.AddWorld(filepath.Join(root, "examples", "world"))
	if err != nil {
		return err
	}
	// acme/billing has the App installed but no dispatching.yml (it is not
	// in examples/world, where simulate also calls it missing).
	gh.AddRepo(ghfake.Repo{FullName: "acme/billing", Files: map[string]string{".github/workflows/cd.yml": "on: workflow_dispatch\n"}})
	gh.AddInstallation(installation, append(repos, "acme/billing")...)

	// The real serve, configured the way an operator would (environment
	// variables), pointed at the fake with GITHUB_API_URL.
	tmp, err := os.MkdirTemp("", "dispatcher-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	env := map[string]string{
		"GITHUB_WEBHOOK_SECRET":  secret,
		"GITHUB_APP_ID":          fmt.Sprint(gh.AppID()),
		"GITHUB_APP_PRIVATE_KEY": string(gh.PrivateKeyPEM()),
		"GITHUB_API_URL":         gh.URL(),
		"DISPATCHER_DB":          filepath.Join(tmp, "dispatcher.db"),
	}
	st, err := settings.Load(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		return err
	}
	logs := slog.New(slog.NewJSONHandler(io.Discard, nil)) // serve's JSON logs; see docs/serve.md
	srv, err := app.NewLocal(ctx, st, app.BuildInfo{Version: "demo"}, logs)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		srv.Close()
		return err
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- srv.Run(runCtx, ln) }()

	// GitHub's webhook: acme/api's ci.yml completed on main.
	body, err := os.ReadFile(filepath.Join(root, "examples", "webhook", "workflow_run.json"))
	if err != nil {
		stop()
		return err
	}
	url := "http://" + ln.Addr().String() + "/webhooks/github"
	fmt.Fprintf(w, "POST %s  (workflow_run: acme/api ci.yml completed on main)\n", url)
	status, answer, err := post(ctx, url, body)
	if err != nil {
		stop()
		return err
	}
	fmt.Fprintf(w, "  → %d %s\n\n", status, strings.TrimSpace(answer))

	// Wait for the pipeline to settle: the delivery has an outcome for
	// every queued target and the result issue is written.
	var f facts.Funnel
	for {
		var ok bool
		f, ok, err = srv.Store.Delivery(ctx, delivery)
		if err != nil {
			stop()
			return err
		}
		if ok && f.Planned > 0 && f.Succeeded+f.Failed >= f.Queued && len(gh.Issues()) > 0 {
			break
		}
		select {
		case <-ctx.Done():
			stop()
			return fmt.Errorf("the pipeline did not settle: %+v", f)
		case <-time.After(20 * time.Millisecond):
		}
	}

	fmt.Fprintln(w, "GitHub received these workflow_dispatch calls:")
	ds := gh.Dispatches()
	sort.Slice(ds, func(i, j int) bool { return ds[i].Repository < ds[j].Repository })
	for _, d := range ds {
		fmt.Fprintf(w, "  %-12s %-12s ref=%-6s %s\n", d.Repository, d.Workflow, d.Ref, inputs(d.Inputs))
	}
	fmt.Fprintln(w)
	journey, err := srv.Store.Journey(ctx, delivery)
	if err != nil {
		stop()
		return err
	}
	fmt.Fprintf(w, "Facts recorded for delivery %s (CloudEvents, in the SQLite store):\n", delivery)
	for _, e := range journey {
		line := "  " + e.Type
		if e.Data.TargetRepo != "" {
			line += "  " + e.Data.TargetRepo + " " + e.Data.TargetWorkflow
		}
		if e.Data.Reason != "" {
			line += "  (" + e.Data.Reason + ")"
		}
		if e.Data.TargetRunURL != "" {
			line += "  " + e.Data.TargetRunURL
		}
		fmt.Fprintln(w, line)
		if e.Type == facts.TypeTargetDenied && e.Data.Detail != "" {
			fmt.Fprintln(w, "      "+e.Data.Detail)
		}
	}
	fmt.Fprintln(w)
	for _, is := range gh.Issues() {
		fmt.Fprintf(w, "Result issue opened in %s: %s\n", is.Repository, is.Title)
	}

	stop()
	if err := <-done; err != nil {
		return err
	}
	fmt.Fprintln(w, "\nserve stopped cleanly. Next: docs/serve.md to run it against a real GitHub App.")
	return nil
}

func post(ctx context.Context, url string, body []byte) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", "workflow_run")
	req.Header.Set("X-GitHub-Delivery", delivery)
	req.Header.Set("X-Hub-Signature-256", pipeline.Sign([]byte(secret), body))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	return res.StatusCode, string(b), err
}

func inputs(in map[string]string) string {
	keys := make([]string, 0, len(in))
	for k := range in {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		v := in[k]
		if len(v) > 16 {
			v = v[:13] + "..."
		}
		parts[i] = k + "=" + v
	}
	return strings.Join(parts, " ")
}

// repoRoot finds the repository root (where go.mod is) from the working
// directory, so the demo runs from anywhere inside the checkout.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("run the demo inside the dispatcher checkout (no go.mod above the current directory)")
		}
		dir = parent
	}
}
