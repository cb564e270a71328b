package ghapp

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/google/go-github/v89/github"

	"github.com/dispatcher-dev/dispatcher/pkg/pipeline"
)

// findSkew widens the "since" of a run search to absorb clock drift
// between dispatcher and GitHub.
const findSkew = 2 * time.Minute

// dispatchBody is the request body of a workflow_dispatch POST: "inputs"
// is left out when empty and "return_run_details" when not wanted.
type dispatchBody struct {
	Ref              string            `json:"ref"`
	Inputs           map[string]string `json:"inputs,omitempty"`
	ReturnRunDetails *bool             `json:"return_run_details,omitempty"`
}

// Dispatch creates a workflow_dispatch event for req.Workflow (the file
// name) in req.Repository on req.Ref, through the repository's own
// installation (req.InstallationID is the fallback). It asks for the run
// details, so RunID/RunURL/HTMLURL are set when the server returns them.
// Transient failures are retried (see the package documentation); the
// error is an *Error: Permanent() for 404/422/..., Ambiguous() when the
// POST may have been applied and the run could not be found.
func (c *Client) Dispatch(ctx context.Context, req pipeline.DispatchRequest) (pipeline.DispatchResult, error) {
	op := fmt.Sprintf("dispatch %q on %q in %s", req.Workflow, req.Ref, req.Repository)
	owner, name, err := splitRepo(req.Repository)
	if err != nil {
		return pipeline.DispatchResult{}, &Error{Op: op, Kind: KindPermanent, Err: err}
	}
	if err := checkWorkflow(req.Workflow); err != nil {
		return pipeline.DispatchResult{}, &Error{Op: op, Kind: KindPermanent, Err: err}
	}
	if req.Ref == "" {
		return pipeline.DispatchResult{}, &Error{Op: op, Kind: KindPermanent, Err: errors.New("ref is empty")}
	}
	inst, err := c.installationFor(ctx, req.Repository, req.InstallationID)
	if err != nil {
		return pipeline.DispatchResult{}, err
	}
	started := c.clock.Now()
	total := 0
	withDetails := !c.noRunDetails.Load()
	for {
		body := dispatchBody{Ref: req.Ref}
		if len(req.Inputs) > 0 {
			body.Inputs = req.Inputs
		}
		if withDetails {
			body.ReturnRunDetails = github.Ptr(true)
		}
		var (
			details  *github.WorkflowDispatchRunDetails
			found    *pipeline.DispatchResult
			bodyLost bool
		)
		applied := func(ctx context.Context) bool {
			res, ok := c.resolveAmbiguous(ctx, inst, owner, name, req, started)
			if ok {
				found = &res
			}
			return ok
		}
		n, err := c.run(ctx, call{op: op, mutating: true, inst: inst, applied: applied, send: func(ctx context.Context, in *installation) (*github.Response, error) {
			u := fmt.Sprintf("repos/%s/%s/actions/workflows/%s/dispatches", url.PathEscape(owner), url.PathEscape(name), url.PathEscape(req.Workflow))
			hr, err := in.gh.NewRequest(ctx, http.MethodPost, u, body)
			if err != nil {
				return nil, err
			}
			details, bodyLost = nil, false
			resp, err := in.gh.Do(hr, &details)
			if err != nil && resp != nil && resp.Response != nil && resp.StatusCode >= 200 && resp.StatusCode <= 299 {
				// The status arrived, so GitHub applied the dispatch; only
				// the body (the run details) was lost. Never an error: a
				// failure would let the caller dispatch again.
				details, bodyLost = nil, true
				return resp, nil
			}
			return resp, err
		}})
		total += n
		if err == nil && bodyLost && found == nil {
			if res, ok := c.resolveAmbiguous(ctx, inst, owner, name, req, started); ok {
				found = &res
			}
		}
		if err == nil && found != nil {
			found.Attempts = total
			c.attribute(found.RunID)
			return *found, nil
		}
		if err == nil {
			c.attribute(details.GetWorkflowRunID())
			return pipeline.DispatchResult{
				Attempts: total,
				RunID:    details.GetWorkflowRunID(),
				RunURL:   details.GetRunURL(),
				HTMLURL:  details.GetHTMLURL(),
			}, nil
		}
		var e *Error
		if withDetails && errors.As(err, &e) && rejectsRunDetails(e) {
			// Older GitHub Enterprise Server: the field is unknown and the
			// request was refused, so sending it again without the field
			// cannot dispatch twice.
			c.noRunDetails.Store(true)
			withDetails = false
			continue
		}
		if errors.As(err, &e) {
			e.Attempts = total
			if e.Kind == KindAmbiguous {
				if res, found := c.resolveAmbiguous(ctx, inst, owner, name, req, started); found {
					res.Attempts = total
					c.attribute(res.RunID)
					return res, nil
				}
			}
		}
		return pipeline.DispatchResult{}, err
	}
}

// rejectsRunDetails recognises an older server refusing the
// return_run_details field.
func rejectsRunDetails(e *Error) bool {
	return (e.Status == http.StatusBadRequest || e.Status == http.StatusUnprocessableEntity) &&
		strings.Contains(e.Message, "return_run_details")
}

