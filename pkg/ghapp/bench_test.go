package ghapp_test

import (
	"context"
	"testing"

	"github.com/dispatcher-dev/dispatcher/pkg/plan"
)

// BenchmarkDispatchWarm measures a dispatch with warm caches (installation
// and token): it should cost exactly one API request.
func BenchmarkDispatchWarm(b *testing.B) {
	e := setup(b, nil)
	ctx := context.Background()
	if _, err := e.c.Dispatch(ctx, deployReq()); err != nil {
		b.Fatal(err)
	}
	before := e.c.Stats().Requests
	b.ResetTimer()
	for b.Loop() {
		if _, err := e.c.Dispatch(ctx, deployReq()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(e.c.Stats().Requests-before)/float64(b.N), "requests/dispatch")
}

// BenchmarkConfigLookupWarm measures an unchanged target config read with
// warm caches: one conditional GET answered 304 (free against the rate
// limit) per path actually read.
func BenchmarkConfigLookupWarm(b *testing.B) {
	e := setup(b, nil)
	ctx := context.Background()
	lookup := e.c.Configs(instAcme)
	lookup.Lookup(ctx, "acme/deploy")
	before := e.c.Stats()
	b.ResetTimer()
	for b.Loop() {
		if r := lookup.Lookup(ctx, "acme/deploy"); r.Status == plan.ConfigUnreadable {
			b.Fatal(r.Problem)
		}
	}
	after := e.c.Stats()
	b.ReportMetric(float64(after.Requests-before.Requests)/float64(b.N), "requests/lookup")
	b.ReportMetric(float64((after.Requests-before.Requests)-(after.NotModified-before.NotModified))/float64(b.N), "rate-limited/lookup")
}
