package local

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// DefaultPath is the database file used when Open is given an empty path.
const DefaultPath = "dispatcher.db"

// Defaults of Options.
const (
	DefaultBusyTimeout       = 5 * time.Second
	DefaultVisibilityTimeout = 30 * time.Second
	DefaultMaxReceives       = 5
	DefaultDedupWindow       = 10 * time.Minute
	DefaultReplayWindow      = 10 * time.Minute
	DefaultClaimTTL          = 30 * 24 * time.Hour
	DefaultLineageTTL        = 30 * 24 * time.Hour
	DefaultRetention         = 30 * 24 * time.Hour
	DefaultHealthWindow      = 24 * time.Hour
	DefaultOutcomeTTL        = 7 * 24 * time.Hour
	// MinuteRetention is how long per-minute top-repo buckets are kept;
	// TopRepos accepts windows up to this length.
	MinuteRetention = 2 * time.Hour
)

// Errors.
var (
	// ErrSchemaTooNew: the file was written by a newer dispatcher.
	ErrSchemaTooNew = errors.New("database schema is newer than this dispatcher")
	// ErrStaleReceipt: the receipt does not match the message's latest
	// receive (its visibility timeout expired and it was received again,
	// or it was already acknowledged).
	ErrStaleReceipt = errors.New("stale or unknown receipt")
	// ErrNotFound: no such message.
	ErrNotFound = errors.New("not found")
	// ErrInvalidFact: a fact without id, type or time.
	ErrInvalidFact = errors.New("invalid fact")
	// ErrNoStore: no file at the path, and Options.Create was not set.
	ErrNoStore = errors.New("no dispatcher store")
	// ErrNotAStore: the file exists but is not a dispatcher store (not
	// SQLite, or SQLite without dispatcher's schema table).
	ErrNotAStore = errors.New("not a dispatcher store")
)

// Options configure a Store. Zero values take the defaults above; a
// negative DedupWindow disables queue deduplication and a negative
// Retention keeps facts for ever.
type Options struct {
	// Clock returns the current time; default time.Now. Every expiry,
	// visibility and window is computed from it.
	Clock func() time.Time
	// BusyTimeout is how long a statement waits for a lock.
	BusyTimeout time.Duration
	// VisibilityTimeout is used by Receive when it is given 0
	// (QUEUE_VISIBILITY_TIMEOUT).
	VisibilityTimeout time.Duration
	// MaxReceives is the number of receives after which a message moves to
	// its dead-letter queue (QUEUE_MAX_RECEIVES).
	MaxReceives int
	// DedupWindow is how long an Enqueue dedup id is remembered.
	DedupWindow time.Duration
	// ReplayWindow is how long a webhook delivery id counts as seen
	// (REPLAY_WINDOW).
	ReplayWindow time.Duration
	// ClaimTTL is how long an idempotency record lives. Keep it longer than
	// any dead letter may wait for a redrive.
	ClaimTTL time.Duration
	// LineageTTL is how long the chain of a dispatched run is kept.
	LineageTTL time.Duration
	// OutcomeTTL is how long per-target outcomes (result issues) are kept.
	OutcomeTTL time.Duration
	// Retention is how long facts, delivery funnels, failures and hourly
	// buckets are kept by Cleanup.
	Retention time.Duration
	// HealthWindow is the window of the health report's success rate,
	// backlogs and latency (whole hours, rounded up).
	HealthWindow time.Duration
	// Synchronous is the SQLite synchronous setting: "FULL" (default:
	// a committed transaction survives power loss) or "NORMAL" (survives a
	// process crash; faster).
	Synchronous string
	// Create lets Open initialise a new store at a path where no file
	// exists yet (or an empty file). Without it (the tools: replay-dlq,
	// status) a missing file is ErrNoStore. A file that exists but is not a
	// dispatcher store is always refused (ErrNotAStore) and left untouched.
	Create bool
	// MaxBatch is the most write jobs one group commit holds
	// (DefaultMaxBatch when 0).
	MaxBatch int
	// ReadConns is the size of the read connection pool (4 when 0).
	ReadConns int
	// BackgroundCheckpoint moves WAL checkpoints off the commit path: the
	// writer never checkpoints, and RunCheckpointer must run (serve does).
	// Without it SQLite checkpoints inside the commit that crosses 1000
	// pages of WAL, which stalls every caller of that group commit.
	BackgroundCheckpoint bool
	// BeforeCommit, when set, runs before each group commit with the number
	// of jobs in it; an error fails the commit (every caller in it gets the
	// error, nothing of the batch is stored). It is the crash-point fault
	// injection of the tests; production code leaves it nil.
	BeforeCommit func(jobs int) error
}

