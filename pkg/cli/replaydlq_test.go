package cli

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/dispatcher-dev/dispatcher/pkg/local"
	"github.com/dispatcher-dev/dispatcher/pkg/pipeline"
	"github.com/dispatcher-dev/dispatcher/pkg/pipeline/pipelinetest"
	"github.com/dispatcher-dev/dispatcher/pkg/plan"
)

func init() {
	scriptCmds["replaydlqseed"] = cmdReplaySeed
	scriptCmds["replaydlqcount"] = cmdReplayCount
}

// replaySeedStart is the fixed time of the seeded store's clock.
var replaySeedStart = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// replayClock is a fixed clock that advances a second on every reading,
// so that seeded times are deterministic and ordered.
type replayClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *replayClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Second)
	return c.t
}

// replayWorkItem is a targets-queue body for delivery to repo:workflow.
func replayWorkItem(delivery string, runID int64, repo, workflow string) []byte {
	w := pipeline.WorkItem{
		DeliveryID: delivery, InstallationID: 7, ReceivedAt: replaySeedStart,
		Source: plan.Source{Repository: "acme/api", Workflow: "ci.yml", RunID: runID, RunAttempt: 1,
			HeadBranch: "main", HeadSHA: "0123456789abcdef0123456789abcdef01234567", Conclusion: "success"},
		Target: plan.Target{Repository: repo, Workflow: workflow, Ref: "main", Inputs: map[string]string{"sha": "0123456"},
			Decision: plan.DecisionDispatch, Reason: plan.ReasonAuthorized},
	}
	b, err := json.Marshal(w)
	if err != nil {
		panic(err)
	}
	return b
}

// replayDeadLetter enqueues body on q and dead-letters it the way the
// workers do: with permanent, a receive then MoveToDLQ; otherwise
// maxReceives receives each retried with lastErr, and the receive after
// them moves it to the DLQ.
func replayDeadLetter(ctx context.Context, q *local.Queue, body []byte, maxReceives int, permanent bool, lastErr string) (int64, error) {
	id, _, err := q.Send(ctx, local.NewMessage{Body: body})
	if err != nil {
		return 0, err
	}
	for i := 0; i < maxReceives; i++ {
		ms, err := q.Receive(ctx, 1, time.Minute)
		if err != nil {
			return 0, err
		}
		if len(ms) != 1 || ms[0].ID != id {
			return 0, errors.New("seed: did not receive the message just sent")
		}
		if permanent {
			return id, q.MoveToDLQ(ctx, ms[0].Receipt, lastErr)
		}
		if err := q.Retry(ctx, ms[0].Receipt, 0, lastErr); err != nil {
			return 0, err
		}
	}
	// The receive after maxReceives moves it to the DLQ and returns nothing.
	ms, err := q.Receive(ctx, 1, time.Minute)
	if err != nil {
		return 0, err
	}
	if len(ms) != 0 {
		return 0, errors.New("seed: message was not dead-lettered")
	}
	return id, nil
}

// replaySeed writes a store at path with (ids in order):
//
//	1 targets.dlq  d-1 acme/deploy:cd.yml  permanent 404, 1 receive
//	2 targets.dlq  d-1 acme/web:cd.yml     5 receives, 502
//	3 targets.dlq  d-2 acme/deploy:cd.yml  permanent 422, 1 receive
//	4 requests.dlq d-3                     5 receives, never acknowledged
//	5 targets      d-4 acme/docs:publish.yml  visible (not dead-lettered)
func replaySeed(ctx context.Context, path string) error {
	clock := &replayClock{t: replaySeedStart}
	st, err := local.Open(ctx, path, local.Options{Clock: clock.Now, MaxReceives: 5, Create: true})
	if err != nil {
		return err
	}
	defer st.Close()
	targets, requests := st.Queue("targets"), st.Queue("requests")
	steps := []func() error{
		func() error {
			_, err := replayDeadLetter(ctx, targets, replayWorkItem("d-1", 100, "acme/deploy", "cd.yml"), 5, true,
				`dispatch "cd.yml" in acme/deploy: 404 Not Found [permanent]`)
			return err
		},
		func() error {
			_, err := replayDeadLetter(ctx, targets, replayWorkItem("d-1", 100, "acme/web", "cd.yml"), 5, false,
				`dispatch "cd.yml" in acme/web: 502 Bad Gateway [transient, 3 attempts]`)
			return err
		},
		func() error {
			_, err := replayDeadLetter(ctx, targets, replayWorkItem("d-2", 101, "acme/deploy", "cd.yml"), 5, true,
				`dispatch "cd.yml" in acme/deploy: 422 Unexpected inputs provided: ["sha"] [permanent]`)
			return err
		},
		func() error {
			body, _ := json.Marshal(pipeline.Request{DeliveryID: "d-3", Event: "workflow_run", ReceivedAt: replaySeedStart,
				Payload: json.RawMessage(`{"action":"completed"}`)})
			_, err := replayDeadLetter(ctx, requests, body, 5, false, "")
			return err
		},
		func() error {
			_, _, err := targets.Send(ctx, local.NewMessage{Body: replayWorkItem("d-4", 102, "acme/docs", "publish.yml")})
			return err
		},
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return err
		}
	}
	return nil
}

