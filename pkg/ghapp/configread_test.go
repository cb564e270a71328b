package ghapp_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dispatcher-dev/dispatcher/pkg/ghapp"
	"github.com/dispatcher-dev/dispatcher/pkg/ghapp/ghfake"
	"github.com/dispatcher-dev/dispatcher/pkg/pipeline"
	"github.com/dispatcher-dev/dispatcher/pkg/plan"
)

const contentsPattern = "GET /repos/*/*/contents/**"

// fanOutYAML is acme/api's config naming three targets.
const fanOutYAML = `outbound:
  - source:
      workflow: ci.yml
    targets:
      - repository: deploy
        workflow: cd.yml
      - repository: other/web
        workflow: cd.yml
      - repository: site
        workflow: cd.yml
`

// fanOutSetup adds acme/site (root config) and makes acme/api name
// acme/deploy, other/web and acme/site.
func fanOutSetup(t *testing.T, opts ...ghapp.Option) env {
	t.Helper()
	requireParser(t)
	e := setup(t, nil, opts...)
	e.gh.AddRepo(ghfake.Repo{FullName: "acme/site", Files: map[string]string{
		"dispatching.yml":          inboundYAML,
		".github/workflows/cd.yml": "on: workflow_dispatch\n",
	}})
	e.gh.AddInstallation(instAcme, "acme/site")
	e.gh.SetFile("acme/api", "dispatching.yml", fanOutYAML)
	return e
}

// targetsOf lists the target repositories of a source config (the planner
// passes its candidates after the guardrails).
func targetsOf(res plan.ConfigResult) []string {
	var out []string
	for _, c := range plan.MatchOutbound(res.Config, "acme", ".github/workflows/ci.yml") {
		out = append(out, c.Repository())
	}
	return out
}

