package ghfake

import (
	"path/filepath"
	"slices"
	"testing"
)

func TestAddWorld(t *testing.T) {
	s := New(WithT(t))
	defer s.Close()
	names, err := s.AddWorld(filepath.Join("..", "..", "..", "examples", "world"))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(names, "acme/api") || !slices.Contains(names, "acme/docs") {
		t.Fatalf("names = %v", names)
	}
	docs := s.repo("acme/docs")
	if docs.DefaultBranch != "trunk" {
		t.Errorf("acme/docs default branch = %q, want trunk from repo.yml", docs.DefaultBranch)
	}
	if _, ok := docs.Files["repo.yml"]; ok {
		t.Error("repo.yml was added as a file")
	}
	if docs.Files["dispatching.yml"] == "" || docs.Files[".github/workflows/publish.yml"] == "" {
		t.Errorf("acme/docs files = %v", keys(docs.Files))
	}
	if smoke := s.repo("acme/smoke"); smoke.Files[".github/dispatching.yml"] == "" {
		t.Errorf("acme/smoke files = %v", keys(smoke.Files))
	}
	if _, err := s.AddWorld(t.TempDir()); err == nil {
		t.Error("an empty folder was accepted")
	}
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
