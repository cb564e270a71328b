package plan

import (
	"strings"
	"testing"
)

const fullPayload = `{
  "action": "completed",
  "installation": {"id": 42},
  "workflow_run": {
    "id": 987654321, "run_attempt": 2, "name": "CI",
    "path": ".github/workflows/ci.yml", "head_branch": "main",
    "head_sha": "abc", "html_url": "https://github.com/Acme/API/actions/runs/987654321",
    "conclusion": "success",
    "head_repository": {"full_name": "Acme/API"}
  },
  "repository": {"name": "API", "full_name": "Acme/API", "default_branch": "main", "owner": {"login": "Acme"}}
}`

func TestParseEventFull(t *testing.T) {
	ev, err := ParseEvent([]byte(fullPayload))
	if err != nil {
		t.Fatal(err)
	}
	if ev.Action != "completed" || ev.InstallationID != 42 {
		t.Errorf("action/installation = %q/%d", ev.Action, ev.InstallationID)
	}
	if ev.Repository != (Repository{Owner: "Acme", Name: "API", DefaultBranch: "main"}) {
		t.Errorf("repository = %+v", ev.Repository)
	}
	r := ev.Run
	if r.ID != 987654321 || r.RunAttempt != 2 || r.Name != "CI" || r.Path != ".github/workflows/ci.yml" ||
		r.HeadBranch == nil || *r.HeadBranch != "main" || r.HeadSHA != "abc" || r.Conclusion != "success" ||
		r.HeadRepositoryFullName != "Acme/API" || !strings.HasSuffix(r.HTMLURL, "/987654321") {
		t.Errorf("run = %+v", r)
	}
}

func TestParseEventOptionalFields(t *testing.T) {
	tests := []struct {
		name  string
		json  string
		check func(t *testing.T, ev Event)
	}{
		{"null head branch is nil", `{"workflow_run":{"path":"ci.yml","head_branch":null},"repository":{"name":"r","owner":{"login":"o"}}}`,
			func(t *testing.T, ev Event) {
				if ev.Run.HeadBranch != nil {
					t.Errorf("HeadBranch = %q", *ev.Run.HeadBranch)
				}
			}},
		{"absent head branch is nil", `{"workflow_run":{"path":"ci.yml"},"repository":{"name":"r","owner":{"login":"o"}}}`,
			func(t *testing.T, ev Event) {
				if ev.Run.HeadBranch != nil {
					t.Error("HeadBranch set")
				}
			}},
		{"empty head branch kept", `{"workflow_run":{"path":"ci.yml","head_branch":""},"repository":{"name":"r","owner":{"login":"o"}}}`,
			func(t *testing.T, ev Event) {
				if ev.Run.HeadBranch == nil || *ev.Run.HeadBranch != "" {
					t.Errorf("HeadBranch = %v", ev.Run.HeadBranch)
				}
			}},
		{"null conclusion and head repository", `{"workflow_run":{"path":"ci.yml","conclusion":null,"head_repository":null,"head_sha":null},"repository":{"name":"r","owner":{"login":"o"}}}`,
			func(t *testing.T, ev Event) {
				if ev.Run.Conclusion != "" || ev.Run.HeadRepositoryFullName != "" || ev.Run.HeadSHA != "" {
					t.Errorf("run = %+v", ev.Run)
				}
			}},
		{"head repository without full_name", `{"workflow_run":{"path":"ci.yml","head_repository":{}},"repository":{"name":"r","owner":{"login":"o"}}}`,
			func(t *testing.T, ev Event) {
				if ev.Run.HeadRepositoryFullName != "" {
					t.Error("full name set")
				}
			}},
		{"absent id and attempt", `{"workflow_run":{"path":"ci.yml"},"repository":{"name":"r","owner":{"login":"o"}}}`,
			func(t *testing.T, ev Event) {
				if ev.Run.ID != 0 || ev.Run.RunAttempt != 1 || ev.InstallationID != 0 {
					t.Errorf("id/attempt/installation = %d/%d/%d", ev.Run.ID, ev.Run.RunAttempt, ev.InstallationID)
				}
			}},
		{"owner and name from full_name", `{"workflow_run":{"path":"ci.yml"},"repository":{"full_name":"acme/api"}}`,
			func(t *testing.T, ev Event) {
				if ev.Repository.FullName() != "acme/api" || ev.Repository.DefaultBranch != "" {
					t.Errorf("repository = %+v", ev.Repository)
				}
			}},
		{"large id", `{"workflow_run":{"path":"ci.yml","id":9007199254740993},"repository":{"full_name":"a/b"}}`,
			func(t *testing.T, ev Event) {
				if ev.Run.ID != 9007199254740993 {
					t.Errorf("id = %d", ev.Run.ID)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := ParseEvent([]byte(tt.json))
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, ev)
		})
	}
}

