package local

import (
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dispatcher-dev/dispatcher/pkg/facts"
	"github.com/dispatcher-dev/dispatcher/pkg/pipeline"
)

func TestMigrations(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.db")
	s := openAt(t, path, nil, Options{})
	var mode string
	s.DB().QueryRow("PRAGMA journal_mode").Scan(&mode)
	if mode != "wal" {
		t.Errorf("journal mode %q", mode)
	}
	count := func(s *Store) (n, max int) {
		s.DB().QueryRow("SELECT COUNT(*), MAX(version) FROM schema_migrations").Scan(&n, &max)
		return
	}
	if n, v := count(s); n != SchemaVersion() || v != SchemaVersion() {
		t.Errorf("fresh db: %d migrations, version %d", n, v)
	}
	s.Close()
	s = openAt(t, path, nil, Options{})
	if n, _ := count(s); n != SchemaVersion() {
		t.Errorf("reopen applied migrations again: %d rows", n)
	}
	if _, err := s.DB().Exec("INSERT INTO schema_migrations(version, name, applied_at) VALUES (?, 'from the future', 0)", SchemaVersion()+1); err != nil {
		t.Fatal(err)
	}
	s.Close()
	_, err := Open(ctx, path, Options{})
	if !errors.Is(err, ErrSchemaTooNew) || !strings.Contains(err.Error(), fmt.Sprintf("version %d", SchemaVersion()+1)) || !strings.Contains(err.Error(), path) {
		t.Errorf("newer schema: %v", err)
	}
	if _, err := Open(ctx, "a?b.db", Options{}); err == nil {
		t.Error("path with '?' accepted")
	}
	if _, err := Open(ctx, filepath.Join(t.TempDir(), "x.db"), Options{Synchronous: "OFF"}); err == nil {
		t.Error("synchronous OFF accepted")
	}
	if _, err := Open(ctx, filepath.Join(t.TempDir(), "missing-dir", "x.db"), Options{}); err == nil {
		t.Error("unwritable path accepted")
	}
}

// Everything written survives Close and reopen.
func TestDurability(t *testing.T) {
	c := newClock()
	path := filepath.Join(t.TempDir(), "dur.db")
	s := openAt(t, path, c, Options{})
	if err := s.Publish(ctx, testEvent(facts.TypeRequestAccepted, c.Now(), "d1", "acme/api")); err != nil {
		t.Fatal(err)
	}
	s.Queue("targets").Enqueue(ctx, "k", []byte("w"))
	s.ReplayGuard().Record(ctx, "d1")
	s.Claim(ctx, "k", c.Now())
	s.Complete(ctx, "k", pipeline.DispatchResult{Attempts: 1, RunID: 5})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openAt(t, path, c, Options{})
	fold(t, s)
	if sum, _ := s.Summary(ctx); sum.RequestAccepted != 1 {
		t.Errorf("summary after reopen %+v", sum)
	}
	if st, _ := s.Queue("targets").Stats(ctx); st.Visible != 1 {
		t.Errorf("queue after reopen %+v", st)
	}
	if seen, _ := s.ReplayGuard().Seen(ctx, "d1"); !seen {
		t.Error("replay id lost")
	}
	if cl, _ := s.Claim(ctx, "k", c.Now()); cl.State != pipeline.ClaimDone || cl.Result.RunID != 5 {
		t.Errorf("claim after reopen %+v", cl)
	}
	// A backup is a complete, openable copy.
	bk := filepath.Join(t.TempDir(), "backup.db")
	if err := s.Backup(ctx, bk); err != nil {
		t.Fatal(err)
	}
	b := openAt(t, bk, c, Options{})
	if sum, _ := b.Summary(ctx); sum.RequestAccepted != 1 {
		t.Errorf("backup summary %+v", sum)
	}
}

func TestCleanup(t *testing.T) {
	c := newClock()
	s := openTemp(t, c, Options{Retention: 48 * time.Hour, ClaimTTL: time.Hour})
	old := c.Now()
	s.Publish(ctx, target(testEvent(facts.TypeTriggerFailed, old, "d1", "acme/api"), "acme/x"))
	s.ReplayGuard().Record(ctx, "r")
	s.Queue("q").Enqueue(ctx, "k", []byte("x"))
	s.Claim(ctx, "c", old)
	c.Add(72 * time.Hour)
	s.Publish(ctx, testEvent(facts.TypeRequestAccepted, c.Now(), "d2", "acme/api"))
	fold(t, s)
	st, err := s.Cleanup(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.ReplayIDs != 1 || st.DedupIDs != 1 || st.Claims != 1 || st.Events != 1 {
		t.Errorf("cleanup %+v", st)
	}
	// Old delivery, failure, hour, minute and latency rows are gone; the
	// new ones, the summary and repo counters stay; the queue message stays.
	if ds, _ := s.RecentDeliveries(ctx, 10); len(ds) != 1 || ds[0].DeliveryID != "d2" {
		t.Errorf("deliveries after cleanup %+v", ds)
	}
	if fs, _ := s.RecentFailures(ctx, 10); len(fs) != 0 {
		t.Errorf("failures after cleanup %+v", fs)
	}
	if sum, _ := s.Summary(ctx); sum.Total != 2 {
		t.Errorf("summary after cleanup %+v", sum)
	}
	if rs, _ := s.RepoStats(ctx, 0); len(rs) != 1 || rs[0].Total != 2 {
		t.Errorf("repo stats after cleanup %+v", rs)
	}
	if q, _ := s.Queue("q").Stats(ctx); q.Visible != 1 {
		t.Errorf("queue message expired: %+v", q)
	}
	var hours int
	s.DB().QueryRow("SELECT COUNT(*) FROM projections WHERE kind IN ('hour', 'minute')").Scan(&hours)
	if hours != 2 {
		t.Errorf("%d hour/minute rows left, want 2 (the new fact's)", hours)
	}
}

// A file written by an older version (schema 1) is migrated on open.
func TestMigrateFromOlderVersion(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.db")
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		"CREATE TABLE schema_migrations (version INTEGER NOT NULL PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)",
		migrations[0].sql,
		"INSERT INTO schema_migrations VALUES (1, 'initial schema', 0)",
		"INSERT INTO queue_messages(queue, body, enqueued_at, visible_at) VALUES ('requests', 'old', 0, 0)",
	} {
		if _, err := raw.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	raw.Close()
	s := openAt(t, path, nil, Options{})
	var v int
	s.DB().QueryRow("SELECT MAX(version) FROM schema_migrations").Scan(&v)
	if v != SchemaVersion() || SchemaVersion() < 2 {
		t.Fatalf("version %d after open, want %d", v, SchemaVersion())
	}
	if _, err := s.Put(ctx, "d", pipeline.Outcome{}); err != nil {
		t.Errorf("table of migration 2 missing: %v", err)
	}
	if ms, _ := s.Queue("requests").Receive(ctx, 1, 0); len(ms) != 1 || string(ms[0].Body) != "old" {
		t.Errorf("data of the old version lost: %+v", ms)
	}
}
