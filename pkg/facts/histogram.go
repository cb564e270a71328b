package facts

import (
	"math"
	"slices"
	"time"
)

// LatencyBounds are the upper bounds, in seconds, of the fixed latency
// histogram buckets. They are roughly log-scale and include the health
// thresholds (30 s NFR-02 target, 60 s amber, 120 s red) as exact bounds, so
// a percentile estimated from the histogram is classified exactly like the
// true value would be. A final overflow bucket holds everything above the
// last bound.
var LatencyBounds = []float64{
	0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 300, 600, 1800, 3600,
}

// Histogram counts latencies in the LatencyBounds buckets. Counts has
// len(LatencyBounds)+1 entries (the last is the overflow bucket). The zero
// value is an empty histogram.
type Histogram struct {
	Counts []int64 `json:"counts"`
	Count  int64   `json:"count"`
	// SumMillis is the exact sum of the observations, for the mean.
	SumMillis int64 `json:"sum_ms"`
	// MaxMillis is the largest observation ever added. Remove does not
	// lower it; it is only used to give the overflow bucket a value.
	MaxMillis int64 `json:"max_ms"`
}

func bucketOf(d time.Duration) int {
	s := d.Seconds()
	for i, b := range LatencyBounds {
		if s <= b {
			return i
		}
	}
	return len(LatencyBounds)
}

func (h *Histogram) grow() {
	if len(h.Counts) < len(LatencyBounds)+1 {
		h.Counts = append(h.Counts, make([]int64, len(LatencyBounds)+1-len(h.Counts))...)
	}
}

// Add records one observation (negative durations count as 0).
func (h *Histogram) Add(d time.Duration) {
	d = max(d, 0)
	h.grow()
	h.Counts[bucketOf(d)]++
	h.Count++
	h.SumMillis += d.Milliseconds()
	h.MaxMillis = max(h.MaxMillis, d.Milliseconds())
}

// Remove takes back one observation previously added with Add(d). It is
// used when a delivery's latency is corrected by a fact processed late.
func (h *Histogram) Remove(d time.Duration) {
	d = max(d, 0)
	h.grow()
	if i := bucketOf(d); h.Counts[i] > 0 {
		h.Counts[i]--
		h.Count--
		h.SumMillis -= d.Milliseconds()
	}
}

// Merge adds the counts of o to h.
func (h *Histogram) Merge(o Histogram) {
	h.grow()
	for i, c := range o.Counts {
		if i < len(h.Counts) {
			h.Counts[i] += c
		}
	}
	h.Count += o.Count
	h.SumMillis += o.SumMillis
	h.MaxMillis = max(h.MaxMillis, o.MaxMillis)
}

// Quantile estimates the p-th percentile (0 < p <= 100) in seconds with
// the nearest-rank rule applied to buckets: it finds the bucket that holds
// the observation of rank ceil(p/100 × n) and returns that bucket's upper
// bound (the overflow bucket returns the largest observation). The estimate
// never under-reports. ok is false when the histogram is empty.
func (h Histogram) Quantile(p float64) (seconds float64, ok bool) {
	if h.Count <= 0 {
		return 0, false
	}
	rank := int64(math.Ceil(p / 100 * float64(h.Count)))
	rank = min(max(rank, 1), h.Count)
	var seen int64
	for i, c := range h.Counts {
		seen += c
		if seen >= rank {
			if i < len(LatencyBounds) {
				return LatencyBounds[i], true
			}
			break
		}
	}
	return max(float64(h.MaxMillis)/1000, LatencyBounds[len(LatencyBounds)-1]), true
}

// LatencySummary is what the dashboard and the health report show about
// end-to-end latency (request accepted → first trigger success).
type LatencySummary struct {
	Count      int64    `json:"count"`
	P50Seconds *float64 `json:"p50_seconds,omitempty"`
	P95Seconds *float64 `json:"p95_seconds,omitempty"`
	AvgSeconds *float64 `json:"avg_seconds,omitempty"`
	// Estimated is true when the percentiles come from histogram buckets
	// (upper bounds) rather than from exact values.
	Estimated bool `json:"estimated,omitempty"`
}

func ptr[T any](v T) *T { return &v }

// roundMillis rounds seconds to milliseconds.
func roundMillis(s float64) float64 { return math.Floor(s*1000+0.5) / 1000 }

// Summary returns the latency summary estimated from the histogram.
func (h Histogram) Summary() LatencySummary {
	if h.Count <= 0 {
		return LatencySummary{}
	}
	p50, _ := h.Quantile(50)
	p95, _ := h.Quantile(95)
	avg := roundMillis(float64(h.SumMillis) / float64(h.Count) / 1000)
	return LatencySummary{Count: h.Count, P50Seconds: ptr(p50), P95Seconds: ptr(p95), AvgSeconds: ptr(avg), Estimated: true}
}

// NearestRank returns the p-th percentile of sorted (ascending) values with
// the nearest-rank rule: index clamp(ceil(p/100 × n) − 1, 0, n − 1).
// It returns 0 for an empty slice.
func NearestRank(sorted []float64, p float64) float64 {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	i := int(math.Ceil(p/100*float64(n))) - 1
	return sorted[min(max(i, 0), n-1)]
}

// SummarizeLatencies computes the exact summary of latencies in seconds
// (nearest-rank p50 and p95, mean rounded to milliseconds), as the original
// service did over its latest deliveries. For [25, 60] it gives p50 25 and
// p95 60.
func SummarizeLatencies(seconds []float64) LatencySummary {
	if len(seconds) == 0 {
		return LatencySummary{}
	}
	s := slices.Clone(seconds)
	slices.Sort(s)
	var sum float64
	for _, v := range s {
		sum += v
	}
	return LatencySummary{
		Count:      int64(len(s)),
		P50Seconds: ptr(NearestRank(s, 50)),
		P95Seconds: ptr(NearestRank(s, 95)),
		AvgSeconds: ptr(roundMillis(sum / float64(len(s)))),
	}
}
