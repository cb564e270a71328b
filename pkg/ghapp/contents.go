package ghapp

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/google/go-github/v89/github"

	"github.com/dispatcher-dev/dispatcher/pkg/dispatching"
	"github.com/dispatcher-dev/dispatcher/pkg/plan"
)

// pathOutcome is what one config path gave.
type pathOutcome struct {
	next   bool // 404, a directory or not a file: try the next path
	result plan.ConfigResult
}

type contentEntry struct {
	etag        string
	outcome     pathOutcome
	absentUntil time.Time // a cached 404 (no ETag) is trusted until then
}

// Configs returns a lookup of dispatching.yml files (pipeline.GitHub).
// Each repository is read through its own installation; installationID
// (the source's) is the fallback when that lookup fails transiently.
//
// Its results are LookupConfig's, except that a transient failure is
// reported as ConfigUnreadable, as before ConfigUnavailable existed: the
// current planner retries its step only on the source's ConfigUnreadable.
// A planner that tells the two apart uses ReadConfigs (or LookupConfig)
// instead.
func (c *Client) Configs(installationID int64) plan.ConfigLookup {
	return configLookup{c: c, installationID: installationID}
}

type configLookup struct {
	c              *Client
	installationID int64
}

// Lookup implements plan.ConfigLookup (see Configs).
func (l configLookup) Lookup(ctx context.Context, repository string) plan.ConfigResult {
	res := l.c.LookupConfig(ctx, l.installationID, repository)
	if res.Status == plan.ConfigUnavailable {
		res.Status = plan.ConfigUnreadable
	}
	return res
}

// cachedConfig is the last result a lookup of a repository gave (only
// decisions: found, missing, invalid).
type cachedConfig struct {
	result plan.ConfigResult
	at     time.Time // when it was read or revalidated
}

// LookupConfig reads repository's dispatching.yml from its default
// branch: "dispatching.yml", then ".github/dispatching.yml". A 404, a
// directory or an entry that is not a file moves on to the next path; the
// first file found ends the lookup (an empty one is ConfigMissing, like
// the original service); a file over dispatching.MaxFileSize is
// ConfigInvalid. A transient failure (5xx, 429, a rate limit, a network
// error or a timeout, after the client's retries; also a 403/404 seen only
// through the fallback installation because finding the repository's own
// failed transiently) is ConfigUnavailable: nothing is known, retry later
// rather than decide. Any other error (the App is not installed on the
// repository, 403, an answer that does not decode) is ConfigUnreadable.
// Problem holds the classified error for both. installationID is the
// fallback installation.
//
// Reads are shared: one read is in flight per repository at a time (later
// lookups join it), and a cached result is revalidated with its ETag (a
// 304 is free against the primary rate limit) or, within
// WithConfigCacheTTL, used without a request.
func (c *Client) LookupConfig(ctx context.Context, installationID int64, repository string) plan.ConfigResult {
	key := repoKey(repository)
	now := c.clock.Now()
	c.mu.Lock()
	cached, ok := c.configs[key]
	gen := c.configGen[key]
	c.mu.Unlock()
	if ok && c.opts.configTTL > 0 && now.Before(cached.at.Add(c.opts.configTTL)) {
		c.stats.cacheHits.Add(1)
		return cached.result
	}
	ch := c.flights.DoChan(key, func() (any, error) {
		// The read is shared by every caller waiting for it, so it must
		// not end when the first caller gives up.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.opts.flightTimeout)
		defer cancel()
		if err := c.acquireRead(fctx); err != nil {
			return unavailable(repository, &Error{Op: "read dispatching.yml of " + repository, Kind: KindTransient, Err: err}), nil
		}
		defer c.releaseRead()
		res := c.lookupConfig(fctx, repository, installationID)
		switch res.Status {
		case plan.ConfigFound, plan.ConfigMissing, plan.ConfigInvalid:
			c.mu.Lock()
			if c.configGen[key] == gen { // not evicted meanwhile
				c.configs[key] = cachedConfig{result: res, at: c.clock.Now()}
			}
			c.mu.Unlock()
		}
		return res, nil
	})
	if c.flightJoined != nil {
		c.flightJoined(key)
	}
	select {
	case r := <-ch:
		return r.Val.(plan.ConfigResult)
	case <-ctx.Done():
		return unavailable(repository, &Error{Op: "read dispatching.yml of " + repository, Kind: KindTransient, Err: ctx.Err()})
	}
}

