package local

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/dispatcher-dev/dispatcher/pkg/facts"
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
	return o
}

// Store is the embedded SQLite store. It is safe for concurrent use, also
// by several processes on the same file.
type Store struct {
	db   *sql.DB
	path string
	opts Options
	// afterApply, set by tests, runs after each fact's projection rows were
	// written inside the publish transaction; an error aborts it.
	afterApply func(facts.Event) error
}

// Open opens (creating if needed) the database file at path (DefaultPath
// when empty), enables WAL and applies pending schema migrations. It fails
// with ErrSchemaTooNew when the file was migrated by a newer version.
func Open(ctx context.Context, path string, opts Options) (*Store, error) {
	if path == "" {
		path = DefaultPath
	}
	if strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("open store %q: the path must not contain '?' or '#'", path)
	}
	opts = opts.withDefaults()
	sync := strings.ToUpper(opts.Synchronous)
	if sync != "FULL" && sync != "NORMAL" {
		return nil, fmt.Errorf("open store %q: synchronous must be FULL or NORMAL, not %q", path, opts.Synchronous)
	}
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", opts.BusyTimeout.Milliseconds()))
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous("+sync+")")
	q.Add("_pragma", "foreign_keys(1)")
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open store %q: %w", path, err)
	}
	db.SetMaxOpenConns(8)
	db.SetMaxIdleConns(8)
	s := &Store{db: db, path: path, opts: opts}
	var mode string
	if err := db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %q: %w", path, err)
	}
	if !strings.EqualFold(mode, "wal") {
		db.Close()
		return nil, fmt.Errorf("open store %q: journal mode is %q, want wal", path, mode)
	}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %q: %w", path, err)
	}
	return s, nil
}

// Close closes the database. Messages received and not acknowledged become
// visible again after their visibility timeout, in this or a later process.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close store %q: %w", s.path, err)
	}
	return nil
}

// Path is the database file.
func (s *Store) Path() string { return s.path }

// DB exposes the database handle (for backups with VACUUM INTO and for
// tests); callers must not change the schema.
func (s *Store) DB() *sql.DB { return s.db }

func (s *Store) now() time.Time { return s.opts.Clock().UTC() }

// Backup writes a consistent copy of the database to path (VACUUM INTO);
// path must not exist.
func (s *Store) Backup(ctx context.Context, path string) error {
	if _, err := s.db.ExecContext(ctx, "VACUUM INTO ?", path); err != nil {
		return fmt.Errorf("backup store to %q: %w", path, err)
	}
	return nil
}

// write runs fn in one immediate (write-locked) transaction.
func (s *Store) write(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
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
	err := s.write(ctx, func(tx *sql.Tx) error {
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