func TestParseEventErrors(t *testing.T) {
	const repo = `"repository":{"name":"r","owner":{"login":"o"}}`
	tests := []struct{ json, want string }{
		{``, "payload: empty"},
		{`[]`, "payload: expected a JSON object, got an array"},
		{`{"workflow_run":`, "payload: invalid JSON"},
		{`{` + repo + `}`, "workflow_run: missing"},
		{`{"workflow_run":"x",` + repo + `}`, "workflow_run: expected a JSON object, got a string"},
		{`{"workflow_run":{"path":"ci.yml","id":"1"},` + repo + `}`, "workflow_run.id: expected a number, got a string"},
		{`{"workflow_run":{"path":"ci.yml","id":1.5},` + repo + `}`, "workflow_run.id: expected a whole number"},
		{`{"workflow_run":{"path":"ci.yml","run_attempt":true},` + repo + `}`, "workflow_run.run_attempt: expected a number, got a boolean"},
		{`{"workflow_run":{"path":"ci.yml","run_attempt":-1},` + repo + `}`, "workflow_run.run_attempt: -1 is out of range"},
		{`{"workflow_run":{"path":7},` + repo + `}`, "workflow_run.path: expected a string, got a number"},
		{`{"workflow_run":{"path":"ci.yml","head_branch":1},` + repo + `}`, "workflow_run.head_branch: expected a string"},
		{`{"workflow_run":{"path":"ci.yml","conclusion":{}},` + repo + `}`, "workflow_run.conclusion: expected a string, got an object"},
		{`{"workflow_run":{"path":"ci.yml","head_repository":{"full_name":1}},` + repo + `}`, "workflow_run.head_repository.full_name: expected a string"},
		{`{"workflow_run":{"path":"ci.yml","head_repository":"x"},` + repo + `}`, "workflow_run.head_repository: expected a JSON object"},
		{`{"workflow_run":{"path":"ci.yml"}}`, "repository: missing"},
		{`{"workflow_run":{"path":"ci.yml"},"repository":{"name":"r"}}`, "repository.owner.login: missing"},
		{`{"workflow_run":{"path":"ci.yml"},"repository":{"owner":{"login":"o"}}}`, "repository.name: missing"},
		{`{"workflow_run":{"path":"ci.yml"},"repository":{"name":"r","owner":{"login":false}}}`, "repository.owner.login: expected a string, got a boolean"},
		{`{"workflow_run":{"path":"ci.yml"},"repository":{"name":"r","owner":{"login":"o"},"default_branch":[]}}`, "repository.default_branch: expected a string, got an array"},
		{`{"installation":{"id":"x"},"workflow_run":{"path":"ci.yml"},` + repo + `}`, "installation.id: expected a number"},
		{`{"action":1,"workflow_run":{"path":"ci.yml"},` + repo + `}`, "action: expected a string"},
		{`{"workflow_run":{"path":"ci.yml"},"repository":{"full_name":"a/b/c"}}`, "repository.owner.login: missing"},
	}
	for _, tt := range tests {
		_, err := ParseEvent([]byte(tt.json))
		if err == nil {
			t.Errorf("ParseEvent(%s): no error, want %q", tt.json, tt.want)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseEvent(%s) = %q, want it to contain %q", tt.json, err, tt.want)
		}
	}
}

func FuzzParseEvent(f *testing.F) {
	f.Add([]byte(fullPayload))
	f.Add([]byte(`{"workflow_run":{"path":null},"repository":{}}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		ev, err := ParseEvent(data)
		if err == nil && (ev.Repository.Owner == "" || ev.Repository.Name == "") {
			t.Errorf("accepted a payload without a source repository: %+v", ev)
		}
	})
}
