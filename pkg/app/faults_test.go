package app_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dispatcher-dev/dispatcher/pkg/app"
	"github.com/dispatcher-dev/dispatcher/pkg/facts"
	"github.com/dispatcher-dev/dispatcher/pkg/ghapp/ghfake"
	"github.com/dispatcher-dev/dispatcher/pkg/local"
	"github.com/dispatcher-dev/dispatcher/pkg/pipeline"
)

// payloadFor is the sample payload for source run id, with a head sha that
// names the run (so acme/deploy's sha input tells the runs apart).
func payloadFor(t *testing.T, id int64) []byte {
	t.Helper()
	b := samplePayload(t, id)
	return []byte(replaceSha(string(b), shaOf(id)))
}

func shaOf(id int64) string { return fmt.Sprintf("%040d", id) }

func replaceSha(s, sha string) string {
	const old = "9f3c1e2d4b5a69788796a5b4c3d2e1f0a9b8c7d6"
	out := ""
	for {
		i := indexOf(s, old)
		if i < 0 {
			return out + s
		}
		out += s[:i] + sha
		s = s[i+len(old):]
	}
}

func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}

// twice is an ApplyHook that puts every message on its queue twice (the
// second copy under another dedup id, so the queue cannot drop it): every
// request and work item is delivered at least twice.
func twice(_ context.Context, e *pipeline.Effects) error {
	n := len(e.Enqueue)
	for _, m := range e.Enqueue[:n] {
		m.DedupID += "#copy"
		e.Enqueue = append(e.Enqueue, m)
	}
	return nil
}

// checkExactlyOnce asserts, for source runs ids, that acme/deploy cd.yml
// was dispatched exactly once per run unless its work item is in the DLQ
// with an error, and that nothing else but acme/docs was dispatched.
func checkExactlyOnce(t *testing.T, fake *ghfake.Server, store *local.Store, ids []int64) {
	t.Helper()
	perSha := map[string]int{}
	docs := 0
	for _, d := range fake.Dispatches() {
		switch d.Repository {
		case "acme/deploy":
			perSha[d.Inputs["sha"]]++
		case "acme/docs":
			docs++
		default:
			t.Errorf("unexpected dispatch %+v", d)
		}
	}
	deadDeploy, deadDocs := 0, 0
	for _, m := range dlq(t, store, app.TargetsQueue) {
		if m.LastError == "" {
			t.Errorf("dead letter %d without its error", m.ID)
		}
		switch m.TargetRepo {
		case "acme/deploy":
			deadDeploy++
		case "acme/docs":
			deadDocs++
		}
	}
	if n := len(dlq(t, store, app.RequestsQueue)); n != 0 {
		t.Errorf("%d requests dead-lettered", n)
	}
	missing := 0
	for _, id := range ids {
		switch n := perSha[shaOf(id)]; {
		case n > 1:
			t.Errorf("run %d: acme/deploy dispatched %d times", id, n)
		case n == 0:
			missing++
		}
	}
	if missing != deadDeploy {
		t.Errorf("%d deploy dispatches missing but %d dead letters: work lost", missing, deadDeploy)
	}
	if docs+deadDocs != len(ids) {
		t.Errorf("acme/docs: %d dispatches + %d dead letters, want %d (one per run)", docs, deadDocs, len(ids))
	}
	// Every recorded success names a run GitHub created, and no run is
	// claimed by two work items (a misattributed run means a lost dispatch).
	created := map[int64]bool{}
	for _, d := range fake.Dispatches() {
		created[d.RunID] = true
	}
	evs, err := store.RecentEvents(context.Background(), 10000)
	if err != nil {
		t.Fatal(err)
	}
	owner := map[int64]string{}
	for _, e := range evs {
		if e.Type != facts.TypeTriggerSucceeded {
			continue
		}
		item := fmt.Sprintf("run %d → %s", e.Data.SourceRunID, e.Data.TargetRepo)
		if !created[e.Data.TargetRunID] {
			t.Errorf("%s recorded run %d, which GitHub never created", item, e.Data.TargetRunID)
		}
		if o, ok := owner[e.Data.TargetRunID]; ok && o != item {
			t.Errorf("run %d recorded for both %s and %s: one dispatch was lost", e.Data.TargetRunID, o, item)
		}
		owner[e.Data.TargetRunID] = item
	}
}

