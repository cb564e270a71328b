package plan

import (
	"strings"
	"testing"

	"github.com/dispatcher-dev/dispatcher/pkg/dispatching"
)

// The authorisation cases of the original, in our own words. Candidate A is
// source-owner/target-a deploy.yml; candidate B is other-owner/target-b
// release.yml; the source is source-owner/source-repo ci.yml.
func TestAuthorize(t *testing.T) {
	type cand struct{ owner, workflow string }
	a := cand{"source-owner", "deploy.yml"}
	b := cand{"other-owner", "release.yml"}
	tests := []struct {
		name     string
		rules    []dispatching.InboundRule
		cand     cand
		keys     []string
		want     string
		wantRule int
	}{
		{
			name:  "bare repository name, workflows given as paths",
			rules: []dispatching.InboundRule{in("source-repo", ".github/workflows/ci.yml", accept(".github/workflows/deploy.yml", nil))},
			cand:  a, want: ReasonAuthorized, wantRule: 1,
		},
		{
			name:  "full repository name",
			rules: []dispatching.InboundRule{in("source-owner/source-repo", "ci.yml", accept("deploy.yml", nil))},
			cand:  a, want: ReasonAuthorized, wantRule: 1,
		},
		{
			name:  "target workflow not listed",
			rules: []dispatching.InboundRule{in("source-owner/source-repo", "ci.yml", accept("deploy.yml", nil))},
			cand:  b, want: ReasonInboundNotAuthorized,
		},
		{
			name:  "all inputs accepted",
			rules: []dispatching.InboundRule{in("source-repo", "ci.yml", accept("deploy.yml", []string{"git_sha", "environment"}))},
			cand:  a, keys: []string{"environment", "git_sha"}, want: ReasonAuthorized, wantRule: 1,
		},
		{
			name:  "inputs sent, accept_inputs absent",
			rules: []dispatching.InboundRule{in("source-repo", "ci.yml", accept("deploy.yml", nil))},
			cand:  a, keys: []string{"git_sha"}, want: ReasonInputsNotAccepted, wantRule: 1,
		},
		{
			name:  "an input not accepted",
			rules: []dispatching.InboundRule{in("source-repo", "ci.yml", accept("deploy.yml", []string{"git_sha"}))},
			cand:  a, keys: []string{"extra_key", "git_sha"}, want: ReasonInputsNotAccepted, wantRule: 1,
		},
		{
			name:  "no inputs sent, accept_inputs declared",
			rules: []dispatching.InboundRule{in("source-repo", "ci.yml", accept("deploy.yml", []string{"git_sha"}))},
			cand:  a, want: ReasonAuthorized, wantRule: 1,
		},
		{
			name:  "no inputs sent, no accept_inputs",
			rules: []dispatching.InboundRule{in("source-repo", "ci.yml", accept("deploy.yml", nil))},
			cand:  a, want: ReasonAuthorized, wantRule: 1,
		},
		{
			name: "a later rule accepts what an earlier one does not",
			rules: []dispatching.InboundRule{
				in("source-repo", "ci.yml", accept("deploy.yml", []string{"git_sha"})),
				in("source-repo", "ci.yml", accept("deploy.yml", []string{"git_sha", "environment"})),
			},
			cand: a, keys: []string{"environment", "git_sha"}, want: ReasonAuthorized, wantRule: 2,
		},
		{
			name:  "explicit empty accept_inputs accepts nothing",
			rules: []dispatching.InboundRule{in("source-repo", "ci.yml", accept("deploy.yml", []string{}))},
			cand:  a, keys: []string{"git_sha"}, want: ReasonInputsNotAccepted, wantRule: 1,
		},
		{
			name: "only the first matching target entry of a rule counts",
			rules: []dispatching.InboundRule{in("source-repo", "ci.yml",
				accept("deploy.yml", nil), accept(".github/workflows/deploy.yml", []string{"git_sha"}))},
			cand: a, keys: []string{"git_sha"}, want: ReasonInputsNotAccepted, wantRule: 1,
		},
		{
			name: "inputs_not_accepted names the first matching rule",
			rules: []dispatching.InboundRule{
				in("someone/else", "ci.yml", accept("deploy.yml", []string{"git_sha"})),
				in("source-repo", "ci.yml", accept("deploy.yml", nil)),
				in("source-owner/source-repo", "ci.yml", accept("deploy.yml", []string{})),
			},
			cand: a, keys: []string{"git_sha"}, want: ReasonInputsNotAccepted, wantRule: 2,
		},
		{
			name:  "source workflow differs",
			rules: []dispatching.InboundRule{in("source-repo", "build.yml", accept("deploy.yml", nil))},
			cand:  a, want: ReasonInboundNotAuthorized,
		},
		{
			name:  "repository compared case-sensitively",
			rules: []dispatching.InboundRule{in("Source-Owner/Source-Repo", "ci.yml", accept("deploy.yml", nil))},
			cand:  a, want: ReasonInboundNotAuthorized,
		},
		{
			name:  "workflows compared case-sensitively",
			rules: []dispatching.InboundRule{in("source-repo", "CI.yml", accept("deploy.yml", nil))},
			cand:  a, want: ReasonInboundNotAuthorized,
		},
		{
			// Deliberate fix: a bare name means the target's own owner.
			name:  "bare name does not match a source under another owner",
			rules: []dispatching.InboundRule{in("source-repo", "ci.yml", accept("release.yml", nil))},
			cand:  b, want: ReasonInboundNotAuthorized,
		},
		{
			name:  "full name from another owner still works",
			rules: []dispatching.InboundRule{in("source-owner/source-repo", "ci.yml", accept("release.yml", nil))},
			cand:  b, want: ReasonAuthorized, wantRule: 1,
		},
		{
			name:  "bare name, owner compared case-insensitively",
			rules: []dispatching.InboundRule{in("source-repo", "ci.yml", accept("deploy.yml", nil))},
			cand:  cand{"SOURCE-OWNER", "deploy.yml"}, want: ReasonAuthorized, wantRule: 1,
		},
		{name: "no inbound rules", cand: a, want: ReasonInboundNotAuthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := &dispatching.Config{Inbound: tt.rules}
			got := Authorize(cfg, "x/dispatching.yml", AuthRequest{
				SourceOwner: "source-owner", SourceName: "source-repo", SourceWorkflow: "ci.yml",
				TargetOwner: tt.cand.owner, TargetWorkflow: tt.cand.workflow, InputKeys: tt.keys,
			})
			if got.Reason != tt.want || got.Rule != tt.wantRule {
				t.Errorf("got %s (rule %d), want %s (rule %d); detail: %s", got.Reason, got.Rule, tt.want, tt.wantRule, got.Detail)
			}
			if got.Detail == "" {
				t.Error("empty detail")
			}
		})
	}
}