// cmdReplaySeed writes the store of replaySeed:
//
//	replaydlqseed FILE
func cmdReplaySeed(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: replaydlqseed FILE")
	}
	ts.Check(replaySeed(context.Background(), ts.MkAbs(args[0])))
}

// cmdReplayCount checks a queue's counts:
//
//	replaydlqcount FILE QUEUE VISIBLE DEAD
//
// VISIBLE counts the queue's messages ready to be received (with a receive
// count of 0 each: a redrive resets it), DEAD its dead letters.
func cmdReplayCount(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 4 {
		ts.Fatalf("usage: replaydlqcount FILE QUEUE VISIBLE DEAD")
	}
	ctx := context.Background()
	st, err := local.Open(ctx, ts.MkAbs(args[0]), local.Options{Create: true})
	ts.Check(err)
	defer st.Close()
	stats, err := st.Queue(args[1]).Stats(ctx)
	ts.Check(err)
	got := strconv.FormatInt(stats.Visible, 10) + " " + strconv.FormatInt(stats.DeadLetters, 10)
	if want := args[2] + " " + args[3]; got != want {
		ts.Fatalf("%s: visible and dead letters %s, want %s", args[1], got, want)
	}
}

// replayTestStore seeds a store in a temporary directory.
func replayTestStore(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "dispatcher.db")
	if err := replaySeed(context.Background(), path); err != nil {
		t.Fatal(err)
	}
	return path
}

func replayDecode(t *testing.T, out string) replayReport {
	t.Helper()
	var r replayReport
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("not a report: %v\n%s", err, out)
	}
	return r
}

func TestReplayDLQListAndFilters(t *testing.T) {
	db := replayTestStore(t)
	for _, tc := range []struct {
		args []string
		ids  []int64
	}{
		{nil, []int64{1, 2, 3, 4}},
		{[]string{"--queue", "targets"}, []int64{1, 2, 3}},
		{[]string{"--queue", "requests"}, []int64{4}},
		{[]string{"--delivery-id", "d-1"}, []int64{1, 2}},
		{[]string{"--target", "ACME/Deploy"}, []int64{1, 3}},
		{[]string{"--target", "acme/deploy:cd.yml", "--delivery-id", "d-2"}, []int64{3}},
		{[]string{"--target", "acme/deploy:other.yml"}, nil},
		{[]string{"--id", "2", "--id", "4"}, []int64{2, 4}},
		{[]string{"--id", "2,3"}, []int64{2, 3}},
		{[]string{"--id", "5"}, nil}, // visible, not dead-lettered
		{[]string{"--limit", "2"}, []int64{1, 2}},
	} {
		args := append([]string{"replay-dlq", "--db", db, "--format", "json"}, tc.args...)
		code, out, stderr := runCLI(t, nil, "", args...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", tc.args, code, stderr)
		}
		r := replayDecode(t, out)
		var got []int64
		for _, m := range r.Messages {
			got = append(got, m.ID)
		}
		if !slices.Equal(got, tc.ids) {
			t.Errorf("%v: ids %v, want %v", tc.args, got, tc.ids)
		}
		if !r.DryRun || r.Moved != 0 || r.Matched != len(tc.ids) {
			t.Errorf("%v: report %+v", tc.args, r)
		}
		if len(tc.ids) == 0 && !strings.Contains(stderr, "no dead letters match") {
			t.Errorf("%v: nothing matched but stderr is %q", tc.args, stderr)
		}
	}
	// Dry runs changed nothing.
	st := replayOpen(t, db)
	for q, want := range map[string]int64{"targets": 3, "requests": 1} {
		s, err := st.Queue(q).Stats(context.Background())
		if err != nil || s.DeadLetters != want {
			t.Errorf("%s after dry runs: %+v, %v; want %d dead letters", q, s, err, want)
		}
	}
}