// Every webhook is delivered three times (the same delivery id twice, then
// a new id for the same run), every queue message is enqueued twice, and
// GitHub answers the contents and dispatch calls with storms of 500, 502,
// 503, 429 and secondary-rate-limit 403s and resets connections before
// applying. Result: each authorised target of each run is dispatched
// exactly once, nothing is lost, every fact counts once.
func TestServeDuplicatesAndStorms(t *testing.T) {
	t.Parallel()
	fake := newWorld(t)
	storm := []ghfake.Fault{
		ghfake.Status(500), ghfake.Status(502), ghfake.TooManyRequests(0), ghfake.SecondaryLimit(0),
		ghfake.Status(503), ghfake.TooManyRequests(time.Second), ghfake.SecondaryLimit(2 * time.Second),
	}
	for range 3 {
		fake.Fail(dispatchPath, storm...)
		fake.Fail("GET /repos/*/*/contents/**", storm...)
	}
	db := filepath.Join(t.TempDir(), "dispatcher.db")
	st := loadSettings(t, env(fake, db, map[string]string{"QUEUE_MAX_RECEIVES": "20", "CREATE_ISSUES": "false"}))
	srv := start(t, st, app.WithApplyHook(twice))

	ids := []int64{5001, 5002, 5003, 5004, 5005, 5006}
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := payloadFor(t, id)
			d := fmt.Sprintf("delivery-%d", id)
			if code, b := send(t, srv.URL, "workflow_run", d, body); code != 202 {
				t.Errorf("%s: %d %s", d, code, b)
			}
			if code, _ := send(t, srv.URL, "workflow_run", d, body); code != 409 {
				t.Errorf("%s again: %d, want 409", d, code)
			}
			if code, b := send(t, srv.URL, "workflow_run", d+"-redelivered", body); code != 202 {
				t.Errorf("%s-redelivered: %d %s", d, code, b)
			}
		}()
	}
	wg.Wait()
	store := srv.App.Store
	waitFor(t, "every delivery planned and the queues empty", func() bool {
		return summary(t, store).PlanCreated == int64(2*len(ids)) && settled(t, store)
	}, dumpState(t, fake, store, srv.Logs))

	checkExactlyOnce(t, fake, store, ids)
	if len(fake.Dispatches()) != 2*len(ids) {
		t.Errorf("%d dispatches, want %d (the storms are shorter than the retry budget)", len(fake.Dispatches()), 2*len(ids))
	}
	// Target facts are identified by the dispatch, not the delivery: the
	// redelivered webhooks' items that find the claims done re-publish the
	// same successes, which count once.
	c := summary(t, store)
	if c.RequestAccepted != int64(2*len(ids)) || c.TriggerSucceeded != int64(2*len(ids)) || c.TargetQueued != int64(2*len(ids)) {
		t.Errorf("summary = %+v: want %d accepted deliveries, %d queued and %d successes", c, 2*len(ids), 2*len(ids), 2*len(ids))
	}
	if n := fake.PendingFaults(); n != 0 {
		t.Logf("%d faults not consumed", n)
	}
}

// crashAt is an ApplyHook that fails, once, the first step whose effects
// match, and stops the app there: the process "dies" before that step's
// transaction commits.
type crashAt struct {
	match   func(e *pipeline.Effects) bool
	crash   func()
	crashed atomic.Bool
}

func (c *crashAt) hook(_ context.Context, e *pipeline.Effects) error {
	if c.match(e) && c.crashed.CompareAndSwap(false, true) {
		c.crash()
		return errors.New("simulated crash before the commit")
	}
	return nil
}

// A crash between the POST and the completion record: after a restart on
// the same file, the claim is found in progress, GitHub is searched
// (FindDispatchedRun), the run is recorded and nothing is dispatched again.
func TestServeCrashAfterDispatchBeforeComplete(t *testing.T) {
	t.Parallel()
	fake := newWorld(t)
	db := filepath.Join(t.TempDir(), "dispatcher.db")
	st := loadSettings(t, env(fake, db, map[string]string{"CREATE_ISSUES": "false"}))
	var srv *server
	// The dispatcher's step after a successful POST completes the claim.
	claims := &crashAt{match: func(e *pipeline.Effects) bool { return e.Complete != nil }}
	claims.crash = func() { srv.stop() }
	srv = start(t, st, app.WithConcurrency(1, 1), app.WithApplyHook(claims.hook))
	if code, b := send(t, srv.URL, "workflow_run", "crash-1", payloadFor(t, 7001)); code != 202 {
		t.Fatalf("%d %s", code, b)
	}
	<-srv.done
	srv.done <- nil
	if !claims.crashed.Load() {
		t.Fatal("the app stopped before the crash point")
	}
	if n := len(fake.Dispatches()); n != 1 {
		t.Fatalf("%d dispatches before the restart, want 1", n)
	}
	first := fake.Dispatches()[0]

	// The lease (twice the visibility timeout) is shortened so that the
	// restarted app treats the claim as abandoned at once.
	srv2 := start(t, st, app.WithClaimLease(50*time.Millisecond))
	store := srv2.App.Store
	waitFor(t, "both targets succeeded", func() bool {
		return summary(t, store).TriggerSucceeded == 2 && settled(t, store)
	}, dumpState(t, fake, store, srv2.Logs))
	checkExactlyOnce(t, fake, store, []int64{7001})
	if n := len(fake.Dispatches()); n != 2 {
		t.Errorf("%d dispatches, want 2", n)
	}
	found := false
	for _, e := range mustJourney(t, store, "crash-1") {
		if e.Type == facts.TypeTriggerSucceeded && e.Data.TargetRepo == first.Repository {
			found = e.Data.TargetRunID == first.RunID
		}
	}
	if !found {
		t.Errorf("trigger.succeeded of %s does not name the run found on GitHub (%d)", first.Repository, first.RunID)
	}
}

