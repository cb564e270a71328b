package app_test

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dispatcher-dev/dispatcher/pkg/app"
	"github.com/dispatcher-dev/dispatcher/pkg/local"
	"github.com/dispatcher-dev/dispatcher/pkg/pipeline"
)

// errCrashed is what every commit returns once the simulated process has
// died: nothing after the crash point reaches the file.
var errCrashed = errors.New("simulated crash: the process died before this commit")

// commitCounter counts the store's group commits and, from commit number
// crashAt on (1-based; 0 = never), fails them all and stops the app, as a
// process killed at that point would.
type commitCounter struct {
	armed   atomic.Bool // counting starts with the first webhook
	n       atomic.Int64
	crashAt int64
	crash   func()
	crashed atomic.Bool
}

func (c *commitCounter) beforeCommit(int) error {
	if !c.armed.Load() {
		return nil
	}
	n := c.n.Add(1)
	if c.crashAt > 0 && n >= c.crashAt {
		if c.crashed.CompareAndSwap(false, true) {
			go c.crash()
		}
		return errCrashed
	}
	return nil
}

// The process dies at every commit point of a delivery's life in turn
// (ingress, the planner's receive and step, each dispatcher receive, claim
// and step, the folds): every commit from that point on fails, as if the
// process had been killed just before it. Then it restarts on the same
// file; a delivery that was not acknowledged (503, or no answer) is
// redelivered, as GitHub's redelivery would. Whatever the crash point, each
// authorised target is dispatched exactly once and nothing is lost.
func TestServeCrashAtEveryCommit(t *testing.T) {
	t.Parallel()
	// A clean run counts the commits of one delivery.
	total := func() int64 {
		fake := newWorld(t)
		db := filepath.Join(t.TempDir(), "dispatcher.db")
		st := loadSettings(t, env(fake, db, map[string]string{"CREATE_ISSUES": "false"}))
		cc := &commitCounter{}
		srv := start(t, st, app.WithConcurrency(1, 1), app.WithStoreOptions(local.Options{BeforeCommit: cc.beforeCommit}))
		cc.armed.Store(true)
		if code, b := send(t, srv.URL, "workflow_run", "count", payloadFor(t, 8000)); code != 202 {
			t.Fatalf("%d %s", code, b)
		}
		store := srv.App.Store
		waitFor(t, "both targets succeeded", func() bool {
			return summary(t, store).TriggerSucceeded == 2 && settled(t, store)
		}, dumpState(t, fake, store, srv.Logs))
		n := cc.n.Load()
		srv.Stop()
		t.Logf("one delivery with two targets: %d commits", n)
		return n
	}()
	if total < 8 {
		t.Fatalf("a delivery took %d commits; expected at least ingress, 2 planner and 2x3 dispatcher commits", total)
	}
	for at := int64(1); at <= total; at++ {
		t.Run(fmt.Sprintf("crash before commit %d of %d", at, total), func(t *testing.T) {
			fake := newWorld(t)
			db := filepath.Join(t.TempDir(), "dispatcher.db")
			// A short visibility timeout: a message received before the crash
			// comes back a second after the restart.
			st := loadSettings(t, env(fake, db, map[string]string{"CREATE_ISSUES": "false", "QUEUE_VISIBILITY_TIMEOUT": "1s"}))
			var srv *server
			cc := &commitCounter{crashAt: at}
			cc.crash = func() { srv.stop() }
			srv = start(t, st, app.WithConcurrency(1, 1), app.WithStoreOptions(local.Options{BeforeCommit: cc.beforeCommit}))
			id := int64(8100) + at
			body := payloadFor(t, id)
			cc.armed.Store(true)
			code := trySend(t, srv.URL, "crash", body)
			if code != 202 && code != 503 && code != 0 {
				t.Fatalf("first attempt answered %d, want 202, 503 or no answer", code)
			}
			// (A background commit, such as a fold, may come before the
			// ingress's: any crash point may answer 503 or nothing.)
			// Wait until the pipeline reaches the crash point, or settles
			// without reaching it (the last commits of a delivery are
			// folds, whose number varies from run to run).
			waitFor(t, "the crash point", func() bool {
				return cc.crashed.Load() || (len(fake.Dispatches()) == 2 && settled(t, srv.App.Store))
			}, dumpState(t, fake, srv.App.Store, srv.Logs))
			if !cc.crashed.Load() {
				srv.stop()
			}
			<-srv.done
			srv.done <- nil

			// The restart: the lease is short so that an abandoned claim is
			// taken over at once.
			srv2 := start(t, st, app.WithClaimLease(50*time.Millisecond))
			if code != 202 {
				// Not acknowledged: GitHub (or the operator) redelivers.
				if c, b := send(t, srv2.URL, "workflow_run", "crash", body); c != 202 {
					t.Fatalf("redelivery: %d %s", c, b)
				}
			}
			store := srv2.App.Store
			waitFor(t, "both targets succeeded", func() bool {
				return summary(t, store).TriggerSucceeded == 2 && settled(t, store)
			}, dumpState(t, fake, store, srv2.Logs))
			checkExactlyOnce(t, fake, store, []int64{id})
			if n := len(fake.Dispatches()); n != 2 {
				t.Errorf("%d dispatches, want 2", n)
			}
			if c := summary(t, store); c.RequestAccepted != 1 || c.PlanCreated != 1 || c.TargetQueued != 2 {
				t.Errorf("summary = %+v: every fact must count once", c)
			}
		})
	}
}

// trySend posts a signed workflow_run delivery; 0 means no answer (the
// process died with the request in flight).
func trySend(t *testing.T, url, delivery string, body []byte) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url+"/webhooks/github", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", "workflow_run")
	req.Header.Set("X-GitHub-Delivery", delivery)
	req.Header.Set("X-Hub-Signature-256", pipeline.Sign([]byte(secret), body))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	res.Body.Close()
	return res.StatusCode
}
