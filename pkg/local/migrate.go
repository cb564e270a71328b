package local

import (
	"context"
	"fmt"
)

// migrations are applied in order, each in its own transaction; the
// schema version is the number of applied migrations. Never edit a
// released migration: append a new one.
var migrations = []struct {
	name string
	sql  string
}{
	{"initial schema", `
CREATE TABLE queue_messages (
	id               INTEGER PRIMARY KEY AUTOINCREMENT,
	queue            TEXT    NOT NULL,
	source_queue     TEXT    NOT NULL DEFAULT '',
	dedup_id         TEXT    NOT NULL DEFAULT '',
	body             BLOB    NOT NULL,
	delivery_id      TEXT    NOT NULL DEFAULT '',
	target_repo      TEXT    NOT NULL DEFAULT '',
	target_workflow  TEXT    NOT NULL DEFAULT '',
	enqueued_at      INTEGER NOT NULL,
	visible_at       INTEGER NOT NULL,
	receive_count    INTEGER NOT NULL DEFAULT 0,
	receipt          INTEGER NOT NULL DEFAULT 0,
	last_error       TEXT    NOT NULL DEFAULT '',
	last_received_at INTEGER,
	dead_lettered_at INTEGER,
	redrive_count    INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX queue_messages_ready ON queue_messages(queue, visible_at, id);
CREATE INDEX queue_messages_delivery ON queue_messages(queue, delivery_id);
CREATE INDEX queue_messages_target ON queue_messages(queue, target_repo, target_workflow);

CREATE TABLE queue_dedup (
	queue       TEXT    NOT NULL,
	dedup_id    TEXT    NOT NULL,
	enqueued_at INTEGER NOT NULL,
	PRIMARY KEY (queue, dedup_id)
) WITHOUT ROWID;
CREATE INDEX queue_dedup_time ON queue_dedup(enqueued_at);

CREATE TABLE replay_guard (
	id      TEXT    NOT NULL PRIMARY KEY,
	seen_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX replay_guard_seen ON replay_guard(seen_at);

CREATE TABLE claims (
	key          TEXT    NOT NULL PRIMARY KEY,
	state        TEXT    NOT NULL,
	claimed_at   INTEGER NOT NULL,
	completed_at INTEGER,
	result       TEXT,
	expires_at   INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX claims_expiry ON claims(expires_at);

CREATE TABLE lineage (
	repository  TEXT    NOT NULL,
	run_id      INTEGER NOT NULL,
	chain       TEXT    NOT NULL,
	recorded_at INTEGER NOT NULL,
	expires_at  INTEGER NOT NULL,
	PRIMARY KEY (repository, run_id)
) WITHOUT ROWID;
CREATE INDEX lineage_expiry ON lineage(expires_at);

CREATE TABLE events (
	seq         INTEGER PRIMARY KEY AUTOINCREMENT,
	id          TEXT    NOT NULL UNIQUE,
	type        TEXT    NOT NULL,
	time        INTEGER NOT NULL,
	delivery_id TEXT    NOT NULL DEFAULT '',
	source_repo TEXT    NOT NULL DEFAULT '',
	recorded_at INTEGER NOT NULL,
	event       TEXT    NOT NULL
);
CREATE INDEX events_time ON events(time, seq);
CREATE INDEX events_delivery ON events(delivery_id, time, seq);

CREATE TABLE projections (
	kind  TEXT    NOT NULL,
	key   TEXT    NOT NULL,
	sort  INTEGER NOT NULL,
	value TEXT    NOT NULL,
	PRIMARY KEY (kind, key)
) WITHOUT ROWID;
CREATE INDEX projections_sort ON projections(kind, sort);
`},
	{"target outcomes for result issues", `
CREATE TABLE outcomes (
	delivery_id TEXT    NOT NULL,
	idx         INTEGER NOT NULL,
	outcome     TEXT    NOT NULL,
	expires_at  INTEGER NOT NULL,
	PRIMARY KEY (delivery_id, idx)
) WITHOUT ROWID;
CREATE INDEX outcomes_expiry ON outcomes(expires_at);
`},
	{"claim leases (takeover of expired in-progress claims)", `
ALTER TABLE claims ADD COLUMN leased_at INTEGER;
`},
	{"projections folded in the background: the fold cursor", `
CREATE TABLE fold_state (
	id  INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
	seq INTEGER NOT NULL
);
INSERT INTO fold_state(id, seq) SELECT 1, COALESCE(MAX(seq), 0) FROM events;
`},
	{"dead-letter filter indexes cover dead letters only", `
DROP INDEX queue_messages_delivery;
DROP INDEX queue_messages_target;
CREATE INDEX queue_messages_dlq_delivery ON queue_messages(queue, delivery_id) WHERE dead_lettered_at IS NOT NULL;
CREATE INDEX queue_messages_dlq_target ON queue_messages(queue, target_repo, target_workflow) WHERE dead_lettered_at IS NOT NULL;
`},
	{"dispatched runs: a run id belongs to at most one dispatch", `
CREATE TABLE dispatched_runs (
	repository TEXT    NOT NULL,
	run_id     INTEGER NOT NULL,
	claim_key  TEXT    NOT NULL,
	expires_at INTEGER NOT NULL,
	PRIMARY KEY (repository, run_id)
) WITHOUT ROWID;
CREATE INDEX dispatched_runs_expiry ON dispatched_runs(expires_at);
`},
}

// SchemaVersion is the schema version this build writes.
func SchemaVersion() int { return len(migrations) }

func (s *Store) migrate(ctx context.Context) error {
	if _, err := s.wdb.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    INTEGER NOT NULL PRIMARY KEY,
	name       TEXT    NOT NULL,
	applied_at INTEGER NOT NULL
)`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	for {
		done, err := s.migrateOne(ctx)
		if err != nil || done {
			return err
		}
	}
}

// migrateOne applies the next migration, re-reading the version inside the
// write transaction so that two processes opening the file at once do not
// apply the same migration twice.
func (s *Store) migrateOne(ctx context.Context) (done bool, err error) {
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("begin: %w", err)
	}
	err = func() error {
		var v int
		if err := tx.QueryRowContext(ctx, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations").Scan(&v); err != nil {
			return fmt.Errorf("read schema version: %w", err)
		}
		if v > len(migrations) {
			return fmt.Errorf("%w: the file is at version %d, this dispatcher knows versions up to %d; upgrade dispatcher or use another DISPATCHER_DB",
				ErrSchemaTooNew, v, len(migrations))
		}
		if v == len(migrations) {
			done = true
			return nil
		}
		m := migrations[v]
		if _, err := tx.ExecContext(ctx, m.sql); err != nil {
			return fmt.Errorf("migration %d (%s): %w", v+1, m.name, err)
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO schema_migrations(version, name, applied_at) VALUES (?, ?, ?)",
			v+1, m.name, ns(s.now())); err != nil {
			return fmt.Errorf("record migration %d: %w", v+1, err)
		}
		return nil
	}()
	if err != nil {
		_ = tx.Rollback()
		return false, err
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("commit migration: %w", err)
	}
	return done, nil
}
