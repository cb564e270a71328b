package cli

import (
	"strings"
	"testing"
)

func TestPlanParseRunURL(t *testing.T) {
	for _, tt := range []struct {
		in, repo, host string
		id             int64
	}{
		{"https://github.com/acme/api/actions/runs/9876543210", "acme/api", "github.com", 9876543210},
		{"https://github.com/acme/api/actions/runs/12/attempts/3", "acme/api", "github.com", 12},
		{"https://github.com/acme/api/actions/runs/12/job/345", "acme/api", "github.com", 12},
		{"https://github.com/acme/api/actions/runs/12/", "acme/api", "github.com", 12},
		{"https://github.com/acme/api/actions/runs/12?pr=4#step:2:7", "acme/api", "github.com", 12},
		{"https://GHE.Example.com:8443/Acme/API/actions/runs/5", "Acme/API", "ghe.example.com", 5},
		{"http://ghe.internal/acme/api/actions/runs/5", "acme/api", "ghe.internal", 5},
		{"github.com/acme/api/actions/runs/7", "acme/api", "github.com", 7},
		{"https://proxy.example.com/github/acme/api/actions/runs/8", "acme/api", "proxy.example.com", 8},
	} {
		repo, id, host, err := planParseRunURL(tt.in)
		if err != nil || repo != tt.repo || id != tt.id || host != tt.host {
			t.Errorf("planParseRunURL(%q) = %q, %d, %q, %v; want %q, %d, %q", tt.in, repo, id, host, err, tt.repo, tt.id, tt.host)
		}
	}
	for _, in := range []string{
		"https://github.com/acme/api",
		"https://github.com/acme/api/actions",
		"https://github.com/acme/api/actions/runs",
		"https://github.com/acme/api/actions/runs/abc",
		"https://github.com/acme/api/actions/runs/0",
		"https://github.com/acme/api/actions/runs/-3",
		"https://github.com/acme/api/actions/runs/99999999999999999999",
		"https://github.com/acme/api/actions/workflows/ci.yml",
		"https://github.com/actions/runs/1",
		"https:///acme/api/actions/runs/1",
		"ftp://github.com/acme/api/actions/runs/1",
		"https://github.com/acme/api/pull/1",
	} {
		if repo, id, _, err := planParseRunURL(in); err == nil {
			t.Errorf("planParseRunURL(%q) = %q, %d; want an error", in, repo, id)
		}
	}
}

func TestPlanIsRunURL(t *testing.T) {
	for in, want := range map[string]bool{
		"42": false, "https://github.com/a/b/actions/runs/1": true,
		"github.com/a/b/actions/runs/1": true, "abc": false, "": false,
	} {
		if got := planIsRunURL(in); got != want {
			t.Errorf("planIsRunURL(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestPlanHostNote(t *testing.T) {
	for _, tt := range []struct {
		web, api string
		note     bool
		want     string
	}{
		{"", "https://api.github.com", false, ""},                                                       // a run id: no address
		{"github.com", "https://api.github.com", false, ""},                                             // github.com
		{"www.github.com", "https://api.github.com", false, ""},                                         // www.
		{"github.com", "", false, ""},                                                                   // the default API
		{"ghe.example.com", "https://ghe.example.com/api/v3", false, ""},                                // GHES
		{"acme.ghe.com", "https://api.acme.ghe.com", false, ""},                                         // GHE.com
		{"ghe.example.com", "https://api.github.com", true, "https://ghe.example.com/api/v3"},           // GHES address, github.com API
		{"github.com", "https://ghe.example.com/api/v3", true, "https://api.github.com"},                // the other way round
		{"ghe.example.com", "https://other.example.com/api/v3", true, "https://ghe.example.com/api/v3"}, // another GHES
		{"acme.ghe.com", "https://api.github.com", true, "https://api.acme.ghe.com"},                    // GHE.com
	} {
		note := planHostNote(tt.web, tt.api)
		if (note != "") != tt.note {
			t.Errorf("planHostNote(%q, %q) = %q, want a note: %v", tt.web, tt.api, note, tt.note)
		}
		if note != "" && !strings.HasSuffix(note, "its API is GITHUB_API_URL="+tt.want) {
			t.Errorf("note %q does not say which GITHUB_API_URL to set", note)
		}
	}
}