// resolveAmbiguous looks for the run an ambiguous POST may have created.
func (c *Client) resolveAmbiguous(ctx context.Context, inst *installation, owner, name string, req pipeline.DispatchRequest, started time.Time) (pipeline.DispatchResult, bool) {
	if ctx.Err() != nil {
		return pipeline.DispatchResult{}, false
	}
	res, found, err := c.findRun(ctx, inst, owner, name, req.Workflow, req.Ref, started.Add(-findSkew), c.isAttributed)
	if err != nil || !found {
		return pipeline.DispatchResult{}, false
	}
	return res, true
}

// checkWorkflow accepts a workflow file name (the workflow_id of the API).
func checkWorkflow(w string) error {
	if w == "" || strings.ContainsAny(w, "/?#\\") || w == "." || w == ".." {
		return fmt.Errorf("workflow %q is not a workflow file name", w)
	}
	return nil
}

// FindDispatchedRun returns the newest workflow_dispatch run of workflow in
// repository created at or after since by this App (actor or triggering
// actor "<slug>[bot]"). It reads one page of up to 100 runs. When several
// dispatches of the same workflow by the App happened since, the newest
// wins: callers pass the time their claim was taken, which keeps the
// window small.
func (c *Client) FindDispatchedRun(ctx context.Context, installationID int64, repository, workflow string, since time.Time) (pipeline.DispatchResult, bool, error) {
	owner, name, err := splitRepo(repository)
	if err != nil {
		return pipeline.DispatchResult{}, false, &Error{Op: "find dispatched runs", Kind: KindPermanent, Err: err}
	}
	if err := checkWorkflow(workflow); err != nil {
		return pipeline.DispatchResult{}, false, &Error{Op: "find dispatched runs", Kind: KindPermanent, Err: err}
	}
	inst, err := c.installationFor(ctx, repository, installationID)
	if err != nil {
		return pipeline.DispatchResult{}, false, err
	}
	return c.findRun(ctx, inst, owner, name, workflow, "", since, nil)
}

// attributedTTL bounds how long a run stays attributed: far longer than
// the window a run search inside Dispatch looks back (findSkew plus the
// call's own duration).
const attributedTTL = time.Hour

// attribute remembers that a Dispatch call got run id as its result.
func (c *Client) attribute(id int64) {
	if id == 0 {
		return
	}
	now := c.clock.Now()
	c.attrMu.Lock()
	defer c.attrMu.Unlock()
	c.attributed[id] = now
	if len(c.attributed) > 1000 {
		for k, at := range c.attributed {
			if now.Sub(at) > attributedTTL {
				delete(c.attributed, k)
			}
		}
	}
}

// isAttributed reports whether an earlier Dispatch call got run id.
func (c *Client) isAttributed(id int64) bool {
	c.attrMu.Lock()
	defer c.attrMu.Unlock()
	_, ok := c.attributed[id]
	return ok
}

// findRun returns the newest workflow_dispatch run of workflow created by
// the App since since (on ref when set), skipping the runs skip reports.
func (c *Client) findRun(ctx context.Context, inst *installation, owner, name, workflow, ref string, since time.Time, skip func(int64) bool) (pipeline.DispatchResult, bool, error) {
	bot, err := c.botLoginFor(ctx)
	if err != nil {
		return pipeline.DispatchResult{}, false, err
	}
	since = since.UTC().Truncate(time.Second)
	var runs *github.WorkflowRuns
	op := fmt.Sprintf("list runs of %q in %s/%s", workflow, owner, name)
	_, err = c.run(ctx, call{op: op, inst: inst, send: func(ctx context.Context, in *installation) (*github.Response, error) {
		q := url.Values{}
		q.Set("event", "workflow_dispatch")
		q.Set("created", ">="+since.Format(time.RFC3339))
		q.Set("per_page", "100")
		if ref != "" {
			q.Set("branch", ref)
		}
		u := fmt.Sprintf("repos/%s/%s/actions/workflows/%s/runs?%s", url.PathEscape(owner), url.PathEscape(name), url.PathEscape(workflow), q.Encode())
		req, err := in.gh.NewRequest(ctx, http.MethodGet, u, nil)
		if err != nil {
			return nil, err
		}
		runs = nil
		return in.gh.Do(req, &runs)
	}})
	if err != nil {
		return pipeline.DispatchResult{}, false, err
	}
	var best *github.WorkflowRun
	for _, r := range runs.WorkflowRuns {
		if r.GetEvent() != "workflow_dispatch" || r.GetCreatedAt().Before(since) {
			continue
		}
		if !strings.EqualFold(r.GetActor().GetLogin(), bot) && !strings.EqualFold(r.GetTriggeringActor().GetLogin(), bot) {
			continue
		}
		if ref != "" && r.GetHeadBranch() != ref {
			continue
		}
		if skip != nil && skip(r.GetID()) {
			continue
		}
		if best == nil || r.GetCreatedAt().After(best.GetCreatedAt().Time) ||
			(r.GetCreatedAt().Time.Equal(best.GetCreatedAt().Time) && r.GetID() > best.GetID()) {
			best = r
		}
	}
	if best == nil {
		return pipeline.DispatchResult{}, false, nil
	}
	return pipeline.DispatchResult{RunID: best.GetID(), RunURL: best.GetURL(), HTMLURL: best.GetHTMLURL()}, true, nil
}