func replayOpen(t *testing.T, path string) *local.Store {
	t.Helper()
	st, err := local.Open(context.Background(), path, local.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// --yes moves exactly the matching dead letters back, visible at once with
// the receive count reset and the last error kept.
func TestReplayDLQMove(t *testing.T) {
	db := replayTestStore(t)
	code, out, stderr := runCLI(t, nil, "", "replay-dlq", "--db", db, "--target", "acme/deploy", "--yes")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(out, "moved 2 messages back to targets") {
		t.Fatalf("no summary:\n%s", out)
	}
	ctx := context.Background()
	st := replayOpen(t, db)
	q := st.Queue("targets")
	left, err := q.ListDLQ(ctx, local.Filter{})
	if err != nil || len(left) != 1 || left[0].ID != 2 {
		t.Fatalf("left in targets.dlq: %+v, %v", left, err)
	}
	ms, err := q.Receive(ctx, 10, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	got := map[int64]local.Message{}
	for _, m := range ms {
		got[m.ID] = m
	}
	for _, id := range []int64{1, 3} {
		m, ok := got[id]
		if !ok {
			t.Fatalf("message %d not visible in targets after the move (got %v)", id, ms)
		}
		if m.ReceiveCount != 1 || m.RedriveCount != 1 || m.LastError == "" {
			t.Errorf("message %d: receives %d (want 1: reset, then this receive), redrives %d, last error %q",
				id, m.ReceiveCount, m.RedriveCount, m.LastError)
		}
	}
	if _, ok := got[5]; !ok || len(got) != 3 {
		t.Errorf("targets should hold 1, 3 and the live 5; got %v", got)
	}
	// Moving again finds nothing: exit 0, said on stderr.
	code, out, stderr = runCLI(t, nil, "", "replay-dlq", "--db", db, "--target", "acme/deploy", "--yes")
	if code != 0 || out != "" || !strings.Contains(stderr, "no dead letters match") {
		t.Fatalf("second move: exit %d, out %q, stderr %q", code, out, stderr)
	}
}

// A move on a terminal shows progress on stderr; the JSON report counts
// what moved.
func TestReplayDLQProgressAndJSON(t *testing.T) {
	db := replayTestStore(t)
	var out, errb strings.Builder
	s := Streams{In: strings.NewReader(""), Out: &out, Err: &errb, ErrTTY: true,
		Getenv: func(string) (string, bool) { return "", false }, Getwd: os.Getwd}
	code := Main(context.Background(), []string{"dispatcher", "replay-dlq", "--db", db, "--yes", "--format", "json"}, s, BuildInfo{})
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if !strings.Contains(errb.String(), "\rmoving dead letters: 4/4") {
		t.Errorf("no progress on a TTY stderr: %q", errb.String())
	}
	r := replayDecode(t, out.String())
	if r.DryRun || r.Matched != 4 || r.Moved != 4 || len(r.Messages) != 4 {
		t.Errorf("report %+v", r)
	}
	// Without a TTY, no progress line.
	db = replayTestStore(t)
	code, _, stderr := runCLI(t, nil, "", "replay-dlq", "--db", db, "--yes")
	if code != 0 || strings.Contains(stderr, "moving") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}

func TestReplayDLQInspect(t *testing.T) {
	db := replayTestStore(t)
	code, out, stderr := runCLI(t, nil, "", "replay-dlq", "--db", db, "inspect", "2", "--format", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var m replayMessage
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatal(err)
	}
	var w pipeline.WorkItem
	if err := json.Unmarshal(m.Body, &w); err != nil {
		t.Fatalf("body is not the work item: %v", err)
	}
	if m.ID != 2 || m.Queue != "targets" || m.ReceiveCount != 5 || w.Target.Repository != "acme/web" ||
		!strings.Contains(m.LastError, "502") || m.DeadLetteredAt.IsZero() || m.EnqueuedAt.IsZero() {
		t.Errorf("inspect: %+v", m)
	}
	// --inspect is the same; an unknown or live id is exit 2.
	code, out2, _ := runCLI(t, nil, "", "replay-dlq", "--db", db, "--inspect", "2", "--format", "json")
	if code != 0 || out2 != out {
		t.Errorf("--inspect differs: exit %d\n%s", code, out2)
	}
	for _, id := range []string{"5", "99"} {
		if code, _, stderr := runCLI(t, nil, "", "replay-dlq", "--db", db, "inspect", id); code != ExitUsage || !strings.Contains(stderr, "no dead letter "+id) {
			t.Errorf("inspect %s: exit %d, %q", id, code, stderr)
		}
	}
}

// A missing store is exit 2 and no file is created; DISPATCHER_DB names
// the store when --db is absent.
func TestReplayDLQMissingStore(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "nope.db")
	for _, tc := range []struct {
		env  map[string]string
		args []string
	}{
		{nil, []string{"replay-dlq", "--db", missing}},
		{map[string]string{"DISPATCHER_DB": missing}, []string{"replay-dlq"}},
		{map[string]string{"DISPATCHER_DB": missing}, []string{"replay-dlq", "inspect", "1"}},
		{nil, []string{"replay-dlq", "--db", missing, "--yes"}},
	} {
		code, out, stderr := runCLI(t, tc.env, "", tc.args...)
		if code != ExitUsage || out != "" || !strings.Contains(stderr, "no store at "+missing) {
			t.Errorf("%v: exit %d, out %q, stderr %q", tc.args, code, out, stderr)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("replay-dlq created files: %v", entries)
	}
	db := replayTestStore(t)
	code, out, stderr := runCLI(t, map[string]string{"DISPATCHER_DB": db}, "", "replay-dlq", "--format", "json")
	if code != 0 || replayDecode(t, out).Matched != 4 {
		t.Errorf("DISPATCHER_DB: exit %d, %s %s", code, out, stderr)
	}
	notDB := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(notDB, []byte(strings.Repeat("not a database\n", 200)), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := runCLI(t, nil, "", "replay-dlq", "--db", notDB); code != ExitUsage {
		t.Errorf("not a database: exit %d, %q", code, stderr)
	}
}

func TestReplayDLQBadFlags(t *testing.T) {
	db := replayTestStore(t)
	for _, args := range [][]string{
		{"--queue", "facts"},
		{"--target", "acme"},
		{"--target", "acme/deploy:"},
		{"--target", "a/b/c"},
		{"--limit", "-1"},
		{"--id", "0"},
		{"--id", "x"},
		{"--format", "yaml"},
		{"--inspect", "1", "--yes"},
		{"--queue-url", "https://sqs.eu-west-1.amazonaws.com/1/q"},
		{"inspect", "x"},
		{"inspect"},
		{"extra"},
	} {
		code, _, stderr := runCLI(t, nil, "", append([]string{"replay-dlq", "--db", db}, args...)...)
		if code != ExitUsage {
			t.Errorf("%v: exit %d, want 2 (stderr %q)", args, code, stderr)
		}
	}
	st := replayOpen(t, db)
	if s, _ := st.Queue("targets").Stats(context.Background()); s.DeadLetters != 3 {
		t.Errorf("bad flags moved messages: %+v", s)
	}
}

// A failed move is exit 1 with the store's error, and says how many moved.
func TestReplayDLQMoveFails(t *testing.T) {
	db := replayTestStore(t)
	st := replayOpen(t, db)
	// A trigger that refuses to put messages back makes the redrive fail
	// inside its transaction.
	if _, err := st.DB().Exec(`CREATE TRIGGER refuse_redrive BEFORE UPDATE OF queue ON queue_messages
WHEN NEW.queue = 'targets' BEGIN SELECT RAISE(ABORT, 'disk says no'); END`); err != nil {
		t.Fatal(err)
	}
	code, out, stderr := runCLI(t, nil, "", "replay-dlq", "--db", db, "--yes")
	if code != ExitProblems || !strings.Contains(stderr, "disk says no") || !strings.Contains(stderr, "1 of 4 moved") {
		t.Fatalf("exit %d\nout: %s\nstderr: %s", code, out, stderr)
	}
	if !strings.Contains(out, "moved 1 message back to requests") {
		t.Errorf("the requests move is reported: %s", out)
	}
}

// Idempotency makes replay safe: a work item that was dispatched but then
// dead-lettered anyway (the worker died before acknowledging it, every
// time) is acknowledged without a second dispatch when replayed through the
// real dispatcher stage and the store's claims; a work item whose dispatch
// failed permanently is dispatched once after the replay.
func TestReplayDLQIdempotentRedrive(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "dispatcher.db")
	st, err := local.Open(ctx, path, local.Options{MaxReceives: 3, Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	gh := &pipelinetest.GitHub{}
	failWeb := true
	gh.DispatchFunc = func(n int, req pipeline.DispatchRequest) (pipeline.DispatchResult, error) {
		if req.Repository == "acme/web" && failWeb {
			return pipeline.DispatchResult{}, &pipelinetest.DispatchError{Status: 404, Message: "Not Found", Tries: 1, IsPermanent: true, NotSent: true}
		}
		return pipeline.DispatchResult{RunID: int64(1000 + n), RunURL: "https://api.github.com/runs/" + strconv.Itoa(1000+n)}, nil
	}
	stage, err := pipeline.NewDispatcher(pipeline.DispatcherConfig{Apply: st, Claims: st, GitHub: gh,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	q := st.Queue("targets")
	handleAll := func(ack bool) map[string]error {
		t.Helper()
		out := map[string]error{}
		ms, err := q.Receive(ctx, 10, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range ms {
			hErr := stage.HandleMessage(ctx, pipeline.Message{ID: strconv.FormatInt(m.ID, 10), Handle: m.Receipt, Body: m.Body, ReceiveCount: m.ReceiveCount, MaxReceives: 3})
			out[replayTarget(m)] = hErr
			switch {
			case hErr != nil && pipeline.IsPermanent(hErr):
				if err := q.MoveToDLQ(ctx, m.Receipt, hErr.Error()); err != nil {
					t.Fatal(err)
				}
			case hErr == nil && ack:
				if err := q.Ack(ctx, m.Receipt); err != nil {
					t.Fatal(err)
				}
			default: // the worker "died" before acknowledging
				if err := q.Retry(ctx, m.Receipt, 0, "worker stopped before acknowledging"); err != nil {
					t.Fatal(err)
				}
			}
		}
		return out
	}
	for _, target := range []string{"acme/deploy", "acme/web"} {
		if err := q.Enqueue(ctx, "", replayWorkItem("d-9", 200, target, "cd.yml")); err != nil {
			t.Fatal(err)
		}
	}
	// deploy is dispatched on the first receive and never acknowledged;
	// web fails with a permanent 404 and is dead-lettered at once.
	first := handleAll(false)
	if first["acme/deploy:cd.yml"] != nil || !pipeline.IsPermanent(first["acme/web:cd.yml"]) {
		t.Fatalf("first attempt: %v", first)
	}
	for range 2 {
		handleAll(false)
	}
	handleAll(false)                       // the receive after MaxReceives dead-letters deploy
	if n := len(gh.Dispatches()); n != 2 { // deploy once (then its claim is done), web once (404)
		t.Fatalf("%d dispatch calls before the replay, want 2: %+v", n, gh.Dispatches())
	}
	dead, err := q.ListDLQ(ctx, local.Filter{})
	if err != nil || len(dead) != 2 {
		t.Fatalf("dead letters %+v, %v", dead, err)
	}

	// The operator fixes acme/web, then replays everything.
	failWeb = false
	code, out, stderr := runCLI(t, nil, "", "replay-dlq", "--db", path, "--yes")
	if code != 0 || !strings.Contains(out, "moved 2 messages back to targets") {
		t.Fatalf("replay: exit %d\n%s\n%s", code, out, stderr)
	}
	second := handleAll(true)
	if len(second) != 2 || second["acme/deploy:cd.yml"] != nil || second["acme/web:cd.yml"] != nil {
		t.Fatalf("after the replay: %v", second)
	}
	per := map[string]int{}
	for _, d := range gh.Dispatches() {
		per[d.Repository]++
	}
	if per["acme/deploy"] != 1 {
		t.Errorf("acme/deploy dispatched %d times, want exactly once (the replayed item was already done)", per["acme/deploy"])
	}
	if per["acme/web"] != 2 { // the 404, then the real dispatch after the fix
		t.Errorf("acme/web dispatch calls %d, want 2 (404, then once after the replay)", per["acme/web"])
	}
	// Replaying again (nothing left) is harmless.
	if code, _, _ := runCLI(t, nil, "", "replay-dlq", "--db", path, "--yes"); code != 0 {
		t.Errorf("empty replay: exit %d", code)
	}
	if s, _ := q.Stats(ctx); s.Visible+s.NotVisible+s.DeadLetters != 0 {
		t.Errorf("queue not drained: %+v", s)
	}
}
