package httpapi

import (
	"context"
	"time"

	"github.com/dispatcher-dev/dispatcher/pkg/facts"
)

// AdminReader is the read side the admin API, the dashboard, /metrics and
// the status and trace commands are served from. Each runtime implements
// it over its projections: pkg/local over SQLite, the AWS runtime over
// DynamoDB. Every method reads read models maintained at write time (or a
// delivery's facts through a delivery index); none scans or aggregates the
// raw events.
//
// Limits of 0 (or less) mean the method's documented default.
type AdminReader interface {
	// Summary returns the all-time counters, the time of the latest fact
	// and the all-time latency histogram (zero before the first fact).
	Summary(ctx context.Context) (facts.Summary, error)
	// RepoStats returns per-source-repository counters, most recently
	// active first (limit 0 = all).
	RepoStats(ctx context.Context, limit int) ([]facts.RepoStats, error)
	// HourlyTrend returns the last hours clock hours (24 when <= 0), oldest
	// first, ending with the current hour; empty hours are zero buckets.
	HourlyTrend(ctx context.Context, hours int) ([]facts.HourBucket, error)
	// TopRepos returns the limit (10 when <= 0) busiest source repositories
	// over the last minutes minutes (the current minute included).
	TopRepos(ctx context.Context, minutes, limit int) ([]facts.RepoCount, error)
	// RecentDeliveries returns delivery funnels, most recently updated
	// first (limit 20 when <= 0).
	RecentDeliveries(ctx context.Context, limit int) ([]facts.Funnel, error)
	// Delivery returns one delivery's funnel; ok is false when the
	// delivery is unknown.
	Delivery(ctx context.Context, deliveryID string) (f facts.Funnel, ok bool, err error)
	// RecentFailures returns failed triggers, newest first (limit 20 when
	// <= 0).
	RecentFailures(ctx context.Context, limit int) ([]facts.Failure, error)
	// Journey returns every fact of one delivery in time order, read
	// through the delivery index (empty when the delivery is unknown).
	Journey(ctx context.Context, deliveryID string) ([]facts.Event, error)
	// RecentEvents returns the latest facts, newest first (limit 50 when
	// <= 0), from a time index or a bounded projection, never a scan.
	RecentEvents(ctx context.Context, limit int) ([]facts.Event, error)
	// Latency returns the end-to-end latency summary of the deliveries
	// accepted in the last window, from the latency histograms.
	Latency(ctx context.Context, window time.Duration) (facts.LatencySummary, error)
	// HealthInput returns the health report's input over the runtime's
	// recent window: total events, last event time, windowed counters and
	// latency. The admin API adds Queues and FoldLag from the two methods
	// below before calling facts.Health.
	HealthInput(ctx context.Context) (facts.HealthInput, error)
	// Queues returns the depth of each work queue and of its dead-letter
	// queue, in a stable order (requests, then targets); nil when the
	// runtime cannot say (the health report then leaves the queue checks
	// out).
	Queues(ctx context.Context) ([]facts.QueueDepth, error)
	// FoldLag returns how far the projections are behind the recorded
	// facts (facts pending and age of the oldest unfolded fact).
	FoldLag(ctx context.Context) (facts.FoldLag, error)
}
