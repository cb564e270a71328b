package ghapp_test

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/dispatcher-dev/dispatcher/pkg/ghapp"
	"github.com/dispatcher-dev/dispatcher/pkg/internal/npmfixture"
)

func TestConfigPush(t *testing.T) {
	push := func(ref string, forced bool, commits ...map[string][]string) []byte {
		var cs []map[string]any
		for _, c := range commits {
			m := map[string]any{}
			for k, v := range c {
				m[k] = v
			}
			cs = append(cs, m)
		}
		b, _ := json.Marshal(map[string]any{
			"ref": ref, "forced": forced, "commits": cs,
			"repository": map[string]any{"full_name": "acme/api", "default_branch": "main"},
		})
		return b
	}
	many := make([]map[string][]string, 2048)
	for i := range many {
		many[i] = map[string][]string{"modified": {"README.md"}}
	}
	cases := []struct {
		name    string
		payload []byte
		changed bool
	}{
		{"root file modified", push("refs/heads/main", false, map[string][]string{"modified": {"README.md", "dispatching.yml"}}), true},
		{".github file added", push("refs/heads/main", false, map[string][]string{"added": {".github/dispatching.yml"}}), true},
		{"root file removed", push("refs/heads/main", false, map[string][]string{"removed": {"dispatching.yml"}}), true},
		{"other files", push("refs/heads/main", false, map[string][]string{"modified": {"docs/dispatching.yml", "dispatching.yaml"}}), false},
		{"another branch", push("refs/heads/dev", false, map[string][]string{"modified": {"dispatching.yml"}}), false},
		{"a tag", push("refs/tags/main", false, map[string][]string{"modified": {"dispatching.yml"}}), false},
		{"forced, nothing listed", push("refs/heads/main", true), true},
		{"as many commits as GitHub lists", push("refs/heads/main", false, many...), true},
	}
	for _, tc := range cases {
		repo, changed, err := ghapp.ConfigPush(tc.payload)
		if err != nil || repo != "acme/api" || changed != tc.changed {
			t.Errorf("%s: %q %v %v, want changed=%v", tc.name, repo, changed, err, tc.changed)
		}
	}
	if _, _, err := ghapp.ConfigPush([]byte(`{"ref":"refs/heads/main"}`)); err == nil {
		t.Error("a payload without repository was accepted")
	}
}

// TestConfigPushOctokitExamples: GitHub's own push examples parse.
func TestConfigPushOctokitExamples(t *testing.T) {
	data, err := os.ReadFile(npmfixture.Path(t, "@octokit/webhooks-examples/api.github.com/index.json"))
	if err != nil {
		t.Fatal(err)
	}
	var index []struct {
		Name     string            `json:"name"`
		Examples []json.RawMessage `json:"examples"`
	}
	if err := json.Unmarshal(data, &index); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range index {
		if e.Name != "push" {
			continue
		}
		for _, ex := range e.Examples {
			n++
			if repo, _, err := ghapp.ConfigPush(ex); err != nil || repo == "" {
				t.Errorf("example %d: %q %v", n, repo, err)
			}
		}
	}
	if n == 0 {
		t.Fatal("no push examples")
	}
}