func (o Options) withDefaults() Options {
	if o.Clock == nil {
		o.Clock = time.Now
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&o.BusyTimeout, DefaultBusyTimeout)
	def(&o.VisibilityTimeout, DefaultVisibilityTimeout)
	def(&o.DedupWindow, DefaultDedupWindow)
	def(&o.ReplayWindow, DefaultReplayWindow)
	def(&o.ClaimTTL, DefaultClaimTTL)
	def(&o.LineageTTL, DefaultLineageTTL)
	def(&o.Retention, DefaultRetention)
	def(&o.HealthWindow, DefaultHealthWindow)
	def(&o.OutcomeTTL, DefaultOutcomeTTL)
	if o.MaxReceives <= 0 {
		o.MaxReceives = DefaultMaxReceives
	}
	if o.Synchronous == "" {
		o.Synchronous = "FULL"
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = DefaultMaxBatch
	}
	if o.ReadConns <= 0 {
		o.ReadConns = 4
	}
	return o
}

// Store is the embedded SQLite store. It is safe for concurrent use, also
// by several processes on the same file. Within a process every write goes
// through one writer goroutine that group-commits the writes of concurrent
// callers (see writer); reads use a separate pool of read-only
// connections, so they never wait for a commit.
type Store struct {
	db   *sql.DB // read-only pool
	wdb  *sql.DB // the one write connection, owned by w
	ckdb *sql.DB // the checkpointer's connection (BackgroundCheckpoint)
	w    *writer
	path string
	opts Options

	mu      sync.Mutex
	wake    map[string]chan struct{} // per queue: closed (and replaced) after a commit that enqueued
	foldSig chan struct{}            // signalled after a commit that appended facts
}

// Open opens the dispatcher store at path (DefaultPath when empty), enables
// WAL and applies pending schema migrations. A file that is not a
// dispatcher store is refused with ErrNotAStore and left untouched; a
// missing (or empty) file is created only when opts.Create is set,
// ErrNoStore otherwise. It fails with ErrSchemaTooNew when the file was
// migrated by a newer version.
func Open(ctx context.Context, path string, opts Options) (*Store, error) {
	if path == "" {
		path = DefaultPath
	}
	if strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("open store %q: the path must not contain '?' or '#'", path)
	}
	opts = opts.withDefaults()
	syncMode := strings.ToUpper(opts.Synchronous)
	if syncMode != "FULL" && syncMode != "NORMAL" {
		return nil, fmt.Errorf("open store %q: synchronous must be FULL or NORMAL, not %q", path, opts.Synchronous)
	}
	if err := checkFile(ctx, path, opts.Create); err != nil {
		return nil, err
	}
	var writerPragmas []string
	if opts.BackgroundCheckpoint {
		writerPragmas = append(writerPragmas, "wal_autocheckpoint(0)")
	}
	dsn := func(extra ...string) string {
		q := url.Values{}
		q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", opts.BusyTimeout.Milliseconds()))
		q.Add("_pragma", "journal_mode(WAL)")
		q.Add("_pragma", "synchronous("+syncMode+")")
		q.Add("_pragma", "foreign_keys(1)")
		for _, e := range extra {
			q.Add("_pragma", e)
		}
		q.Set("_txlock", "immediate")
		return path + "?" + q.Encode()
	}
	wdb, err := sql.Open("sqlite", dsn(writerPragmas...))
	if err != nil {
		return nil, fmt.Errorf("open store %q: %w", path, err)
	}
	wdb.SetMaxOpenConns(1)
	wdb.SetMaxIdleConns(1)
	wdb.SetConnMaxLifetime(0)
	var mode string
	if err := wdb.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		wdb.Close()
		return nil, fmt.Errorf("open store %q: %w", path, err)
	}
	if !strings.EqualFold(mode, "wal") {
		wdb.Close()
		return nil, fmt.Errorf("open store %q: journal mode is %q, want wal", path, mode)
	}
	s := &Store{wdb: wdb, path: path, opts: opts, wake: map[string]chan struct{}{}, foldSig: make(chan struct{}, 1)}
	if err := s.migrate(ctx); err != nil {
		wdb.Close()
		return nil, fmt.Errorf("open store %q: %w", path, err)
	}
	db, err := sql.Open("sqlite", dsn("query_only(1)"))
	if err != nil {
		wdb.Close()
		return nil, fmt.Errorf("open store %q: %w", path, err)
	}
	db.SetMaxOpenConns(opts.ReadConns)
	db.SetMaxIdleConns(opts.ReadConns)
	s.db = db
	if opts.BackgroundCheckpoint {
		if s.ckdb, err = sql.Open("sqlite", dsn()); err != nil {
			db.Close()
			wdb.Close()
			return nil, fmt.Errorf("open store %q: %w", path, err)
		}
		s.ckdb.SetMaxOpenConns(1)
	}
	s.w = newWriter(wdb, opts.MaxBatch)
	s.w.hook = opts.BeforeCommit
	return s, nil
}

