// Package facts defines the facts dispatcher records about every delivery
// (CloudEvents 1.0), the projection reducer that turns them into the
// dashboard's read models at write time, latency histograms and the health
// report.
//
// The reducer (Apply) is a deterministic function of a State and one
// Event; it does not deduplicate, the store applies each event id once in
// the same transaction as it appends it. Touched names the rows an event
// reads and writes, so a store can load just those rows into a State.
//
// Decisions:
//   - "First" times of a delivery are the earliest by fact time, and the
//     last event time never moves backwards, whatever the processing order.
//   - End-to-end latency (request accepted → earliest trigger success) is
//     kept in fixed log-scale histograms, one per hour of acceptance plus an
//     all-time one; percentiles are estimated as the upper bound of the
//     bucket holding the nearest-rank observation. The health thresholds are
//     bucket bounds, so the estimate never changes a check's status.
//     SummarizeLatencies keeps the original's exact nearest-rank semantics
//     for a list of values.
//   - Health takes windowed counters (HealthInput.Window), so a lost fact
//     no longer skews the backlogs for ever; checks, thresholds, labels and
//     detail strings are the original service's.
//
// It is a [core] package: no I/O.
package facts
