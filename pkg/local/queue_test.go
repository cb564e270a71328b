package local

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var ctx = context.Background()

func TestQueueReceiveAckVisibility(t *testing.T) {
	c := newClock()
	s := openTemp(t, c, Options{})
	q := s.Queue("requests")
	enqAt := c.Now()
	for _, b := range []string{`{"n":1}`, `{"n":2}`} {
		if err := q.Enqueue(ctx, "", []byte(b)); err != nil {
			t.Fatal(err)
		}
	}
	c.Add(time.Second)
	got, err := q.Receive(ctx, 10, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || string(got[0].Body) != `{"n":1}` || got[0].ReceiveCount != 1 || !got[0].EnqueuedAt.Equal(enqAt) || got[0].Receipt == "" {
		t.Fatalf("first receive: %+v", got)
	}
	if again, _ := q.Receive(ctx, 10, 0); len(again) != 0 {
		t.Fatalf("in-flight messages received again: %+v", again)
	}
	if err := q.Ack(ctx, got[0].Receipt); err != nil {
		t.Fatal(err)
	}
	if err := q.Ack(ctx, got[0].Receipt); !errors.Is(err, ErrStaleReceipt) {
		t.Errorf("second ack: %v, want ErrStaleReceipt", err)
	}
	c.Add(29 * time.Second)
	if again, _ := q.Receive(ctx, 10, 0); len(again) != 0 {
		t.Fatalf("visible before the timeout: %+v", again)
	}
	c.Add(time.Second) // the visibility timeout has passed: the unacked message is back
	again, err := q.Receive(ctx, 10, 0)
	if err != nil || len(again) != 1 || again[0].ID != got[1].ID || again[0].ReceiveCount != 2 {
		t.Fatalf("after timeout: %+v %v", again, err)
	}
	// The old receipt is stale now; it can neither ack nor retry.
	if err := q.Ack(ctx, got[1].Receipt); !errors.Is(err, ErrStaleReceipt) {
		t.Errorf("stale ack: %v", err)
	}
	if err := q.Retry(ctx, got[1].Receipt, 0, "x"); !errors.Is(err, ErrStaleReceipt) {
		t.Errorf("stale retry: %v", err)
	}
	if err := q.Ack(ctx, "garbage"); !errors.Is(err, ErrStaleReceipt) {
		t.Errorf("malformed receipt: %v", err)
	}
	if err := q.Extend(ctx, again[0].Receipt, time.Hour); err != nil {
		t.Fatal(err)
	}
	c.Add(59 * time.Minute)
	if m, _ := q.Receive(ctx, 10, 0); len(m) != 0 {
		t.Errorf("extended message received: %+v", m)
	}
	if err := q.Ack(ctx, again[0].Receipt); err != nil {
		t.Fatal(err)
	}
	st, err := q.Stats(ctx)
	if err != nil || st != (QueueStats{}) {
		t.Errorf("stats of an empty queue: %+v %v", st, err)
	}
}

func TestQueueRetryThenDeadLetter(t *testing.T) {
	c := newClock()
	s := openTemp(t, c, Options{MaxReceives: 3})
	q := s.Queue("targets")
	body := `{"delivery_id":"d-1","target":{"repository":"Acme/Deploy","workflow":"CD.yml"}}`
	id, dup, err := q.Send(ctx, NewMessage{DedupID: "k1", Body: []byte(body)})
	if err != nil || dup {
		t.Fatal(err, dup)
	}
	for i := 1; i <= 3; i++ {
		m, err := q.Receive(ctx, 1, 0)
		if err != nil || len(m) != 1 || m[0].ReceiveCount != i {
			t.Fatalf("receive %d: %+v %v", i, m, err)
		}
		if err := q.Retry(ctx, m[0].Receipt, 10*time.Second, fmt.Sprintf("boom %d", i)); err != nil {
			t.Fatal(err)
		}
		c.Add(5 * time.Second)
		if m, _ := q.Receive(ctx, 1, 0); len(m) != 0 {
			t.Fatalf("visible before the retry delay")
		}
		c.Add(5 * time.Second)
	}
	// The fourth receive would exceed MaxReceives: the message moves to the DLQ.
	if m, err := q.Receive(ctx, 1, 0); err != nil || len(m) != 0 {
		t.Fatalf("fourth receive returned %+v %v", m, err)
	}
	dl, err := q.ListDLQ(ctx, Filter{})
	if err != nil || len(dl) != 1 {
		t.Fatalf("DLQ: %+v %v", dl, err)
	}
	d := dl[0]
	if d.ID != id || d.LastError != "boom 3" || d.ReceiveCount != 3 || d.SourceQueue != "targets" || d.Queue != "targets.dlq" ||
		d.DeliveryID != "d-1" || d.TargetRepo != "acme/deploy" || d.TargetWorkflow != "cd.yml" || d.DeadLetteredAt.IsZero() || string(d.Body) != body {
		t.Errorf("dead letter %+v", d)
	}
	if st, _ := q.Stats(ctx); st.DeadLetters != 1 || st.Visible != 0 {
		t.Errorf("stats %+v", st)
	}
	moved, err := q.Redrive(ctx, Filter{})
	if err != nil || len(moved) != 1 || moved[0].ReceiveCount != 0 || moved[0].Queue != "targets" || moved[0].RedriveCount != 1 || moved[0].LastError != "boom 3" {
		t.Fatalf("redrive: %+v %v", moved, err)
	}
	m, err := q.Receive(ctx, 1, 0)
	if err != nil || len(m) != 1 || m[0].ReceiveCount != 1 || !m[0].EnqueuedAt.Equal(d.EnqueuedAt) {
		t.Fatalf("after redrive: %+v %v", m, err)
	}
	if dl, _ := q.ListDLQ(ctx, Filter{}); len(dl) != 0 {
		t.Errorf("DLQ not empty after redrive: %+v", dl)
	}
}

func TestQueueDeadLetterOnVisibilityExpiry(t *testing.T) {
	c := newClock()
	s := openTemp(t, c, Options{}) // default 5 receives
	q := s.Queue("requests")
	if err := q.Enqueue(ctx, "d", []byte(`{"delivery_id":"d"}`)); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= DefaultMaxReceives; i++ {
		if m, _ := q.Receive(ctx, 1, time.Minute); len(m) != 1 || m[0].ReceiveCount != i {
			t.Fatalf("receive %d: %+v", i, m)
		}
		c.Add(time.Minute) // crash: never acked
	}
	if m, _ := q.Receive(ctx, 1, time.Minute); len(m) != 0 {
		t.Fatalf("sixth receive got %+v", m)
	}
	dl, _ := q.ListDLQ(ctx, Filter{})
	if len(dl) != 1 || !strings.Contains(dl[0].LastError, "after 5 receives") {
		t.Fatalf("dead letter %+v", dl)
	}
}

func TestQueueDLQFiltersAndMove(t *testing.T) {
	c := newClock()
	s := openTemp(t, c, Options{})
	q := s.Queue("targets")
	items := []struct{ d, repo, wf string }{{"d1", "acme/a", "cd.yml"}, {"d1", "acme/b", "cd.yml"}, {"d2", "acme/a", "release.yml"}, {"d3", "acme/c", "cd.yml"}}
	for _, it := range items {
		b := fmt.Sprintf(`{"delivery_id":%q,"target":{"repository":%q,"workflow":%q}}`, it.d, it.repo, it.wf)
		if err := q.Enqueue(ctx, it.d+it.repo+it.wf, []byte(b)); err != nil {
			t.Fatal(err)
		}
	}
	msgs, _ := q.Receive(ctx, 10, 0)
	if len(msgs) != 4 {
		t.Fatalf("received %d", len(msgs))
	}
	for _, m := range msgs {
		c.Add(time.Second)
		if err := q.MoveToDLQ(ctx, m.Receipt, "404 Not Found: "+m.TargetRepo); err != nil {
			t.Fatal(err)
		}
	}
	if err := q.Ack(ctx, msgs[0].Receipt); !errors.Is(err, ErrStaleReceipt) {
		t.Errorf("ack of a dead letter: %v", err)
	}
	ids := func(ms []Message) []int64 {
		var out []int64
		for _, m := range ms {
			out = append(out, m.ID)
		}
		return out
	}
	cases := []struct {
		f    Filter
		want []int64
	}{
		{Filter{}, ids(msgs)},
		{Filter{DeliveryID: "d1"}, ids(msgs[:2])},
		{Filter{TargetRepo: "ACME/A"}, []int64{msgs[0].ID, msgs[2].ID}},
		{Filter{TargetRepo: "acme/a", TargetWorkflow: "release.yml"}, []int64{msgs[2].ID}},
		{Filter{Limit: 3}, ids(msgs[:3])},
		{Filter{IDs: []int64{msgs[3].ID, msgs[1].ID}}, []int64{msgs[1].ID, msgs[3].ID}},
		{Filter{DeliveryID: "nope"}, nil},
	}
	for _, tc := range cases {
		got, err := q.ListDLQ(ctx, tc.f)
		if err != nil || !slices.Equal(ids(got), tc.want) {
			t.Errorf("ListDLQ(%+v) = %v %v, want %v", tc.f, ids(got), err, tc.want)
		}
	}
	m, err := q.InspectDLQ(ctx, msgs[2].ID)
	if err != nil || m.LastError != "404 Not Found: acme/a" {
		t.Errorf("inspect: %+v %v", m, err)
	}
	if _, err := q.InspectDLQ(ctx, 9999); !errors.Is(err, ErrNotFound) {
		t.Errorf("inspect missing: %v", err)
	}
	// Another queue's DLQ is separate.
	if other, _ := s.Queue("requests").ListDLQ(ctx, Filter{}); len(other) != 0 {
		t.Errorf("requests DLQ holds %+v", other)
	}
	moved, err := q.Redrive(ctx, Filter{DeliveryID: "d1"})
	if err != nil || !slices.Equal(ids(moved), ids(msgs[:2])) {
		t.Fatalf("redrive d1: %v %v", ids(moved), err)
	}
	if rest, _ := q.ListDLQ(ctx, Filter{}); !slices.Equal(ids(rest), ids(msgs[2:])) {
		t.Errorf("left in DLQ: %v", ids(rest))
	}
	if back, _ := q.Receive(ctx, 10, 0); !slices.Equal(ids(back), ids(msgs[:2])) {
		t.Errorf("received after redrive: %v", ids(back))
	}
}

func TestQueueDedup(t *testing.T) {
	c := newClock()
	s := openTemp(t, c, Options{DedupWindow: 10 * time.Minute})
	q := s.Queue("requests")
	send := func(q *Queue, id string) bool {
		t.Helper()
		_, dup, err := q.Send(ctx, NewMessage{DedupID: id, Body: []byte("x")})
		if err != nil {
			t.Fatal(err)
		}
		return dup
	}
	if send(q, "d-1") {
		t.Fatal("first send is a duplicate")
	}
	c.Add(9 * time.Minute)
	if !send(q, "d-1") {
		t.Error("duplicate within the window was enqueued")
	}
	if send(s.Queue("targets"), "d-1") {
		t.Error("same id on another queue is a duplicate")
	}
	if send(q, "") || send(q, "") {
		t.Error("empty dedup id deduplicated")
	}
	c.Add(time.Minute)
	if send(q, "d-1") {
		t.Error("id past the window was dropped")
	}
	if st, _ := q.Stats(ctx); st.Visible != 4 {
		t.Errorf("visible %d, want 4", st.Visible)
	}
	// Disabled deduplication.
	s2 := openTemp(t, c, Options{DedupWindow: -1})
	q2 := s2.Queue("requests")
	if send(q2, "a") || send(q2, "a") {
		t.Error("dedup not disabled")
	}
}

func TestQueueConcurrentReceivers(t *testing.T) {
	s := openTemp(t, newClock(), Options{})
	q := s.Queue("targets")
	const n = 300
	for i := range n {
		if err := q.Enqueue(ctx, fmt.Sprint(i), []byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	seen := map[int64]int{}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				ms, err := q.Receive(ctx, 7, time.Hour)
				if err != nil {
					errs <- err
					return
				}
				if len(ms) == 0 {
					return
				}
				for _, m := range ms {
					mu.Lock()
					seen[m.ID]++
					mu.Unlock()
					if err := q.Ack(ctx, m.Receipt); err != nil {
						errs <- err
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if len(seen) != n {
		t.Errorf("received %d distinct messages, want %d", len(seen), n)
	}
	for id, k := range seen {
		if k != 1 {
			t.Errorf("message %d received %d times", id, k)
		}
	}
}

// TestQueueSurvivesKill enqueues and receives in a child process that is
// killed with SIGKILL before it acks; reopening the file later gives the
// message back.
func TestQueueSurvivesKill(t *testing.T) {
	if os.Getenv("DISPATCHER_LOCAL_KILL_CHILD") != "" {
		return
	}
	path := filepath.Join(t.TempDir(), "kill.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestKillChild$")
	cmd.Env = append(os.Environ(), "DISPATCHER_LOCAL_KILL_CHILD="+path)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("child did not die by SIGKILL: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "received") {
		t.Fatalf("child output: %s", out)
	}
	c := newClock()
	s := openAt(t, path, c, Options{})
	q := s.Queue("targets")
	if m, _ := q.Receive(ctx, 1, 0); len(m) != 0 {
		t.Fatalf("message visible before its timeout: %+v", m)
	}
	c.Add(31 * time.Second)
	m, err := q.Receive(ctx, 1, 0)
	if err != nil || len(m) != 1 || string(m[0].Body) != "work" || m[0].ReceiveCount != 2 {
		t.Fatalf("after kill: %+v %v", m, err)
	}
	// The fact published before the kill is there, once.
	fold(t, s)
	if sum, _ := s.Summary(ctx); sum.Total != 1 {
		t.Errorf("summary total %d, want 1", sum.Total)
	}
}

// TestKillChild is the child of TestQueueSurvivesKill.
func TestKillChild(t *testing.T) {
	path := os.Getenv("DISPATCHER_LOCAL_KILL_CHILD")
	if path == "" {
		t.Skip("helper process")
	}
	c := newClock()
	s, err := Open(ctx, path, Options{Clock: c.Now, Create: true})
	if err != nil {
		t.Fatal(err)
	}
	q := s.Queue("targets")
	if err := q.Enqueue(ctx, "k", []byte("work")); err != nil {
		t.Fatal(err)
	}
	if err := s.Publish(ctx, testEvent("dispatch.target.queued", c.Now(), "d-k", "acme/api")); err != nil {
		t.Fatal(err)
	}
	if m, err := q.Receive(ctx, 1, 30*time.Second); err != nil || len(m) != 1 {
		t.Fatal(m, err)
	}
	fmt.Println("received")
	os.Stdout.Sync()
	syscall.Kill(os.Getpid(), syscall.SIGKILL)
	time.Sleep(time.Minute)
}

// Closing and reopening keeps in-flight messages in flight until their
// timeout, then gives them back.
func TestQueueReopenAfterClose(t *testing.T) {
	c := newClock()
	path := filepath.Join(t.TempDir(), "d.db")
	s := openAt(t, path, c, Options{})
	if err := s.Queue("requests").Enqueue(ctx, "a", []byte("A")); err != nil {
		t.Fatal(err)
	}
	if m, _ := s.Queue("requests").Receive(ctx, 1, time.Minute); len(m) != 1 {
		t.Fatal("no message")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	c.Add(2 * time.Minute)
	s2 := openAt(t, path, c, Options{})
	m, err := s2.Queue("requests").Receive(ctx, 1, 0)
	if err != nil || len(m) != 1 || string(m[0].Body) != "A" || m[0].ReceiveCount != 2 {
		t.Fatalf("after reopen: %+v %v", m, err)
	}
	// The dedup id survived too.
	if _, dup, _ := s2.Queue("requests").Send(ctx, NewMessage{DedupID: "a", Body: []byte("A")}); !dup {
		t.Error("dedup id lost on reopen")
	}
}
