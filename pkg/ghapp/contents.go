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

// Configs returns a lookup of dispatching.yml files. Each repository is
// read through its own installation; installationID (the source's) is the
// fallback when that lookup fails transiently.
func (c *Client) Configs(installationID int64) plan.ConfigLookup {
	return configLookup{c: c, installationID: installationID}
}

type configLookup struct {
	c              *Client
	installationID int64
}

// Lookup reads repository's dispatching.yml from its default branch:
// "dispatching.yml", then ".github/dispatching.yml". A 404, a directory or
// an entry that is not a file moves on to the next path; the first file
// found ends the lookup (an empty one is ConfigMissing, like the original
// service); a file over dispatching.MaxFileSize is ConfigInvalid; any
// other error is ConfigUnreadable with the classified error as Problem.
func (l configLookup) Lookup(ctx context.Context, repository string) plan.ConfigResult {
	return l.c.lookupConfig(ctx, repository, l.installationID)
}

func (c *Client) lookupConfig(ctx context.Context, repository string, fallback int64) plan.ConfigResult {
	owner, name, err := splitRepo(repository)
	if err != nil {
		return plan.ConfigResult{Status: plan.ConfigUnreadable, Path: repository + "/" + dispatching.LookupPaths[0],
			Problem: (&Error{Op: "read dispatching.yml", Kind: KindPermanent, Err: err}).Error()}
	}
	inst, err := c.installationFor(ctx, repository, fallback)
	if err != nil {
		return plan.ConfigResult{Status: plan.ConfigUnreadable, Path: repository + "/" + dispatching.LookupPaths[0], Problem: err.Error()}
	}
	for _, p := range dispatching.LookupPaths {
		out, err := c.readConfigPath(ctx, inst, repository, owner, name, p)
		if err != nil {
			return plan.ConfigResult{Status: plan.ConfigUnreadable, Path: repository + "/" + p, Problem: err.Error()}
		}
		if !out.next {
			return out.result
		}
	}
	return plan.ConfigResult{Status: plan.ConfigMissing}
}

func (c *Client) readConfigPath(ctx context.Context, inst *installation, repository, owner, name, p string) (pathOutcome, error) {
	key := repoKey(repository) + "\x00" + p
	display := repository + "/" + p
	now := c.clock.Now()
	c.mu.Lock()
	cached := c.contents[key]
	c.mu.Unlock()
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
		if errors.As(err, &e) && e.Status == http.StatusNotFound {
			out := pathOutcome{next: true}
			if c.opts.negativeTTL > 0 {
				c.mu.Lock()
				c.contents[key] = &contentEntry{outcome: out, absentUntil: now.Add(c.opts.negativeTTL)}
				c.mu.Unlock()
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
	c.mu.Lock()
	if etag != "" {
		c.contents[key] = &contentEntry{etag: etag, outcome: out}
	} else {
		delete(c.contents, key)
	}
	c.mu.Unlock()
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