// withTimeout bounds a test that waits for a gate: if the client sent the
// gated requests one after another it fails instead of hanging.
func withTimeout(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestLookupConfigsParallel: the configs of several repositories are read
// at once. The fake holds the contents requests until all three arrived;
// read one after another, the first would wait forever (and the client's
// timeout fails the test).
func TestLookupConfigsParallel(t *testing.T) {
	e := fanOutSetup(t)
	e.gh.Gate(contentsPattern, 3)
	got := e.c.LookupConfigs(withTimeout(t), instAcme, []string{"acme/api", "other/web", "acme/site", "ACME/site"})
	for i, r := range got {
		if r.Status != plan.ConfigFound {
			t.Errorf("result %d = %+v", i, r)
		}
	}
	if n := e.gh.Count(contentsPattern); n != 3 {
		t.Errorf("%d contents requests, want 3 (a repository named twice is read once)", n)
	}
}

// TestReadConfigsWarmDeliveryIsOneRoundTrip: with the source config cached,
// the source and its three targets are revalidated at once (the fake holds
// the four requests until all arrived), all 304.
func TestReadConfigsWarmDeliveryIsOneRoundTrip(t *testing.T) {
	e := fanOutSetup(t)
	ctx := withTimeout(t)
	src, targets, err := e.c.ReadConfigs(ctx, instAcme, "acme/api", targetsOf)
	if err != nil || src.Status != plan.ConfigFound {
		t.Fatalf("cold: %+v %v", src, err)
	}
	for _, r := range targetsOf(src) {
		if res := targets.Lookup(ctx, r); res.Status != plan.ConfigFound {
			t.Errorf("cold %s: %+v", r, res)
		}
	}
	e.gh.ResetRequests()
	notModified := e.c.Stats().NotModified
	g := e.gh.Gate(contentsPattern, 4)
	src, targets, err = e.c.ReadConfigs(ctx, instAcme, "acme/api", targetsOf)
	if err != nil || src.Status != plan.ConfigFound {
		t.Fatalf("warm: %+v %v", src, err)
	}
	for _, r := range targetsOf(src) {
		if res := targets.Lookup(ctx, r); res.Status != plan.ConfigFound {
			t.Errorf("warm %s: %+v", r, res)
		}
	}
	// acme/deploy's root 404 is remembered (WithNegativeCacheTTL), so its
	// .github/dispatching.yml is its one request.
	if n := e.gh.Count(contentsPattern); n != 4 || g.Arrived() != 4 {
		t.Errorf("%d contents requests (%d at the gate), want 4: %+v", n, g.Arrived(), e.gh.Requests())
	}
	if d := e.c.Stats().NotModified - notModified; d != 4 {
		t.Errorf("%d answers 304, want 4", d)
	}
	if n := len(e.gh.Requests()); n != 4 {
		t.Errorf("%d requests in all, want 4 (installations and tokens cached)", n)
	}
}

// TestReadConfigsSourceChanged: when the revalidated source names other
// targets than the cached one, those are read in a second round, and only
// the new set's failures count.
func TestReadConfigsSourceChanged(t *testing.T) {
	e := fanOutSetup(t)
	ctx := withTimeout(t)
	e.gh.SetFile("acme/api", "dispatching.yml", outboundYAML) // names acme/deploy only
	if _, _, err := e.c.ReadConfigs(ctx, instAcme, "acme/api", targetsOf); err != nil {
		t.Fatal(err)
	}
	e.gh.SetFile("acme/api", "dispatching.yml", strings.Replace(outboundYAML, "repository: deploy", "repository: site", 1))
	// The speculative read of acme/deploy fails; acme/deploy is no longer
	// a target, so that is not an error.
	e.gh.Fail("GET /repos/acme/deploy/contents/**", ghfake.Status(502), ghfake.Status(502), ghfake.Status(502))
	src, targets, err := e.c.ReadConfigs(ctx, instAcme, "acme/api", targetsOf)
	if err != nil {
		t.Fatalf("err = %v", err)
	}
	if got := targetsOf(src); len(got) != 1 || got[0] != "acme/site" {
		t.Fatalf("targets %v", got)
	}
	if res := targets.Lookup(ctx, "acme/site"); res.Status != plan.ConfigFound {
		t.Errorf("acme/site: %+v", res)
	}
	if n := e.gh.Count("GET /repos/acme/site/contents/dispatching.yml"); n != 1 {
		t.Errorf("acme/site read %d times, want 1", n)
	}
}

// TestReadConfigsTransientIsNotADecision: a target read that keeps failing
// transiently makes ReadConfigs fail (the planner retries the step) and its
// result ConfigUnavailable; a permanent 403 is an answer, not an error.
func TestReadConfigsTransientIsNotADecision(t *testing.T) {
	e := fanOutSetup(t)
	ctx := withTimeout(t)
	e.gh.Fail("GET /repos/other/web/contents/dispatching.yml", ghfake.Status(502), ghfake.TooManyRequests(0), ghfake.SecondaryLimit(time.Second))
	src, targets, err := e.c.ReadConfigs(ctx, instAcme, "acme/api", targetsOf)
	if err == nil || !ghapp.IsTransient(err) || pipeline.IsPermanent(err) || !strings.Contains(err.Error(), "other/web") {
		t.Fatalf("err = %v, want a transient error naming other/web", err)
	}
	if src.Status != plan.ConfigFound {
		t.Errorf("source %+v", src)
	}
	if res := targets.Lookup(ctx, "other/web"); res.Status != plan.ConfigUnavailable {
		t.Errorf("other/web = %+v, want unavailable", res)
	}
	if res := targets.Lookup(ctx, "acme/site"); res.Status != plan.ConfigFound {
		t.Errorf("acme/site = %+v", res)
	}
	// The next delivery reads it again (a failure is never cached).
	e.gh.Fail("GET /repos/other/web/contents/dispatching.yml", ghfake.Fault{Status: 403, Message: "Resource not accessible by integration"})
	_, targets, err = e.c.ReadConfigs(ctx, instAcme, "acme/api", targetsOf)
	if err != nil {
		t.Fatalf("a permanent 403 is an answer: %v", err)
	}
	if res := targets.Lookup(ctx, "other/web"); res.Status != plan.ConfigUnreadable {
		t.Errorf("other/web = %+v, want unreadable", res)
	}
	// Source unavailable: an error too.
	e.gh.Fail("GET /repos/acme/api/contents/dispatching.yml", ghfake.Status(500), ghfake.Status(500), ghfake.Status(500))
	if src, _, err := e.c.ReadConfigs(ctx, instAcme, "acme/api", targetsOf); !ghapp.IsTransient(err) || src.Status != plan.ConfigUnavailable {
		t.Errorf("source storm: %+v %v", src, err)
	}
}

// TestConfigSetUnavailable: a lookup the set did not prefetch is read live
// and its transient failure shows in Unavailable.
func TestConfigSetUnavailable(t *testing.T) {
	e := fanOutSetup(t)
	ctx := withTimeout(t)
	_, targets, err := e.c.ReadConfigs(ctx, instAcme, "acme/api", func(plan.ConfigResult) []string { return nil })
	if err != nil {
		t.Fatal(err)
	}
	set := targets.(*ghapp.ConfigSet)
	if err := set.Unavailable(); err != nil {
		t.Fatal(err)
	}
	e.gh.Fail("GET /repos/acme/site/contents/dispatching.yml", ghfake.Status(503), ghfake.Status(503), ghfake.Status(503))
	if res := set.Lookup(ctx, "acme/site"); res.Status != plan.ConfigUnavailable {
		t.Fatalf("acme/site = %+v", res)
	}
	if err := set.Unavailable(); !ghapp.IsTransient(err) || !strings.Contains(err.Error(), "acme/site") {
		t.Errorf("Unavailable() = %v", err)
	}
}

// TestConfigSingleflight: ten concurrent lookups of one repository make
// one read. The read is held until every lookup has joined it.
func TestConfigSingleflight(t *testing.T) {
	e := fanOutSetup(t)
	ctx := withTimeout(t)
	e.c.LookupConfig(ctx, instAcme, "acme/site") // warm installation and token
	e.gh.ResetRequests()
	const n = 10
	var joined sync.WaitGroup
	joined.Add(n)
	ghapp.SetFlightJoined(e.c, func(string) { joined.Done() })
	g := e.gh.Gate(contentsPattern, 0)
	results := make([]plan.ConfigResult, n)
	var done sync.WaitGroup
	for i := range n {
		done.Add(1)
		go func() {
			defer done.Done()
			results[i] = e.c.LookupConfig(ctx, instAcme, "acme/site")
		}()
	}
	joined.Wait()
	g.Open()
	done.Wait()
	for i, r := range results {
		if r.Status != plan.ConfigFound {
			t.Errorf("lookup %d: %+v", i, r)
		}
	}
	if c := e.gh.Count(contentsPattern); c != 1 {
		t.Errorf("%d reads for %d concurrent lookups, want 1", c, n)
	}
}

// TestConfigCacheTTL: within CONFIG_CACHE_TTL a lookup makes no request;
// after it, the config is revalidated (304); EvictConfig forces a fresh
// read at once and only for that repository.
func TestConfigCacheTTL(t *testing.T) {
	e := fanOutSetup(t, ghapp.WithConfigCacheTTL(5*time.Minute))
	ctx := withTimeout(t)
	for _, r := range []string{"acme/site", "other/web"} {
		if res := e.c.LookupConfig(ctx, instAcme, r); res.Status != plan.ConfigFound {
			t.Fatalf("%s: %+v", r, res)
		}
	}
	e.gh.ResetRequests()
	e.clock.Advance(4 * time.Minute)
	_, _, err := e.c.ReadConfigs(ctx, instAcme, "acme/site", nil)
	if err != nil || len(e.gh.Requests()) != 0 || e.c.Stats().ConfigCacheHits != 1 {
		t.Fatalf("within the TTL: err %v, requests %+v, hits %d", err, e.gh.Requests(), e.c.Stats().ConfigCacheHits)
	}
	e.clock.Advance(2 * time.Minute)
	before := e.c.Stats().NotModified
	e.c.LookupConfig(ctx, instAcme, "acme/site")
	if n := e.gh.Count(contentsPattern); n != 1 || e.c.Stats().NotModified != before+1 {
		t.Errorf("after the TTL: %d reads, %d 304s; want a revalidation", n, e.c.Stats().NotModified-before)
	}

	e.c.LookupConfig(ctx, instAcme, "other/web") // revalidated too: both fresh

	// A push changes acme/site's file: within the TTL the old one is
	// still used, until the eviction.
	e.gh.SetFile("acme/site", "dispatching.yml", "this: is not valid\n")
	if res := e.c.LookupConfig(ctx, instAcme, "acme/site"); res.Status != plan.ConfigFound {
		t.Fatalf("before the eviction: %+v", res)
	}
	e.gh.ResetRequests()
	e.c.EvictConfig("ACME/Site")
	if res := e.c.LookupConfig(ctx, instAcme, "acme/site"); res.Status != plan.ConfigInvalid {
		t.Errorf("after the eviction: %+v, want the new (invalid) file", res)
	}
	if res := e.c.LookupConfig(ctx, instAcme, "other/web"); res.Status != plan.ConfigFound {
		t.Errorf("other/web: %+v", res)
	}
	if reqs := e.gh.Requests(); len(reqs) != 1 || reqs[0].IfNoneMatch != "" || !strings.Contains(reqs[0].Path, "acme/site") {
		t.Errorf("requests after evicting acme/site: %+v; want one unconditional read of acme/site and none of other/web", reqs)
	}
}

// TestEvictCreatedFile: a dispatching.yml created after a lookup found none
// (a remembered 404) is seen right after the eviction.
func TestEvictCreatedFile(t *testing.T) {
	e := fanOutSetup(t)
	ctx := withTimeout(t)
	e.gh.DeleteFile("acme/site", "dispatching.yml")
	if res := e.c.LookupConfig(ctx, instAcme, "acme/site"); res.Status != plan.ConfigMissing {
		t.Fatalf("%+v", res)
	}
	e.gh.SetFile("acme/site", "dispatching.yml", inboundYAML)
	if res := e.c.LookupConfig(ctx, instAcme, "acme/site"); res.Status != plan.ConfigMissing {
		t.Fatalf("the 404 is remembered for a minute: %+v", res)
	}
	e.c.EvictConfig("acme/site")
	if res := e.c.LookupConfig(ctx, instAcme, "acme/site"); res.Status != plan.ConfigFound {
		t.Errorf("after the eviction: %+v", res)
	}
}

// TestEvictDuringRead: a read in flight when the repository is evicted
// does not store its (possibly stale) result, and a lookup after the
// eviction does not join it.
func TestEvictDuringRead(t *testing.T) {
	e := fanOutSetup(t, ghapp.WithConfigCacheTTL(time.Hour))
	ctx := withTimeout(t)
	e.c.LookupConfig(ctx, instAcme, "other/web") // warm installation 11's token
	g := e.gh.Gate("GET /repos/acme/site/contents/dispatching.yml", 0)
	first := make(chan plan.ConfigResult)
	go func() { first <- e.c.LookupConfig(ctx, instAcme, "acme/site") }()
	if !g.WaitArrived(1, ctx.Done()) {
		t.Fatal("the read never arrived")
	}
	e.c.EvictConfig("acme/site")
	g.Open()
	if res := <-first; res.Status != plan.ConfigFound {
		t.Fatalf("first: %+v", res)
	}
	// A push after the read: with the read's result cached (the bug), the
	// TTL would hide the change.
	e.gh.SetFile("acme/site", "dispatching.yml", "this: is not valid\n")
	if res := e.c.LookupConfig(ctx, instAcme, "acme/site"); res.Status != plan.ConfigInvalid {
		t.Errorf("after the eviction: %+v, want the new file (the read in flight must not be cached)", res)
	}
}

// TestLookupConfigClassification: what LookupConfig returns for each kind
// of failure (Configs keeps reporting the transient ones as unreadable for
// the current planner).
func TestLookupConfigClassification(t *testing.T) {
	requireParser(t)
	path := "GET /repos/acme/deploy/contents/dispatching.yml"
	resets := make([]ghfake.Fault, 12) // net/http retries a reused connection once
	for i := range resets {
		resets[i] = ghfake.ConnReset()
	}
	cases := []struct {
		name   string
		faults []ghfake.Fault
		want   plan.ConfigStatus
	}{
		{"5xx", []ghfake.Fault{ghfake.Status(500), ghfake.Status(502), ghfake.Status(503)}, plan.ConfigUnavailable},
		{"429", []ghfake.Fault{ghfake.TooManyRequests(0), ghfake.TooManyRequests(0), ghfake.TooManyRequests(0)}, plan.ConfigUnavailable},
		{"secondary limit", []ghfake.Fault{ghfake.SecondaryLimit(time.Second), ghfake.SecondaryLimit(time.Second), ghfake.SecondaryLimit(time.Second)}, plan.ConfigUnavailable},
		{"connection resets", resets, plan.ConfigUnavailable},
		{"403 without a limit", []ghfake.Fault{{Status: 403, Message: "Resource not accessible by integration"}}, plan.ConfigUnreadable},
		{"401 twice", []ghfake.Fault{ghfake.Status(401), ghfake.Status(401)}, plan.ConfigUnreadable},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := setup(t, nil)
			e.gh.Fail(path, tc.faults...)
			got := e.c.LookupConfig(context.Background(), instAcme, "acme/deploy")
			if got.Status != tc.want {
				t.Errorf("status %v, want %v (%s)", got.Status, tc.want, got.Problem)
			}
			e.gh.ClearFaults()
			e.gh.Fail(path, tc.faults...)
			legacy := e.c.Configs(instAcme).Lookup(context.Background(), "acme/deploy")
			if want := plan.ConfigUnreadable; legacy.Status != want {
				t.Errorf("Configs: status %v, want %v", legacy.Status, want)
			}
		})
	}
	t.Run("caller gave up", func(t *testing.T) {
		e := setup(t, nil)
		ctx, cancel := context.WithCancel(context.Background())
		g := e.gh.Gate(path, 0)
		defer g.Open()
		done := make(chan plan.ConfigResult)
		go func() { done <- e.c.LookupConfig(ctx, instAcme, "acme/deploy") }()
		if !g.WaitArrived(1, withTimeout(t).Done()) {
			t.Fatal("no read")
		}
		cancel()
		if got := <-done; got.Status != plan.ConfigUnavailable {
			t.Errorf("status %v, want unavailable (%s)", got.Status, got.Problem)
		}
	})
}

// TestReadConfigsWarmWithTTL: with CONFIG_CACHE_TTL, a warm delivery (the
// source and its three targets) makes no request at all.
func TestReadConfigsWarmWithTTL(t *testing.T) {
	e := fanOutSetup(t, ghapp.WithConfigCacheTTL(time.Minute))
	ctx := withTimeout(t)
	if _, _, err := e.c.ReadConfigs(ctx, instAcme, "acme/api", targetsOf); err != nil {
		t.Fatal(err)
	}
	e.gh.ResetRequests()
	src, targets, err := e.c.ReadConfigs(ctx, instAcme, "acme/api", targetsOf)
	if err != nil || src.Status != plan.ConfigFound {
		t.Fatalf("%+v %v", src, err)
	}
	for _, r := range targetsOf(src) {
		if res := targets.Lookup(ctx, r); res.Status != plan.ConfigFound {
			t.Errorf("%s: %+v", r, res)
		}
	}
	if reqs := e.gh.Requests(); len(reqs) != 0 {
		t.Errorf("warm delivery within the TTL made %d requests: %+v", len(reqs), reqs)
	}
	if hits := e.c.Stats().ConfigCacheHits; hits != 4 {
		t.Errorf("%d cache hits, want 4", hits)
	}
}
