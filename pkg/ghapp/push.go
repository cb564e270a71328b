package ghapp

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/dispatcher-dev/dispatcher/pkg/dispatching"
)

// maxPushCommits is how many commits a push webhook lists at most; a
// push with more may change files it does not show.
const maxPushCommits = 2048

// ConfigPush reads a push webhook's payload and reports the repository
// ("owner/name") and whether the push may have changed its
// dispatching.yml on the default branch: the ref is the default branch
// and a listed commit added, modified or removed dispatching.yml or
// .github/dispatching.yml, or the push may hide such a change (forced
// with no commits listed, or as many commits as GitHub lists at most).
// When it says so, call EvictConfig(repository). The payload is only
// parsed: its signature must have been checked already.
func ConfigPush(payload []byte) (repository string, changed bool, err error) {
	var p struct {
		Ref        string `json:"ref"`
		Forced     bool   `json:"forced"`
		Deleted    bool   `json:"deleted"`
		Repository struct {
			FullName      string `json:"full_name"`
			DefaultBranch string `json:"default_branch"`
		} `json:"repository"`
		Commits []struct {
			Added    []string `json:"added"`
			Removed  []string `json:"removed"`
			Modified []string `json:"modified"`
		} `json:"commits"`
	}
	if err := json.Unmarshal(payload, &p); err != nil {
		return "", false, fmt.Errorf("push payload: %w", err)
	}
	repository = p.Repository.FullName
	if repository == "" || p.Repository.DefaultBranch == "" {
		return "", false, errors.New("push payload: repository.full_name or repository.default_branch missing")
	}
	if p.Ref != "refs/heads/"+p.Repository.DefaultBranch || p.Deleted {
		return repository, false, nil
	}
	if len(p.Commits) >= maxPushCommits || (p.Forced && len(p.Commits) == 0) {
		return repository, true, nil
	}
	for _, c := range p.Commits {
		for _, list := range [][]string{c.Added, c.Removed, c.Modified} {
			for _, f := range dispatching.LookupPaths {
				if slices.Contains(list, f) {
					return repository, true, nil
				}
			}
		}
	}
	return repository, false, nil
}
