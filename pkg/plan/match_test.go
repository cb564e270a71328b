package plan

import (
	"reflect"
	"testing"

	"github.com/dispatcher-dev/dispatcher/pkg/dispatching"
)

func TestWorkflowBaseNormalisation(t *testing.T) {
	tests := map[string]string{
		".github/workflows/ci.yml": "ci.yml",
		"ci.yml":                   "ci.yml",
		"foo/ci.yml":               "ci.yml",
		"a/b/":                     "b",
		"a//b":                     "b",
		"":                         "",
		"/":                        "/",
		"//":                       "//",
		"12345":                    "12345",
		"CI.yml":                   "CI.yml",
	}
	for in, want := range tests {
		if got := dispatching.WorkflowBase(in); got != want {
			t.Errorf("WorkflowBase(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSplitTargetRepository(t *testing.T) {
	tests := []struct {
		raw, owner, wantOwner, wantName string
	}{
		{"target-a", "source-owner", "source-owner", "target-a"},
		{"other-owner/target-b", "source-owner", "other-owner", "target-b"},
		{"Other/Target", "src", "Other", "Target"},
		{"/x", "src", "src", "/x"},
		{"a/b/c", "src", "src", "a/b/c"},
		{"acme/team/deploy/extra", "acme", "acme", "acme/team/deploy/extra"},
		{"a//b", "src", "a", "b"},
		{"a/b/", "src", "a", "b"},
	}
	for _, tt := range tests {
		o, n := SplitTargetRepository(tt.raw, tt.owner)
		if o != tt.wantOwner || n != tt.wantName {
			t.Errorf("SplitTargetRepository(%q, %q) = %q, %q; want %q, %q", tt.raw, tt.owner, o, n, tt.wantOwner, tt.wantName)
		}
	}
}

// The trigger matcher cases of the original, in our own words.
func TestMatchOutbound(t *testing.T) {
	withRef := tgt("target-a", "deploy.yml")
	withRef.Ref = "release"
	cfg := &dispatching.Config{Outbound: []dispatching.OutboundRule{
		out("ci.yml",
			withRef,
			tgt("other-owner/target-b", ".github/workflows/release.yml", "git_sha", "{{ source.sha }}", "environment", "production"),
		),
		out("lint.yml", tgt("target-c", "test.yml")),
	}}

	t.Run("every target of the matching rule, in order", func(t *testing.T) {
		got := MatchOutbound(cfg, "source-owner", ".github/workflows/ci.yml")
		if len(got) != 2 {
			t.Fatalf("got %d candidates, want 2: %+v", len(got), got)
		}
		if got[0].Repository() != "source-owner/target-a" || got[0].Workflow != "deploy.yml" {
			t.Errorf("first = %s %s", got[0].Repository(), got[0].Workflow)
		}
		if got[1].Repository() != "other-owner/target-b" || got[1].Workflow != "release.yml" {
			t.Errorf("second = %s %s", got[1].Repository(), got[1].Workflow)
		}
		if got[0].Rule != 1 || got[0].Index != 1 || got[1].Rule != 1 || got[1].Index != 2 {
			t.Errorf("rule/index = %d.%d, %d.%d", got[0].Rule, got[0].Index, got[1].Rule, got[1].Index)
		}
	})
	t.Run("ref kept only where set", func(t *testing.T) {
		got := MatchOutbound(cfg, "source-owner", "ci.yml")
		if got[0].Ref != "release" || got[1].Ref != "" {
			t.Errorf("refs = %q, %q", got[0].Ref, got[1].Ref)
		}
	})
	t.Run("inputs passed through unresolved", func(t *testing.T) {
		got := MatchOutbound(cfg, "source-owner", "ci.yml")
		want := []dispatching.Input{{Key: "git_sha", Value: "{{ source.sha }}"}, {Key: "environment", Value: "production"}}
		if !reflect.DeepEqual(got[1].Inputs, want) {
			t.Errorf("inputs = %+v", got[1].Inputs)
		}
		if got[0].Inputs != nil {
			t.Errorf("target without inputs has %+v", got[0].Inputs)
		}
	})
	t.Run("no rule for the workflow", func(t *testing.T) {
		if got := MatchOutbound(cfg, "source-owner", ".github/workflows/docs.yml"); len(got) != 0 {
			t.Errorf("got %+v", got)
		}
	})
	t.Run("matching is case-sensitive", func(t *testing.T) {
		if got := MatchOutbound(cfg, "source-owner", "CI.yml"); len(got) != 0 {
			t.Errorf("got %+v", got)
		}
	})
	t.Run("rule source given as a path", func(t *testing.T) {
		c := &dispatching.Config{Outbound: []dispatching.OutboundRule{out("a/b/ci.yml", tgt("x", "y.yml"))}}
		if got := MatchOutbound(c, "o", ".github/workflows/ci.yml"); len(got) != 1 {
			t.Errorf("got %+v", got)
		}
	})
	t.Run("several matching rules, no de-duplication", func(t *testing.T) {
		c := &dispatching.Config{Outbound: []dispatching.OutboundRule{
			out("ci.yml", tgt("x", "a.yml")), out("other.yml", tgt("z", "z.yml")), out("ci.yml", tgt("x", "a.yml"), tgt("y", "b.yml")),
		}}
		got := MatchOutbound(c, "o", "ci.yml")
		if len(got) != 3 || got[1].Rule != 3 || got[2].Index != 2 {
			t.Errorf("got %+v", got)
		}
	})
	t.Run("nil config", func(t *testing.T) {
		if got := MatchOutbound(nil, "o", "ci.yml"); got != nil {
			t.Errorf("got %+v", got)
		}
	})
}
