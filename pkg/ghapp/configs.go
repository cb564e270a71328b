package ghapp

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/dispatcher-dev/dispatcher/pkg/plan"
)

// LookupConfigs reads the dispatching.yml of every repository in repos at
// once (bounded by WithConfigReadConcurrency; one read in flight per
// repository, duplicates read once) and returns the results in the order
// of repos. Each result is what LookupConfig gives.
func (c *Client) LookupConfigs(ctx context.Context, installationID int64, repos []string) []plan.ConfigResult {
	out := make([]plan.ConfigResult, len(repos))
	first := map[string]int{}
	var wg sync.WaitGroup
	for i, r := range repos {
		k := repoKey(r)
		if _, dup := first[k]; dup {
			continue
		}
		first[k] = i
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = c.LookupConfig(ctx, installationID, r)
		}()
	}
	wg.Wait()
	for i, r := range repos {
		if j := first[repoKey(r)]; j != i {
			out[i] = out[j]
		}
	}
	return out
}

// ReadConfigs reads what planning one delivery needs: the dispatching.yml
// of source and of the target repositories targetsOf names for it, in as
// few round trips as the cache allows. targetsOf gets a found source config
// and returns the repositories ("owner/name") whose configs the plan will
// look up (the planner's candidate targets after the guardrails that need
// no config); it must not do I/O.
//
// With a cached source config (CachedConfig), the source is revalidated in
// parallel with the targets the cached version names, so a warm delivery
// costs one round trip of reads (304s, free against the primary limit, or
// no request within CONFIG_CACHE_TTL); if the source changed, the targets
// the new version adds are read in a second round. Without one, the source
// is read first, then its targets in parallel.
//
// It returns the source's result, a lookup holding the targets' results
// (for plan.Input.Targets; a repository it does not hold is read when
// asked), and a non-nil error when the source or a target it names was
// unavailable (plan.ConfigUnavailable: a transient failure after the
// client's retries). The error is a transient *Error (IsTransient) naming
// them: fail the step and retry it, do not plan with it. Permanent problems (ConfigUnreadable, ConfigInvalid,
// ConfigMissing) are answers, not errors.
func (c *Client) ReadConfigs(ctx context.Context, installationID int64, source string, targetsOf func(plan.ConfigResult) []string) (plan.ConfigResult, plan.ConfigLookup, error) {
	set := &ConfigSet{c: c, installationID: installationID, results: map[string]plan.ConfigResult{}}
	read := func(repos []string) {
		var todo []string
		for _, r := range repos {
			if _, ok := set.results[repoKey(r)]; !ok && !containsFold(todo, r) {
				todo = append(todo, r)
			}
		}
		for i, res := range c.LookupConfigs(ctx, installationID, todo) {
			set.results[repoKey(todo[i])] = res
		}
	}
	var guess []string
	if cached, ok := c.CachedConfig(source); ok && cached.Status == plan.ConfigFound && targetsOf != nil {
		guess = targetsOf(cached)
	}
	read(append([]string{source}, guess...))
	src := set.results[repoKey(source)]
	var targets []string
	if src.Status == plan.ConfigFound && targetsOf != nil {
		targets = targetsOf(src)
		read(targets) // nothing when the guess was right
	}
	var errs []error
	for _, r := range append([]string{source}, targets...) {
		if res := set.results[repoKey(r)]; res.Status == plan.ConfigUnavailable && !containsErrFor(errs, r) {
			errs = append(errs, fmt.Errorf("%s: %s", r, res.Problem))
		}
	}
	if len(errs) > 0 {
		return src, set, &Error{Op: "read dispatching.yml", Kind: KindTransient, Err: errors.Join(errs...)}
	}
	return src, set, nil
}

// ConfigSet is the plan.ConfigLookup ReadConfigs returns: the results it
// read, and a live read (LookupConfig) for any other repository.
type ConfigSet struct {
	c              *Client
	installationID int64
	mu             sync.Mutex
	results        map[string]plan.ConfigResult
}

// Lookup returns the result read for repository, reading it now when the
// set does not hold it.
func (s *ConfigSet) Lookup(ctx context.Context, repository string) plan.ConfigResult {
	k := repoKey(repository)
	s.mu.Lock()
	res, ok := s.results[k]
	s.mu.Unlock()
	if ok {
		return res
	}
	res = s.c.LookupConfig(ctx, s.installationID, repository)
	s.mu.Lock()
	s.results[k] = res
	s.mu.Unlock()
	return res
}

// Unavailable returns a transient *Error naming every repository whose
// result in the set is plan.ConfigUnavailable (reads made through Lookup
// after ReadConfigs returned included), or nil.
func (s *ConfigSet) Unavailable() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for _, k := range slices.Sorted(maps.Keys(s.results)) {
		if res := s.results[k]; res.Status == plan.ConfigUnavailable {
			errs = append(errs, fmt.Errorf("%s: %s", k, res.Problem))
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return &Error{Op: "read dispatching.yml", Kind: KindTransient, Err: errors.Join(errs...)}
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

func containsErrFor(errs []error, repo string) bool {
	for _, e := range errs {
		if strings.HasPrefix(strings.ToLower(e.Error()), strings.ToLower(repo)+": ") {
			return true
		}
	}
	return false
}
