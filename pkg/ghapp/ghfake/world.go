package ghfake

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/dispatcher-dev/dispatcher/pkg/world"
)

// AddWorld adds every repository of a world folder (see pkg/world:
// DIR/<owner>/<repo>/ with dispatching.yml, .github/workflows/ and an
// optional repo.yml) with all its files on the default branch that
// repo.yml names, and returns their full names. repo.yml itself is not
// added: it describes the repository, it is not one of its files.
func (s *Server) AddWorld(dir string) ([]string, error) {
	w, err := world.Load(dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, r := range w.Repos() {
		repo := Repo{FullName: r.FullName(), DefaultBranch: r.DefaultBranch, Files: map[string]string{}}
		err := filepath.WalkDir(r.Dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			rel, err := filepath.Rel(r.Dir, p)
			if err != nil {
				return err
			}
			rel = filepath.ToSlash(rel)
			if rel == "repo.yml" {
				return nil
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			repo.Files[rel] = string(b)
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("ghfake: load %s: %w", r.Dir, err)
		}
		s.AddRepo(repo)
		names = append(names, repo.FullName)
	}
	return names, nil
}
