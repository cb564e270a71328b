package local

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dispatcher-dev/dispatcher/pkg/facts"
)

// waitFor polls cond until it holds; the deadline only guards against a
// hang (it is never what makes a test pass).
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// kvStore opens a store with a scratch table kv(k) and a second,
// independent read-only connection to the same file.
func kvStore(t *testing.T) (*Store, *sql.DB) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "dispatcher.db")
	s := openAt(t, path, nil, Options{})
	if _, err := s.DB().Exec("CREATE TABLE kv(k TEXT PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}
	ro, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ro.Close() })
	return s, ro
}

func insertKV(k string) func(ctx context.Context, tx *wtx) error {
	return func(ctx context.Context, tx *wtx) error {
		_, err := tx.ExecContext(ctx, "INSERT INTO kv(k) VALUES (?)", k)
		return err
	}
}

func hasKV(t testing.TB, db *sql.DB, k string) bool {
	t.Helper()
	var n int
	if err := db.QueryRow("SELECT COUNT(*) FROM kv WHERE k = ?", k).Scan(&n); err != nil {
		t.Fatalf("read kv: %v", err)
	}
	return n == 1
}

// blockWriter submits a job that holds the writer until release is called,
// and returns once that job runs (so later jobs queue up behind it).
func blockWriter(t *testing.T, s *Store) (release func()) {
	t.Helper()
	started, unblock, done := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		done <- s.write(ctx, func(ctx context.Context, tx *wtx) error {
			close(started)
			<-unblock
			return nil
		})
	}()
	<-started
	return func() {
		close(unblock)
		if err := <-done; err != nil {
			t.Errorf("blocking job: %v", err)
		}
	}
}

// waitQueued waits until n jobs wait in the writer's queue.
func waitQueued(t *testing.T, s *Store, n int) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d queued write jobs", n), func() bool { return len(s.w.jobs) >= n })
}

// Concurrent writers share one commit, and each caller returns only once
// its own data is durable and visible to a separate connection.
func TestGroupCommitSharesBatches(t *testing.T) {
	s, ro := kvStore(t)
	var mu sync.Mutex
	var sizes []int
	s.w.hook = func(n int) error {
		mu.Lock()
		sizes = append(sizes, n)
		mu.Unlock()
		return nil
	}
	release := blockWriter(t, s)
	const n = 20
	errs := make(chan error, n)
	for i := range n {
		go func() {
			k := fmt.Sprint("k", i)
			if err := s.write(ctx, insertKV(k)); err != nil {
				errs <- err
				return
			}
			// Released only after the commit: the row is visible to
			// another connection as soon as write returned.
			var c int
			if err := ro.QueryRow("SELECT COUNT(*) FROM kv WHERE k = ?", k).Scan(&c); err != nil || c != 1 {
				errs <- fmt.Errorf("%s: not visible after write returned (%d, %v)", k, c, err)
				return
			}
			errs <- nil
		}()
	}
	waitQueued(t, s, n)
	release()
	for range n {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	// The blocking job alone, then every queued job in one commit.
	if !slices.Equal(sizes, []int{1, n}) {
		t.Errorf("batch sizes %v, want [1 %d]", sizes, n)
	}
	var c int
	ro.QueryRow("SELECT COUNT(*) FROM kv").Scan(&c)
	if c != n {
		t.Errorf("%d rows, want %d", c, n)
	}
}

// A failed commit fails every caller of its batch, and none of their data
// is stored; the writer keeps working afterwards.
func TestGroupCommitFailureFailsWholeBatch(t *testing.T) {
	s, ro := kvStore(t)
	calls := 0 // only the writer goroutine touches it
	s.w.hook = func(n int) error {
		calls++
		if calls == 2 {
			return errors.New("disk on fire")
		}
		return nil
	}
	release := blockWriter(t, s)
	const n = 8
	errs := make(chan error, n)
	for i := range n {
		go func() { errs <- s.write(ctx, insertKV(fmt.Sprint("k", i))) }()
	}
	waitQueued(t, s, n)
	release()
	for range n {
		if err := <-errs; err == nil || !strings.Contains(err.Error(), "disk on fire") {
			t.Errorf("caller of the failed batch: %v, want the commit error", err)
		}
	}
	for i := range n {
		if hasKV(t, ro, fmt.Sprint("k", i)) {
			t.Errorf("k%d stored by a failed commit", i)
		}
	}
	if err := s.write(ctx, insertKV("after")); err != nil || !hasKV(t, ro, "after") {
		t.Errorf("write after a failed commit: %v", err)
	}
}

// One job of a batch that fails, panics or was cancelled before its batch
// ran affects only its own caller: its changes are rolled back to its
// savepoint (or it never runs) and the other jobs of the batch commit.
func TestGroupCommitJobFailsAlone(t *testing.T) {
	for _, tc := range []struct {
		name    string
		job     func(ran *bool) func(ctx context.Context, tx *wtx) error
		cancel  bool // cancel the job's context while it waits in the queue
		wantErr string
		wantRan bool
	}{
		{
			name: "error",
			job: func(ran *bool) func(ctx context.Context, tx *wtx) error {
				return func(ctx context.Context, tx *wtx) error {
					*ran = true
					if err := insertKV("bad")(ctx, tx); err != nil {
						return err
					}
					return errors.New("job failed")
				}
			},
			wantErr: "job failed", wantRan: true,
		},
		{
			name: "panic",
			job: func(ran *bool) func(ctx context.Context, tx *wtx) error {
				return func(ctx context.Context, tx *wtx) error {
					*ran = true
					if err := insertKV("bad")(ctx, tx); err != nil {
						return err
					}
					panic("boom")
				}
			},
			wantErr: "write panicked: boom", wantRan: true,
		},
		{
			name: "cancelled",
			job: func(ran *bool) func(ctx context.Context, tx *wtx) error {
				return func(ctx context.Context, tx *wtx) error {
					*ran = true
					return insertKV("bad")(ctx, tx)
				}
			},
			cancel: true, wantErr: context.Canceled.Error(),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, ro := kvStore(t)
			var mu sync.Mutex
			var sizes []int
			s.w.hook = func(n int) error {
				mu.Lock()
				sizes = append(sizes, n)
				mu.Unlock()
				return nil
			}
			release := blockWriter(t, s)
			const good = 4
			errs := make(chan error, good)
			for i := range good {
				go func() { errs <- s.write(ctx, insertKV(fmt.Sprint("k", i))) }()
			}
			waitQueued(t, s, good)
			jctx, cancel := context.WithCancel(ctx)
			defer cancel()
			var ran bool // written by the writer, read after the job's done
			badErr := make(chan error, 1)
			go func() { badErr <- s.write(jctx, tc.job(&ran)) }()
			waitQueued(t, s, good+1)
			if tc.cancel {
				cancel()
			}
			release()
			err := <-badErr
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("failing job: %v, want %q", err, tc.wantErr)
			}
			if ran != tc.wantRan {
				t.Errorf("job ran = %v, want %v", ran, tc.wantRan)
			}
			for range good {
				if err := <-errs; err != nil {
					t.Errorf("other job of the batch: %v", err)
				}
			}
			for i := range good {
				if !hasKV(t, ro, fmt.Sprint("k", i)) {
					t.Errorf("k%d of the same batch not committed", i)
				}
			}
			if hasKV(t, ro, "bad") {
				t.Error("the failed job's write was committed")
			}
			mu.Lock()
			defer mu.Unlock()
			want := good + 1
			if tc.cancel {
				want = good // a cancelled job is not run at all
			}
			if !slices.Equal(sizes, []int{1, want}) {
				t.Errorf("batch sizes %v, want [1 %d]", sizes, want)
			}
		})
	}
}

