package ghapp_test

import (
	"context"
	"strings"
	"testing"

	"github.com/dispatcher-dev/dispatcher/pkg/ghapp/ghfake"
	"github.com/dispatcher-dev/dispatcher/pkg/plan"
)

func TestConfigLookup(t *testing.T) {
	requireParser(t)
	ctx := context.Background()
	big := "# " + strings.Repeat("x", 70<<10) + "\n" + inboundYAML
	cases := []struct {
		name    string
		prepare func(gh *ghfake.Server)
		repo    string
		status  plan.ConfigStatus
		path    string
		problem string // substring
	}{
		{name: "root file wins", repo: "acme/api", status: plan.ConfigFound, path: "acme/api/dispatching.yml"},
		{name: "root 404 then .github", repo: "acme/deploy", status: plan.ConfigFound, path: "acme/deploy/.github/dispatching.yml"},
		{name: "both 404 is missing", repo: "acme/deploy", status: plan.ConfigMissing,
			prepare: func(gh *ghfake.Server) { gh.DeleteFile("acme/deploy", ".github/dispatching.yml") }},
		{name: "directories are skipped", repo: "acme/deploy", status: plan.ConfigMissing, prepare: func(gh *ghfake.Server) {
			gh.DeleteFile("acme/deploy", ".github/dispatching.yml")
			gh.SetFile("acme/deploy", "dispatching.yml/a.yml", "x")
			gh.SetFile("acme/deploy", ".github/dispatching.yml/b.yml", "x")
		}},
		{name: "symlink is skipped", repo: "acme/api", status: plan.ConfigInvalid, path: "acme/api/.github/dispatching.yml", prepare: func(gh *ghfake.Server) {
			gh.SetContentResponse("acme/api", "dispatching.yml", map[string]any{"type": "symlink", "target": "x", "size": 1, "name": "dispatching.yml", "path": "dispatching.yml"})
		}},
		{name: "invalid root stops the lookup", repo: "acme/deploy", status: plan.ConfigInvalid, path: "acme/deploy/dispatching.yml", problem: "acme/deploy/dispatching.yml:1:",
			prepare: func(gh *ghfake.Server) { gh.SetFile("acme/deploy", "dispatching.yml", "outbound: not-a-list\n") }},
		{name: "empty root is missing and hides .github", repo: "acme/deploy", status: plan.ConfigMissing, path: "acme/deploy/dispatching.yml",
			prepare: func(gh *ghfake.Server) { gh.SetFile("acme/deploy", "dispatching.yml", "") }},
		{name: "too large", repo: "acme/deploy", status: plan.ConfigInvalid, path: "acme/deploy/.github/dispatching.yml", problem: "may be at most 65536 bytes",
			prepare: func(gh *ghfake.Server) { gh.SetFile("acme/deploy", ".github/dispatching.yml", big) }},
		{name: "over 1 MB comes without content", repo: "acme/deploy", status: plan.ConfigInvalid, problem: "2000000 bytes", prepare: func(gh *ghfake.Server) {
			gh.SetContentResponse("acme/deploy", "dispatching.yml", map[string]any{"type": "file", "encoding": "none", "content": "", "size": 2000000, "name": "dispatching.yml", "path": "dispatching.yml"})
		}},
		{name: "unknown encoding", repo: "acme/deploy", status: plan.ConfigUnreadable, problem: "unsupported content encoding", prepare: func(gh *ghfake.Server) {
			gh.SetContentResponse("acme/deploy", "dispatching.yml", map[string]any{"type": "file", "encoding": "rot13", "content": "x", "size": 1, "name": "dispatching.yml", "path": "dispatching.yml"})
		}},
		{name: "403 is unreadable and permanent", repo: "acme/deploy", status: plan.ConfigUnreadable, path: "acme/deploy/dispatching.yml", problem: "403 Resource not accessible by integration [permanent]",
			prepare: func(gh *ghfake.Server) {
				gh.Fail("GET /repos/acme/deploy/contents/dispatching.yml", ghfake.Fault{Status: 403, Message: "Resource not accessible by integration"})
			}},
		{name: "5xx storm is unreadable (transient)", repo: "acme/deploy", status: plan.ConfigUnreadable, problem: "[transient, 3 attempts]",
			prepare: func(gh *ghfake.Server) {
				gh.Fail("GET /repos/acme/deploy/contents/dispatching.yml", ghfake.Status(502), ghfake.Status(503), ghfake.Status(500))
			}},
		{name: "network errors are unreadable (transient)", repo: "acme/deploy", status: plan.ConfigUnreadable, problem: "transient",
			prepare: func(gh *ghfake.Server) {
				// net/http itself retries an idempotent request once on a
				// reused connection, so queue plenty.
				for range 12 {
					gh.Fail("GET /repos/acme/deploy/contents/dispatching.yml", ghfake.ConnReset())
				}
			}},
		{name: "one 500 is retried", repo: "acme/deploy", status: plan.ConfigFound, path: "acme/deploy/.github/dispatching.yml",
			prepare: func(gh *ghfake.Server) {
				gh.Fail("GET /repos/acme/deploy/contents/.github/dispatching.yml", ghfake.Status(500))
			}},
		{name: "another installation", repo: "other/web", status: plan.ConfigFound, path: "other/web/dispatching.yml"},
		{name: "app not installed", repo: "stranger/repo", status: plan.ConfigUnreadable, path: "stranger/repo/dispatching.yml", problem: "not installed on stranger/repo"},
		{name: "bad repository name", repo: "acme/../x", status: plan.ConfigUnreadable, problem: "not an owner/name"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := setup(t, nil)
			if tc.prepare != nil {
				tc.prepare(e.gh)
			}
			got := e.c.Configs(instAcme).Lookup(ctx, tc.repo)
			if got.Status != tc.status {
				t.Fatalf("status = %v, want %v (problem %q)", got.Status, tc.status, got.Problem)
			}
			if tc.path != "" && got.Path != tc.path {
				t.Errorf("path = %q, want %q", got.Path, tc.path)
			}
			if !strings.Contains(got.Problem, tc.problem) {
				t.Errorf("problem = %q, want it to contain %q", got.Problem, tc.problem)
			}
			if (got.Status == plan.ConfigFound) != (got.Config != nil) {
				t.Errorf("config = %v with status %v", got.Config, got.Status)
			}
			if got.Status == plan.ConfigFound && got.Problem != "" {
				t.Errorf("problem %q on a found config", got.Problem)
			}
		})
	}
}