func TestAuthorizeDetails(t *testing.T) {
	req := AuthRequest{SourceOwner: "acme", SourceName: "api", SourceWorkflow: "ci.yml", TargetOwner: "acme", TargetWorkflow: "cd.yml"}
	rule := in("acme/api", "ci.yml", accept("cd.yml", []string{"sha"}))
	rule.Pos = dispatching.Pos{Line: 3, Column: 3}
	cfg := &dispatching.Config{Inbound: []dispatching.InboundRule{rule}}

	got := Authorize(cfg, "acme/deploy/dispatching.yml", req)
	if want := "inbound rule 1 in acme/deploy/dispatching.yml:3 allows acme/api ci.yml to dispatch cd.yml"; got.Detail != want {
		t.Errorf("allowed detail = %q, want %q", got.Detail, want)
	}
	req.InputKeys = []string{"sha", "env"}
	got = Authorize(cfg, "acme/deploy/dispatching.yml", req)
	for _, want := range []string{"inbound rule 1 in acme/deploy/dispatching.yml:3", "does not accept env"} {
		if !strings.Contains(got.Detail, want) {
			t.Errorf("inputs detail %q lacks %q", got.Detail, want)
		}
	}
	req.TargetWorkflow = "other.yml"
	got = Authorize(cfg, "acme/web/dispatching.yml", req)
	if want := "no inbound rule in acme/web/dispatching.yml names source acme/api ci.yml and workflow other.yml"; got.Detail != want {
		t.Errorf("denied detail = %q, want %q", got.Detail, want)
	}
}