func mustJourney(t *testing.T, store *local.Store, delivery string) []facts.Event {
	t.Helper()
	j, err := store.Journey(context.Background(), delivery)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// A crash of the planner before its step commits (facts, work items and
// the ack are one transaction, so nothing of it is applied): the request
// is planned again after the restart and each target dispatched once.
func TestServeCrashBetweenPlannerAndQueue(t *testing.T) {
	t.Parallel()
	fake := newWorld(t)
	db := filepath.Join(t.TempDir(), "dispatcher.db")
	st := loadSettings(t, env(fake, db, map[string]string{"CREATE_ISSUES": "false"}))
	var srv *server
	q := &crashAt{match: func(e *pipeline.Effects) bool {
		return len(e.Enqueue) > 0 && e.Enqueue[0].Queue == pipeline.QueueTargets
	}}
	q.crash = func() { srv.stop() }
	srv = start(t, st, app.WithConcurrency(1, 1), app.WithApplyHook(q.hook))
	if code, b := send(t, srv.URL, "workflow_run", "plan-crash", payloadFor(t, 7101)); code != 202 {
		t.Fatalf("%d %s", code, b)
	}
	<-srv.done
	srv.done <- nil

	srv2 := start(t, st)
	store := srv2.App.Store
	waitFor(t, "both targets succeeded", func() bool {
		return summary(t, store).TriggerSucceeded == 2 && settled(t, store)
	}, dumpState(t, fake, store, srv2.Logs))
	checkExactlyOnce(t, fake, store, []int64{7101})
	if n := len(fake.Dispatches()); n != 2 {
		t.Errorf("%d dispatches, want 2", n)
	}
}

// A crash of ingress before the request is durable answers 503 and
// records nothing; GitHub's redelivery (same id) is then processed.
func TestServeCrashInIngressThenRedelivery(t *testing.T) {
	t.Parallel()
	fake := newWorld(t)
	db := filepath.Join(t.TempDir(), "dispatcher.db")
	st := loadSettings(t, env(fake, db, map[string]string{"CREATE_ISSUES": "false"}))
	q := &crashAt{match: func(e *pipeline.Effects) bool { return e.Replay != "" }, crash: func() {}}
	srv := start(t, st, app.WithApplyHook(q.hook))
	body := payloadFor(t, 7201)
	if code, b := send(t, srv.URL, "workflow_run", "ingress-crash", body); code != 503 {
		t.Fatalf("first attempt: %d %s, want 503", code, b)
	}
	if code, b := send(t, srv.URL, "workflow_run", "ingress-crash", body); code != 202 {
		t.Fatalf("redelivery: %d %s, want 202", code, b)
	}
	store := srv.App.Store
	waitFor(t, "both targets succeeded", func() bool {
		return summary(t, store).TriggerSucceeded == 2 && settled(t, store)
	}, dumpState(t, fake, store, srv.Logs))
	checkExactlyOnce(t, fake, store, []int64{7201})
}

// crashingGitHub stops the app as the first dispatch is about to be sent:
// the claim is taken, the POST never leaves.
type crashingGitHub struct {
	pipeline.GitHub
	crash   func()
	crashed atomic.Bool
}

func (g *crashingGitHub) Dispatch(ctx context.Context, req pipeline.DispatchRequest) (pipeline.DispatchResult, error) {
	if g.crashed.CompareAndSwap(false, true) {
		g.crash()
		return pipeline.DispatchResult{}, errors.New("simulated crash before the POST")
	}
	return g.GitHub.Dispatch(ctx, req)
}

// A crash between the claim and the POST: after the restart the claim is
// in progress and GitHub has no run; once the lease is over the item is
// dispatched, once.
func TestServeCrashBetweenClaimAndPost(t *testing.T) {
	t.Parallel()
	fake := newWorld(t)
	db := filepath.Join(t.TempDir(), "dispatcher.db")
	st := loadSettings(t, env(fake, db, map[string]string{"CREATE_ISSUES": "false"}))
	var srv *server
	gh := &crashingGitHub{}
	srv = start(t, st, app.WithConcurrency(1, 1), app.WithPorts(func(p *app.Ports) {
		gh.GitHub, gh.crash = p.GitHub, func() { srv.stop() }
		p.GitHub = gh
	}))
	if code, b := send(t, srv.URL, "workflow_run", "claim-crash", payloadFor(t, 7301)); code != 202 {
		t.Fatalf("%d %s", code, b)
	}
	<-srv.done
	srv.done <- nil
	if n := len(fake.Dispatches()); n != 0 {
		t.Fatalf("%d dispatches before the restart", n)
	}
	srv2 := start(t, st, app.WithClaimLease(50*time.Millisecond))
	store := srv2.App.Store
	waitFor(t, "both targets succeeded", func() bool {
		return summary(t, store).TriggerSucceeded == 2 && settled(t, store)
	}, dumpState(t, fake, store, srv2.Logs))
	checkExactlyOnce(t, fake, store, []int64{7301})
	if n := len(fake.Dispatches()); n != 2 {
		t.Errorf("%d dispatches, want 2", n)
	}
}
