// Package local implements every pipeline port over one embedded SQLite
// file (modernc.org/sqlite, pure Go) for "dispatcher serve": named queues
// with visibility timeout, receive count and a dead-letter queue, the
// webhook replay guard, dispatch idempotency records (claims), run
// lineage, and the fact store whose projections are updated in the same
// transaction as the fact is appended.
//
// Open returns a *Store. The store implements pipeline.FactPublisher,
// pipeline.Claims and pipeline.Lineage; Store.Queue returns a *Queue
// (pipeline.Enqueuer) and Store.ReplayGuard a *ReplayGuard
// (pipeline.ReplayGuard). Admin reads (Summary, RepoStats, HourlyTrend,
// TopRepos, RecentDeliveries, Journey, RecentFailures, RecentEvents,
// HealthInput) are direct keyed reads of projection rows; none aggregates
// events.
//
// Time comes from Options.Clock only. docs/storage.md describes the file,
// the tables, the queue semantics, retention and backups.
package local
