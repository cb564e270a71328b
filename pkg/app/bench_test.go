package app_test

import (
	"fmt"
	"path/filepath"
	"testing"
)

// BenchmarkServeDeliveries measures serve end to end on loopback: each
// iteration is one signed workflow_run webhook (a distinct run of acme/api
// ci.yml against examples/world: two targets dispatched, five denied)
// through ingress, the SQLite queues, the planner and the dispatcher to
// the fake GitHub. It reports deliveries and dispatches per second, and
// the GitHub requests spent per dispatch (token, installation, contents
// and dispatch calls included, with warm caches after the first run) and
// how many of those count against the installation's rate limit (ETag
// revalidations answered 304 do not).
//
//	go test -run '^$' -bench ServeDeliveries -benchtime 200x ./pkg/app/
func BenchmarkServeDeliveries(b *testing.B) {
	fake := newWorld(b)
	st := loadSettings(b, env(fake, filepath.Join(b.TempDir(), "bench.db"), map[string]string{
		"WEBHOOK_RATE_LIMIT": "0", "CREATE_ISSUES": "false", "LOG_LEVEL": "warn",
	}))
	srv := start(b, st)
	payloads := make([][]byte, b.N)
	for i := range payloads {
		payloads[i] = samplePayload(b, int64(100000+i))
	}
	fake.ResetRequests()
	usedBefore := fake.RateUsed(installation)
	b.ResetTimer()
	for i, body := range payloads {
		if code, answer := send(b, srv.URL, "workflow_run", fmt.Sprintf("bench-%d", i), body); code != 202 {
			b.Fatalf("webhook %d: %d %s", i, code, answer)
		}
	}
	want := 2 * b.N
	waitFor(b, "every delivery dispatched", func() bool {
		return len(fake.Dispatches()) >= want && settled(b, srv.App.Store)
	}, dumpState(b, fake, srv.App.Store, srv.Logs))
	b.StopTimer()
	if got := len(fake.Dispatches()); got != want {
		b.Fatalf("%d dispatches, want %d", got, want)
	}
	secs := b.Elapsed().Seconds()
	b.ReportMetric(float64(b.N)/secs, "deliveries/s")
	b.ReportMetric(float64(want)/secs, "dispatches/s")
	b.ReportMetric(float64(len(fake.Requests()))/float64(want), "gh-requests/dispatch")
	b.ReportMetric(float64(fake.RateUsed(installation)-usedBefore)/float64(want), "rate-limited/dispatch")
}