func TestConfigLookupFoundContent(t *testing.T) {
	requireParser(t)
	e := setup(t, nil)
	got := e.c.Configs(instAcme).Lookup(context.Background(), "acme/api")
	if got.Status != plan.ConfigFound || len(got.Config.Outbound) != 1 || got.Config.Outbound[0].Targets[0].Repository != "deploy" {
		t.Fatalf("got %+v", got)
	}
	// The .github file is never read when the root one exists.
	if n := e.gh.Count("GET /repos/acme/api/contents/.github/dispatching.yml"); n != 0 {
		t.Errorf(".github/dispatching.yml read %d times", n)
	}
}

// TestConfigETag: an unchanged config costs a 304, which does not count
// against the rate limit; a change is seen at once.
func TestConfigETag(t *testing.T) {
	requireParser(t)
	ctx := context.Background()
	e := setup(t, nil)
	lookup := e.c.Configs(instAcme)
	first := lookup.Lookup(ctx, "acme/api")
	used := e.gh.RateUsed(instAcme)
	e.gh.ResetRequests()
	second := lookup.Lookup(ctx, "acme/api")
	if second.Status != plan.ConfigFound || second.Config != first.Config {
		t.Fatalf("second lookup = %+v", second)
	}
	reqs := e.gh.Requests()
	if len(reqs) != 1 || reqs[0].Status != 304 || reqs[0].IfNoneMatch == "" {
		t.Fatalf("second lookup requests = %+v, want one conditional GET answered 304", reqs)
	}
	if got := e.gh.RateUsed(instAcme); got != used {
		t.Errorf("rate used went from %d to %d on a 304", used, got)
	}
	if s := e.c.Stats(); s.NotModified != 1 || s.TokenRequests != 1 {
		t.Errorf("stats = %+v", s)
	}
	e.gh.SetFile("acme/api", "dispatching.yml", "outbound: not-a-list\n")
	if third := lookup.Lookup(ctx, "acme/api"); third.Status != plan.ConfigInvalid {
		t.Errorf("after a change: %+v", third)
	}
}

