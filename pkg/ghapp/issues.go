package ghapp

import (
	"context"
	"fmt"
	"net/http"
	"net/url"

	"github.com/google/go-github/v89/github"
)

// CreateIssue opens an issue in repository through its own installation
// (installationID is the fallback). Title and body are used as given. The
// POST is retried like a dispatch (never after it may have been applied);
// the caller logs a failure, it is not fatal.
func (c *Client) CreateIssue(ctx context.Context, installationID int64, repository, title, body string) error {
	op := "create an issue in " + repository
	owner, name, err := splitRepo(repository)
	if err != nil {
		return &Error{Op: op, Kind: KindPermanent, Err: err}
	}
	inst, viaFallback, err := c.installationFor(ctx, repository, installationID)
	if err != nil {
		return err
	}
	req := &github.IssueRequest{Title: &title, Body: &body}
	_, err = c.run(ctx, call{op: op, mutating: true, inst: inst, viaFallback: viaFallback, send: func(ctx context.Context, in *installation) (*github.Response, error) {
		u := fmt.Sprintf("repos/%s/%s/issues", url.PathEscape(owner), url.PathEscape(name))
		hr, err := in.gh.NewRequest(ctx, http.MethodPost, u, req)
		if err != nil {
			return nil, err
		}
		return in.gh.Do(hr, nil)
	}})
	return err
}
