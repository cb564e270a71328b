// Package facts defines the facts dispatcher records about every delivery
// (CloudEvents 1.0), the projection reducer that turns them into the
// dashboard's read models at write time, latency histograms and the health
// report.
//
// It is a [core] package: no I/O.
package facts