// FileError says why the file at Path cannot be a dispatcher store; it
// wraps ErrNoStore or ErrNotAStore. The file was not changed.
type FileError struct {
	Path   string
	Reason string // e.g. "not a SQLite database"
	Err    error  // ErrNoStore or ErrNotAStore
}

// Error implements error.
func (e *FileError) Error() string { return e.Path + ": " + e.Reason }

// Unwrap returns ErrNoStore or ErrNotAStore.
func (e *FileError) Unwrap() error { return e.Err }

// sqliteHeader starts every SQLite database file.
const sqliteHeader = "SQLite format 3\x00"

// checkFile refuses a path that holds something other than a dispatcher
// store, without changing it: the file must be a SQLite database with the
// schema_migrations table. A missing or empty file is accepted only when
// create is set.
func checkFile(ctx context.Context, path string, create bool) error {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist) || (err == nil && fi.Mode().IsRegular() && fi.Size() == 0):
		if !create {
			reason := "no store here (dispatcher serve creates it)"
			if err == nil {
				reason = "the file is empty, not a store"
			}
			return &FileError{Path: path, Reason: reason, Err: ErrNoStore}
		}
		return nil
	case err != nil:
		return fmt.Errorf("open store %q: %w", path, err)
	case !fi.Mode().IsRegular():
		return &FileError{Path: path, Reason: "not a regular file", Err: ErrNotAStore}
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("open store %q: %w", path, err)
	}
	head := make([]byte, len(sqliteHeader))
	_, rerr := io.ReadFull(f, head)
	f.Close()
	if rerr != nil || string(head) != sqliteHeader {
		return &FileError{Path: path, Reason: "not a SQLite database", Err: ErrNotAStore}
	}
	// Read-only look at the schema. immutable=1 reads the main file alone
	// and creates nothing beside it (no -wal or -shm), so a foreign
	// database is left exactly as it was; only when a -wal file exists
	// already (the database is in use, or was not checkpointed, and the
	// schema may live in the WAL) is the WAL read too.
	hasSchema := func(dsn string) (int, error) {
		ro, err := sql.Open("sqlite", dsn)
		if err != nil {
			return 0, err
		}
		defer ro.Close()
		var n int
		err = ro.QueryRowContext(ctx, "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'").Scan(&n)
		return n, err
	}
	n, err := hasSchema("file:" + path + "?mode=ro&immutable=1")
	if err == nil && n == 0 {
		if _, serr := os.Stat(path + "-wal"); serr == nil {
			n, err = hasSchema("file:" + path + "?mode=ro")
		}
	}
	if err != nil {
		return &FileError{Path: path, Reason: "not a SQLite database (" + err.Error() + ")", Err: ErrNotAStore}
	}
	if n == 0 {
		return &FileError{Path: path, Reason: "a SQLite database, but not a dispatcher store (no schema_migrations table); it was not changed", Err: ErrNotAStore}
	}
	return nil
}

// Close closes the database. Messages received and not acknowledged become
// visible again after their visibility timeout, in this or a later process.
func (s *Store) Close() error {
	s.w.close()
	var ckErr error
	if s.ckdb != nil {
		// Leave a small WAL behind: checkpoint everything now.
		_, _ = s.ckdb.Exec("PRAGMA wal_checkpoint(TRUNCATE)")
		ckErr = s.ckdb.Close()
	}
	err := errors.Join(s.db.Close(), s.wdb.Close(), ckErr)
	if err != nil {
		return fmt.Errorf("close store %q: %w", s.path, err)
	}
	return nil
}

// Path is the database file.
func (s *Store) Path() string { return s.path }

// DB exposes the write connection (for backups with VACUUM INTO and for
// tests); callers must not change the schema. A statement on it waits for
// the writer's current batch.
func (s *Store) DB() *sql.DB { return s.wdb }

func (s *Store) now() time.Time { return s.opts.Clock().UTC() }

// Backup writes a consistent copy of the database to path (VACUUM INTO);
// path must not exist.
func (s *Store) Backup(ctx context.Context, path string) error {
	if _, err := s.wdb.ExecContext(ctx, "VACUUM INTO ?", path); err != nil {
		return fmt.Errorf("backup store to %q: %w", path, err)
	}
	return nil
}

