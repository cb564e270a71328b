package plan

import (
	"context"
	"strings"
	"sync"

	"github.com/dispatcher-dev/dispatcher/pkg/dispatching"
)

// fakeLookup serves target configs from a map (keys lower-cased) and
// counts calls per repository.
type fakeLookup struct {
	mu      sync.Mutex
	configs map[string]ConfigResult
	calls   map[string]int
}

func newLookup() *fakeLookup {
	return &fakeLookup{configs: map[string]ConfigResult{}, calls: map[string]int{}}
}

// with registers a found config for repo.
func (f *fakeLookup) with(repo string, cfg *dispatching.Config) *fakeLookup {
	f.configs[strings.ToLower(repo)] = ConfigResult{Status: ConfigFound, Config: cfg, Path: repo + "/dispatching.yml"}
	return f
}

func (f *fakeLookup) withResult(repo string, res ConfigResult) *fakeLookup {
	f.configs[strings.ToLower(repo)] = res
	return f
}

func (f *fakeLookup) Lookup(_ context.Context, repo string) ConfigResult {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[strings.ToLower(repo)]++
	if res, ok := f.configs[strings.ToLower(repo)]; ok {
		return res
	}
	return ConfigResult{Status: ConfigMissing}
}

func (f *fakeLookup) totalCalls() int {
	n := 0
	for _, c := range f.calls {
		n += c
	}
	return n
}

func strp(s string) *string { return &s }

// event is a completed, successful run of path on the default branch of
// owner/name.
func event(owner, name, path string) Event {
	return Event{
		Action:         "completed",
		InstallationID: 7,
		Repository:     Repository{Owner: owner, Name: name, DefaultBranch: "main"},
		Run: Run{
			ID:                     987654321,
			RunAttempt:             1,
			Path:                   path,
			HeadBranch:             strp("main"),
			HeadSHA:                "abc123def456abc123def456abc123def456abc1",
			HTMLURL:                "https://github.com/" + owner + "/" + name + "/actions/runs/987654321",
			Conclusion:             "success",
			HeadRepositoryFullName: owner + "/" + name,
		},
	}
}

// out builds an outbound rule for source workflow with targets.
func out(workflow string, targets ...dispatching.OutboundTarget) dispatching.OutboundRule {
	return dispatching.OutboundRule{Source: dispatching.OutboundSource{Workflow: workflow}, Targets: targets}
}

// tgt builds an outbound target; kv are input key/value pairs.
func tgt(repo, workflow string, kv ...string) dispatching.OutboundTarget {
	t := dispatching.OutboundTarget{Repository: repo, Workflow: workflow}
	for i := 0; i+1 < len(kv); i += 2 {
		t.Inputs = append(t.Inputs, dispatching.Input{Key: kv[i], Value: kv[i+1]})
	}
	return t
}

// in builds an inbound rule.
func in(repo, workflow string, targets ...dispatching.InboundTarget) dispatching.InboundRule {
	return dispatching.InboundRule{Source: dispatching.InboundSource{Repository: repo, Workflow: workflow}, Targets: targets}
}

// accept builds an inbound target; keys nil means accept_inputs absent.
func accept(workflow string, keys []string) dispatching.InboundTarget {
	return dispatching.InboundTarget{Workflow: workflow, AcceptInputs: keys}
}

func found(repo string, cfg *dispatching.Config) ConfigResult {
	return ConfigResult{Status: ConfigFound, Config: cfg, Path: repo + "/dispatching.yml"}
}

// permissive is a policy with nothing enforced but the defaults of caps.
func permissive() Policy {
	return Policy{MaxTargetsPerRun: 25, DefaultDispatchRef: "main", MaxChainDepth: 5}
}

// reasons lists the reasons of a plan's targets in order.
func reasons(p Plan) []string {
	out := make([]string, len(p.Targets))
	for i, t := range p.Targets {
		out[i] = t.Reason
	}
	return out
}