// A job whose context ended before it was submitted is not run.
func TestWriteWithCancelledContext(t *testing.T) {
	s, ro := kvStore(t)
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	ran := false
	err := s.write(cctx, func(ctx context.Context, tx *wtx) error {
		ran = true
		return insertKV("x")(ctx, tx)
	})
	if !errors.Is(err, context.Canceled) || ran || hasKV(t, ro, "x") {
		t.Errorf("write with a cancelled context: err %v, ran %v", err, ran)
	}
}

// A panic in a job that is alone in its batch is an error for its caller
// and the writer survives it.
func TestWritePanicAlone(t *testing.T) {
	s, ro := kvStore(t)
	err := s.write(ctx, func(ctx context.Context, tx *wtx) error {
		if err := insertKV("x")(ctx, tx); err != nil {
			return err
		}
		panic("boom")
	})
	if err == nil || !strings.Contains(err.Error(), "boom") {
		t.Errorf("panicking write: %v", err)
	}
	if hasKV(t, ro, "x") {
		t.Error("the panicking job's write was committed")
	}
	if err := s.write(ctx, insertKV("y")); err != nil || !hasKV(t, ro, "y") {
		t.Errorf("write after a panic: %v", err)
	}
}

// Writes after Close fail with ErrClosed; Close is idempotent.
func TestWriteAfterClose(t *testing.T) {
	s, err := Open(ctx, filepath.Join(t.TempDir(), "dispatcher.db"), Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s.w.close()
	ran := false
	if err := s.write(ctx, func(context.Context, *wtx) error { ran = true; return nil }); !errors.Is(err, ErrClosed) || ran {
		t.Errorf("write after close: %v (ran %v), want ErrClosed", err, ran)
	}
	if _, _, err := s.Queue("q").Send(ctx, NewMessage{Body: []byte("x")}); !errors.Is(err, ErrClosed) {
		t.Errorf("send after close: %v, want ErrClosed", err)
	}
	if err := s.Publish(ctx, testEvent(facts.TypeRequestAccepted, time.Now(), "d", "acme/api")); !errors.Is(err, ErrClosed) {
		t.Errorf("publish after close: %v, want ErrClosed", err)
	}
}