// write runs fn in the writer's next group commit (one immediate,
// write-locked transaction shared with concurrent callers; fn runs in its
// own savepoint) and returns when that commit is durable. fn must use the
// context it is given.
func (s *Store) write(ctx context.Context, fn func(ctx context.Context, tx *wtx) error) error {
	return s.w.do(ctx, fn)
}

// RunCheckpointer copies the WAL into the database file every interval
// (a PASSIVE checkpoint, which never blocks the writer or readers) until
// ctx is done; with Options.BackgroundCheckpoint the writer relies on it.
func (s *Store) RunCheckpointer(ctx context.Context, interval time.Duration, logf func(error)) {
	if s.ckdb == nil {
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, err := s.ckdb.ExecContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)"); err != nil && ctx.Err() == nil && logf != nil {
			logf(fmt.Errorf("checkpoint: %w", err))
		}
	}
}

// wakeChan returns the channel that the next commit enqueuing on queue
// closes: every consumer waiting on it wakes (a broadcast), and a consumer
// that asks again gets a fresh channel.
func (s *Store) wakeChan(queue string) <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.wake[queue]
	if !ok {
		c = make(chan struct{})
		s.wake[queue] = c
	}
	return c
}

// notify wakes every consumer of queue in this process.
func (s *Store) notify(queue string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.wake[queue]; ok {
		close(c)
		delete(s.wake, queue)
	}
}

// notifyFold wakes the background folder.
func (s *Store) notifyFold() {
	select {
	case s.foldSig <- struct{}{}:
	default:
	}
}

func ns(t time.Time) int64 { return t.UnixNano() }

func fromNS(v int64) time.Time { return time.Unix(0, v).UTC() }

func nullTime(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return fromNS(v.Int64)
}

// CleanupStats counts what Cleanup removed.
type CleanupStats struct {
	ReplayIDs, DedupIDs, Claims, Lineage, Outcomes, Events, Projections int64
}

// Cleanup deletes expired rows: replay ids and dedup ids past their
// window, claims, lineage and outcomes past their expiry, facts and per-delivery,
// failure, hourly and latency rows older than Retention, and per-minute
// buckets older than MinuteRetention. Summary and per-repository counters
// are kept. Queue messages (and dead letters) are never expired. Run it
// periodically (serve does it every few minutes).
func (s *Store) Cleanup(ctx context.Context) (CleanupStats, error) {
	now := s.now()
	var st CleanupStats
	err := s.write(ctx, func(ctx context.Context, tx *wtx) error {
		del := func(n *int64, q string, args ...any) error {
			r, err := tx.ExecContext(ctx, q, args...)
			if err != nil {
				return fmt.Errorf("cleanup: %w", err)
			}
			c, _ := r.RowsAffected()
			*n += c
			return nil
		}
		if err := del(&st.ReplayIDs, "DELETE FROM replay_guard WHERE seen_at < ?", ns(now.Add(-s.opts.ReplayWindow))); err != nil {
			return err
		}
		if err := del(&st.DedupIDs, "DELETE FROM queue_dedup WHERE enqueued_at <= ?", ns(now.Add(-max(s.opts.DedupWindow, 0)))); err != nil {
			return err
		}
		if err := del(&st.Claims, "DELETE FROM claims WHERE expires_at <= ?", ns(now)); err != nil {
			return err
		}
		if err := del(&st.Lineage, "DELETE FROM lineage WHERE expires_at <= ?", ns(now)); err != nil {
			return err
		}
		if err := del(&st.Outcomes, "DELETE FROM outcomes WHERE expires_at <= ?", ns(now)); err != nil {
			return err
		}
		if err := del(&st.Claims, "DELETE FROM dispatched_runs WHERE expires_at <= ?", ns(now)); err != nil {
			return err
		}
		if err := del(&st.Projections, "DELETE FROM projections WHERE kind = ? AND sort < ?", kindMinute, now.Add(-MinuteRetention).Unix()); err != nil {
			return err
		}
		if s.opts.Retention < 0 {
			return nil
		}
		cut := now.Add(-s.opts.Retention)
		if err := del(&st.Events, "DELETE FROM events WHERE time < ?", ns(cut)); err != nil {
			return err
		}
		for _, k := range []string{kindDelivery, kindFailure} {
			if err := del(&st.Projections, "DELETE FROM projections WHERE kind = ? AND sort < ?", k, ns(cut)); err != nil {
				return err
			}
		}
		for _, k := range []string{kindHour, kindLatency} {
			if err := del(&st.Projections, "DELETE FROM projections WHERE kind = ? AND sort < ?", k, cut.Unix()); err != nil {
				return err
			}
		}
		return nil
	})
	return st, err
}