// CachedConfig returns the last result read for repository (found,
// missing or invalid), however old, without a request: a guess of what a
// revalidation will give, for reading the targets it names in parallel.
func (c *Client) CachedConfig(repository string) (plan.ConfigResult, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cc, ok := c.configs[repoKey(repository)]
	return cc.result, ok
}

// EvictConfig forgets everything cached about repository's dispatching.yml
// (the result, the ETags, a remembered 404), so the next lookup reads it
// afresh even within CONFIG_CACHE_TTL. A read in flight when it is called
// does not store its result, and later lookups do not join it. Call it
// when a push changes dispatching.yml or .github/dispatching.yml on the
// repository's default branch.
func (c *Client) EvictConfig(repository string) {
	key := repoKey(repository)
	c.mu.Lock()
	delete(c.configs, key)
	c.configGen[key]++
	for _, p := range dispatching.LookupPaths {
		delete(c.contents, key+"\x00"+p)
	}
	c.mu.Unlock()
	c.flights.Forget(key)
}

func (c *Client) acquireRead(ctx context.Context) error {
	if c.readSem == nil {
		return nil
	}
	select {
	case c.readSem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *Client) releaseRead() {
	if c.readSem != nil {
		<-c.readSem
	}
}

// failed turns a read error into ConfigUnavailable (transient) or
// ConfigUnreadable (permanent).
func failed(display string, err error) plan.ConfigResult {
	st := plan.ConfigUnreadable
	if IsTransient(err) {
		st = plan.ConfigUnavailable
	}
	return plan.ConfigResult{Status: st, Path: display, Problem: err.Error()}
}

func unavailable(repository string, err error) plan.ConfigResult {
	return plan.ConfigResult{Status: plan.ConfigUnavailable, Path: repository + "/" + dispatching.LookupPaths[0], Problem: err.Error()}
}

func (c *Client) lookupConfig(ctx context.Context, repository string, fallback int64) plan.ConfigResult {
	owner, name, err := splitRepo(repository)
	if err != nil {
		return failed(repository+"/"+dispatching.LookupPaths[0], &Error{Op: "read dispatching.yml", Kind: KindPermanent, Err: err})
	}
	inst, viaFallback, err := c.installationFor(ctx, repository, fallback)
	if err != nil {
		return failed(repository+"/"+dispatching.LookupPaths[0], err)
	}
	for _, p := range dispatching.LookupPaths {
		out, err := c.readConfigPath(ctx, inst, repository, owner, name, p)
		var e *Error
		if viaFallback != nil && errors.As(err, &e) && e.Kind == KindPermanent && e.Status == http.StatusForbidden {
			// The fallback installation may lack what the repository's
			// own grants.
			e.Kind = KindTransient
			e.Err = joinErr(e.Err, fmt.Errorf("answered through the fallback installation because finding the repository's own failed: %w", viaFallback))
		}
		if err != nil {
			return failed(repository+"/"+p, err)
		}
		if !out.next {
			return out.result
		}
	}
	if viaFallback != nil {
		// Through the fallback installation a 404 may only mean that it
		// cannot see the repository: not an answer.
		return failed(repository+"/"+dispatching.LookupPaths[0], &Error{Op: "read dispatching.yml of " + repository, Kind: KindTransient,
			Err: fmt.Errorf("not found through the fallback installation, which may not see the repository, because finding the repository's own failed: %w", viaFallback)})
	}
	return plan.ConfigResult{Status: plan.ConfigMissing}
}

func (c *Client) readConfigPath(ctx context.Context, inst *installation, repository, owner, name, p string) (pathOutcome, error) {
	key := repoKey(repository) + "\x00" + p
	display := repository + "/" + p
	now := c.clock.Now()
	c.mu.Lock()
	cached := c.contents[key]
	gen := c.configGen[repoKey(repository)]
	c.mu.Unlock()
	// store keeps an entry unless the repository was evicted meanwhile.
	store := func(e *contentEntry) {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.configGen[repoKey(repository)] != gen {
			return
		}
		if e == nil {
			delete(c.contents, key)
		} else {
			c.contents[key] = e
		}
	}
	if cached != nil && cached.etag == "" && now.Before(cached.absentUntil) {
		return cached.outcome, nil
	}
	var (
		raw         json.RawMessage
		status      int
		etag        string
		notModified bool
	)
	op := "read " + display
	_, err := c.run(ctx, call{op: op, inst: inst, send: func(ctx context.Context, in *installation) (*github.Response, error) {
		u := fmt.Sprintf("repos/%s/%s/contents/%s", url.PathEscape(owner), url.PathEscape(name), escapePath(p))
		req, err := in.gh.NewRequest(ctx, http.MethodGet, u, nil)
		if err != nil {
			return nil, err
		}
		if cached != nil && cached.etag != "" {
			req.Header.Set("If-None-Match", cached.etag)
		}
		raw = nil
		resp, err := in.gh.Do(req, &raw)
		if resp != nil && resp.Response != nil && resp.StatusCode == http.StatusNotModified {
			notModified, status = true, resp.StatusCode
			return resp, nil
		}
		if resp != nil && resp.Response != nil {
			status = resp.StatusCode
			etag = resp.Header.Get("ETag")
		}
		return resp, err
	}})
	if err != nil {
		var e *Error
		if errors.As(err, &e) && e.Status == http.StatusNotFound && e.Kind == KindPermanent {
			out := pathOutcome{next: true}
			if c.opts.negativeTTL > 0 {
				store(&contentEntry{outcome: out, absentUntil: now.Add(c.opts.negativeTTL)})
			}
			return out, nil
		}
		return pathOutcome{}, err
	}
	if notModified && cached != nil {
		return cached.outcome, nil
	}
	_ = status
	out, err := decodeConfig(display, raw)
	if err != nil {
		return pathOutcome{}, &Error{Op: op, Kind: KindPermanent, Err: err}
	}
	if etag != "" {
		store(&contentEntry{etag: etag, outcome: out})
	} else {
		store(nil)
	}
	return out, nil
}

// escapePath escapes each segment of a repository path.
func escapePath(p string) string {
	parts := strings.Split(p, "/")
	for i, s := range parts {
		parts[i] = url.PathEscape(s)
	}
	return strings.Join(parts, "/")
}

// decodeConfig turns a contents API answer into an outcome.
func decodeConfig(display string, raw json.RawMessage) (pathOutcome, error) {
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) > 0 && trimmed[0] == '[' {
		return pathOutcome{next: true}, nil // a directory
	}
	var rc github.RepositoryContent
	if err := json.Unmarshal(trimmed, &rc); err != nil {
		return pathOutcome{}, fmt.Errorf("decode the contents answer: %w", err)
	}
	if rc.GetType() != "file" {
		return pathOutcome{next: true}, nil // symlink, submodule, ...
	}
	tooLarge := func(n int) pathOutcome {
		return pathOutcome{result: plan.ConfigResult{Status: plan.ConfigInvalid, Path: display,
			Problem: fmt.Sprintf("%s: the file is %d bytes; dispatching.yml may be at most %d bytes", display, n, dispatching.MaxFileSize)}}
	}
	if rc.GetSize() > dispatching.MaxFileSize {
		return tooLarge(rc.GetSize()), nil
	}
	var data []byte
	content := ""
	if rc.Content != nil {
		content = *rc.Content
	}
	switch enc := rc.GetEncoding(); enc {
	case "base64", "":
		clean := strings.Map(func(r rune) rune {
			if r == '\n' || r == '\r' || r == ' ' || r == '\t' {
				return -1
			}
			return r
		}, content)
		d, err := base64.StdEncoding.DecodeString(clean)
		if err != nil {
			return pathOutcome{}, fmt.Errorf("%s: content is not valid base64: %w", display, err)
		}
		data = d
	case "utf-8", "utf8":
		data = []byte(content)
	case "none":
		// GitHub leaves content out of files over 1 MB.
		return tooLarge(rc.GetSize()), nil
	default:
		return pathOutcome{}, fmt.Errorf("%s: unsupported content encoding %q", display, enc)
	}
	if len(data) > dispatching.MaxFileSize {
		return tooLarge(len(data)), nil
	}
	if len(data) == 0 {
		return pathOutcome{result: plan.ConfigResult{Status: plan.ConfigMissing, Path: display}}, nil
	}
	cfg, diags := dispatching.Parse(display, data)
	if cfg == nil {
		problem := display + ": invalid"
		for _, d := range diags {
			if d.Severity == dispatching.SeverityError {
				problem = fmt.Sprintf("%s:%d:%d: %s", display, d.Line, d.Column, d.Message)
				break
			}
		}
		return pathOutcome{result: plan.ConfigResult{Status: plan.ConfigInvalid, Path: display, Problem: problem}}, nil
	}
	return pathOutcome{result: plan.ConfigResult{Status: plan.ConfigFound, Config: cfg, Path: display}}, nil
}
