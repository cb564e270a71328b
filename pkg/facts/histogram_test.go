package facts

import (
	"testing"
	"time"
)

func TestSummarizeLatencies(t *testing.T) {
	s := SummarizeLatencies([]float64{60, 25})
	if s.Count != 2 || *s.P50Seconds != 25 || *s.P95Seconds != 60 || *s.AvgSeconds != 42.5 {
		t.Errorf("got %+v", s)
	}
	if s := SummarizeLatencies(nil); s.Count != 0 || s.P95Seconds != nil {
		t.Errorf("empty: %+v", s)
	}
	vals := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20}
	if got := NearestRank(vals, 95); got != 19 {
		t.Errorf("p95 of 1..20 = %v, want 19", got)
	}
	if got := NearestRank(vals, 0); got != 1 {
		t.Errorf("p0 = %v, want 1", got)
	}
}

func TestHistogram(t *testing.T) {
	var h Histogram
	if _, ok := h.Quantile(50); ok {
		t.Fatal("empty histogram has a quantile")
	}
	for _, s := range []float64{0.3, 0.4, 25, 59, 61} {
		h.Add(time.Duration(s * float64(time.Second)))
	}
	if p, _ := h.Quantile(50); p != 30 {
		t.Errorf("p50 = %v, want 30 (bucket (20,30])", p)
	}
	if p, _ := h.Quantile(95); p != 90 {
		t.Errorf("p95 = %v, want 90", p)
	}
	h.Remove(61 * time.Second)
	if p, _ := h.Quantile(95); p != 60 || h.Count != 4 {
		t.Errorf("after remove p95 = %v count %d", p, h.Count)
	}
	// Removing something never added changes nothing.
	h.Remove(2 * time.Hour)
	if h.Count != 4 {
		t.Errorf("count %d after removing a missing value", h.Count)
	}
	h.Add(2 * time.Hour)
	if p, _ := h.Quantile(100); p != 7200 {
		t.Errorf("overflow p100 = %v, want the max 7200", p)
	}
	s := h.Summary()
	if !s.Estimated || s.Count != 5 || *s.AvgSeconds != roundMillis((0.3+0.4+25+59+7200)/5) {
		t.Errorf("summary %+v avg %v", s, *s.AvgSeconds)
	}
	m := MergeHistograms(h, h)
	if m.Count != 10 || m.Counts[bucketOf(25*time.Second)] != 2 {
		t.Errorf("merge %+v", m)
	}
	var neg Histogram
	neg.Add(-time.Second)
	if neg.Counts[0] != 1 {
		t.Errorf("negative latency not counted as 0: %+v", neg)
	}
}