// TestConfigNegativeCache: a 404 has no ETag, so it is remembered for the
// negative TTL only.
func TestConfigNegativeCache(t *testing.T) {
	requireParser(t)
	ctx := context.Background()
	e := setup(t, nil)
	lookup := e.c.Configs(instAcme)
	lookup.Lookup(ctx, "acme/deploy")
	lookup.Lookup(ctx, "acme/deploy")
	if n := e.gh.Count("GET /repos/acme/deploy/contents/dispatching.yml"); n != 1 {
		t.Errorf("root path read %d times within the negative TTL, want 1", n)
	}
	if n := e.gh.Count("GET /repos/acme/deploy/contents/.github/dispatching.yml"); n != 2 {
		t.Errorf(".github path read %d times, want 2 (the second a 304)", n)
	}
	e.gh.SetFile("acme/deploy", "dispatching.yml", "outbound: not-a-list\n")
	e.clock.Advance(2 * 60e9)
	if got := lookup.Lookup(ctx, "acme/deploy"); got.Status != plan.ConfigInvalid || got.Path != "acme/deploy/dispatching.yml" {
		t.Errorf("after the TTL the new root file is read: %+v", got)
	}
}

// TestConfigUnreadableDoesNotAbortOthers: one target failing leaves the
// others readable (the original aborted the whole run).
func TestConfigUnreadableDoesNotAbortOthers(t *testing.T) {
	requireParser(t)
	e := setup(t, nil)
	e.gh.Fail("GET /repos/acme/deploy/contents/**", ghfake.Fault{Status: 403, Message: "Forbidden"})
	lookup := e.c.Configs(instAcme)
	if got := lookup.Lookup(context.Background(), "acme/deploy"); got.Status != plan.ConfigUnreadable {
		t.Fatalf("acme/deploy = %+v", got)
	}
	if got := lookup.Lookup(context.Background(), "other/web"); got.Status != plan.ConfigFound {
		t.Fatalf("other/web = %+v", got)
	}
}

// TestInstallationCache: the installation of a repository is looked up
// once per TTL and one token serves every request.
func TestInstallationCache(t *testing.T) {
	requireParser(t)
	ctx := context.Background()
	e := setup(t, nil)
	lookup := e.c.Configs(0)
	for range 3 {
		lookup.Lookup(ctx, "acme/api")
		lookup.Lookup(ctx, "acme/deploy")
	}
	if n := e.gh.Count("GET /repos/*/*/installation"); n != 2 {
		t.Errorf("installation lookups = %d, want 2", n)
	}
	if n := e.gh.Count("POST /app/installations/*/access_tokens"); n != 1 {
		t.Errorf("tokens minted = %d, want 1", n)
	}
	e.clock.Advance(11 * 60e9)
	lookup.Lookup(ctx, "acme/api")
	if n := e.gh.Count("GET /repos/*/*/installation"); n != 3 {
		t.Errorf("installation lookups after the TTL = %d, want 3", n)
	}
}

// TestInstallationFallback: when the lookup fails transiently the given
// installation is used (not cached); what it cannot see is not taken as
// an answer (unavailable, not missing); a 404 never falls back.
func TestInstallationFallback(t *testing.T) {
	requireParser(t)
	ctx := context.Background()
	e := setup(t, nil)
	e.gh.Fail("GET /repos/acme/deploy/installation", ghfake.Status(502), ghfake.Status(502), ghfake.Status(502))
	if got := e.c.Configs(instAcme).Lookup(ctx, "acme/deploy"); got.Status != plan.ConfigFound {
		t.Fatalf("with fallback: %+v", got)
	}
	e.gh.Fail("GET /repos/acme/deploy/installation", ghfake.Status(502), ghfake.Status(502), ghfake.Status(502))
	if got := e.c.LookupConfig(ctx, 0, "acme/deploy"); got.Status != plan.ConfigUnavailable || !strings.Contains(got.Problem, "502") {
		t.Fatalf("without fallback: %+v", got)
	}
	// other/web is in installation 22: through 11 the fake answers 404,
	// which says nothing about other/web's dispatching.yml.
	e.gh.Fail("GET /repos/other/web/installation", ghfake.Status(502), ghfake.Status(502), ghfake.Status(502))
	if got := e.c.LookupConfig(ctx, instAcme, "other/web"); got.Status != plan.ConfigUnavailable || !strings.Contains(got.Problem, "fallback installation") {
		t.Fatalf("through a fallback that cannot see the repository: %+v", got)
	}
	if got := e.c.Configs(instAcme).Lookup(ctx, "stranger/repo"); got.Status != plan.ConfigUnreadable {
		t.Fatalf("404 must not fall back: %+v", got)
	}
}
