package app_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dispatcher-dev/dispatcher/pkg/app"
	"github.com/dispatcher-dev/dispatcher/pkg/cli"
	"github.com/dispatcher-dev/dispatcher/pkg/ghapp/ghfake"
)

// Work that GitHub refuses lands in the DLQ with GitHub's message; once the
// cause is fixed, `dispatcher replay-dlq --yes` (run against the live store
// while serve is running) drains it, every item is dispatched exactly once,
// and a second replay finds nothing.
func TestReplayDLQDrainsAfterFix(t *testing.T) {
	t.Parallel()
	fake := newWorld(t)
	db := filepath.Join(t.TempDir(), "dispatcher.db")
	st := loadSettings(t, env(fake, db, map[string]string{"CREATE_ISSUES": "false"}))
	srv := start(t, st)
	store := srv.App.Store

	// acme/docs's publish.yml "does not exist" on GitHub for now: 404.
	const runs = 3
	fake.Fail("POST /repos/acme/docs/actions/workflows/*/dispatches",
		ghfake.Fault{Status: 404, Message: "Not Found"}, ghfake.Fault{Status: 404, Message: "Not Found"}, ghfake.Fault{Status: 404, Message: "Not Found"})
	for i := 1; i <= runs; i++ {
		if code, body := send(t, srv.URL, "workflow_run", fmt.Sprintf("replay-%d", i), samplePayload(t, int64(i))); code != 202 {
			t.Fatalf("webhook %d: %d %s", i, code, body)
		}
	}
	waitFor(t, "deploy dispatched and docs dead-lettered", func() bool {
		return countDispatches(fake)["acme/deploy cd.yml"] == runs && len(dlq(t, store, app.TargetsQueue)) == runs && settled(t, store)
	}, dumpState(t, fake, store, srv.Logs))
	for _, m := range dlq(t, store, app.TargetsQueue) {
		if m.TargetRepo != "acme/docs" || !strings.Contains(m.LastError, "404") {
			t.Errorf("dead letter %+v, want acme/docs with GitHub's 404", m)
		}
	}
	if n := countDispatches(fake)["acme/docs publish.yml"]; n != 0 {
		t.Fatalf("%d docs dispatches before the fix", n)
	}

	replay := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		s := cli.Streams{In: strings.NewReader(""), Out: &out, Err: &errb, Getwd: os.Getwd,
			Getenv: func(k string) (string, bool) { return "", false }}
		code := cli.Main(context.Background(), append([]string{"dispatcher", "replay-dlq", "--db", db}, args...), s, cli.BuildInfo{})
		return code, out.String(), errb.String()
	}
	// The dry run moves nothing.
	if code, out, errs := replay(); code != 0 || !strings.Contains(out, "acme/docs") || len(dlq(t, store, app.TargetsQueue)) != runs {
		t.Fatalf("dry run: exit %d\n%s%s", code, out, errs)
	}
	// The fix is in (the faults are used up); replay for real.
	if code, out, errs := replay("--yes"); code != 0 || !strings.Contains(out+errs, fmt.Sprintf("moved %d messages back to targets", runs)) {
		t.Fatalf("replay --yes: exit %d\n%s%s", code, out, errs)
	}
	waitFor(t, "the replayed items dispatched", func() bool {
		return countDispatches(fake)["acme/docs publish.yml"] == runs && len(dlq(t, store, app.TargetsQueue)) == 0 && settled(t, store)
	}, dumpState(t, fake, store, srv.Logs))

	// Nothing left: a second replay moves nothing and dispatches nothing.
	if code, out, errs := replay("--yes"); code != 0 || strings.Contains(out, "moved") {
		t.Fatalf("second replay: exit %d\n%s%s", code, out, errs)
	}
	got := countDispatches(fake)
	if got["acme/deploy cd.yml"] != runs || got["acme/docs publish.yml"] != runs || len(got) != 2 {
		t.Errorf("dispatches = %v, want %d of each of deploy and docs", got, runs)
	}
	if c := summary(t, store); c.TriggerSucceeded != 2*runs || c.TriggerFailed != runs {
		t.Errorf("summary = %+v, want %d successes and %d failures (the 404s)", c, 2*runs, runs)
	}
}
