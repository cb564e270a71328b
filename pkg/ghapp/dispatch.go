package ghapp

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
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
// details, so RunID/RunURL/HTMLURL are set when the server returns them:
// the run id of the response is the only one Dispatch ever reports; it
// never takes a run found by searching for its own.
//
// The POSTs of one installation are sent one at a time and paced
// (WithWritesPerMinute). Transient failures are retried (see the package
// documentation); the error is an *Error: Permanent() for 404/422/...,
// Transient() when the POST certainly did not reach GitHub (ErrPaced
// included), Ambiguous() when it may have been applied: the connection
// failed after the request was written, or a 5xx answered a POST while a
// run that could be its own appeared (Candidates lists them). After an
// ambiguous error the caller keeps its claim in progress and resolves it
// with FindDispatchedRuns before dispatching again. A 2xx whose body was
// lost is a success with RunID 0.
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
	inst, viaFallback, err := c.installationFor(ctx, req.Repository, req.InstallationID)
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
		var details *github.WorkflowDispatchRunDetails
		// After a 5xx, a run that appeared since the call started may be
		// this POST's (a gateway error can hide an applied request): then
		// neither retry (it could dispatch twice) nor guess.
		mayHaveApplied := func(ctx context.Context, last *Error) error {
			if ctx.Err() != nil {
				return nil
			}
			runs, err := c.findRuns(ctx, inst, owner, name, req.Workflow, req.Ref, started.Add(-findSkew), c.isAttributed)
			if err != nil || len(runs) == 0 {
				return nil
			}
			last.Kind = KindAmbiguous
			last.Err = joinErr(ErrAmbiguous, last.Err)
			last.Candidates = runs
			return last
		}
		n, err := c.run(ctx, call{op: op, mutating: true, inst: inst, viaFallback: viaFallback, mayHaveApplied: mayHaveApplied, send: func(ctx context.Context, in *installation) (*github.Response, error) {
			u := fmt.Sprintf("repos/%s/%s/actions/workflows/%s/dispatches", url.PathEscape(owner), url.PathEscape(name), url.PathEscape(req.Workflow))
			hr, err := in.gh.NewRequest(ctx, http.MethodPost, u, body)
			if err != nil {
				return nil, err
			}
			details = nil
			resp, err := in.gh.Do(hr, &details)
			if err != nil && resp != nil && resp.Response != nil && resp.StatusCode >= 200 && resp.StatusCode <= 299 {
				// The status arrived, so GitHub applied the dispatch; only
				// the body (the run details) was lost. Never an error: a
				// failure would let the caller dispatch again.
				details = nil
				return resp, nil
			}
			return resp, err
		}})
		total += n
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

// checkWorkflow accepts a workflow file name (the workflow_id of the API).
func checkWorkflow(w string) error {
	if w == "" || strings.ContainsAny(w, "/?#\\") || w == "." || w == ".." {
		return fmt.Errorf("workflow %q is not a workflow file name", w)
	}
	return nil
}

// ErrSeveralRuns: more than one run fits a search for the run of one
// dispatch, so the search cannot tell which is its own.
var ErrSeveralRuns = errors.New("several runs fit; not guessing which one is this dispatch's")

// FindDispatchedRuns returns every run that may be the one a dispatch of
// workflow in repository created at or after since: the workflow_dispatch
// runs of that workflow created by this App (actor or triggering actor
// "<slug>[bot]") since then, on ref when ref is not "", except the run ids
// in exclude (the runs other dispatches already recorded). Newest first; up
// to 1,000 runs (10 pages). An error is an *Error: Transient() when GitHub
// could not answer (retry later), Permanent() otherwise (e.g. the workflow
// does not exist).
//
// The caller decides: exactly one candidate while no other dispatch of the
// same workflow is in flight is its run; several, or one while another
// dispatch is in flight, cannot be told apart and must not be guessed. A
// run id GitHub returned for a dispatch (DispatchResult.RunID) always wins
// over a search.
func (c *Client) FindDispatchedRuns(ctx context.Context, installationID int64, repository, workflow, ref string, since time.Time, exclude []int64) ([]pipeline.DispatchResult, error) {
	owner, name, err := splitRepo(repository)
	if err != nil {
		return nil, &Error{Op: "find dispatched runs", Kind: KindPermanent, Err: err}
	}
	if err := checkWorkflow(workflow); err != nil {
		return nil, &Error{Op: "find dispatched runs", Kind: KindPermanent, Err: err}
	}
	inst, viaFallback, err := c.installationFor(ctx, repository, installationID)
	if err != nil {
		return nil, err
	}
	skip := func(id int64) bool { return slices.Contains(exclude, id) }
	runs, err := c.findRuns(ctx, inst, owner, name, workflow, ref, since, skip)
	if err != nil && viaFallback != nil {
		var e *Error
		if errors.As(err, &e) && e.Kind == KindPermanent {
			e.Kind = KindTransient
			e.Err = joinErr(e.Err, viaFallback)
		}
	}
	return runs, err
}

// FindDispatchedRun looks for the run of an ambiguous dispatch of workflow
// in repository since since (pipeline.GitHub): no candidate is not found;
// exactly one is found; several is an ambiguous *Error matching
// ErrSeveralRuns whose Candidates lists them, so that a run is never
// guessed. Prefer FindDispatchedRuns, which also takes the ref and the run
// ids to exclude.
func (c *Client) FindDispatchedRun(ctx context.Context, installationID int64, repository, workflow string, since time.Time) (pipeline.DispatchResult, bool, error) {
	runs, err := c.FindDispatchedRuns(ctx, installationID, repository, workflow, "", since, nil)
	switch {
	case err != nil:
		return pipeline.DispatchResult{}, false, err
	case len(runs) == 0:
		return pipeline.DispatchResult{}, false, nil
	case len(runs) == 1:
		return runs[0], true, nil
	}
	return pipeline.DispatchResult{}, false, &Error{
		Op:         fmt.Sprintf("find the run of %q dispatched in %s since %s", workflow, repository, since.UTC().Format(time.RFC3339)),
		Kind:       KindAmbiguous,
		Err:        ErrSeveralRuns,
		Candidates: runs,
	}
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

// maxRunPages bounds a run search (100 runs a page).
const maxRunPages = 10

// findRuns returns the workflow_dispatch runs of workflow created by the
// App since since (on ref when set), newest first, skipping the runs skip
// reports.
func (c *Client) findRuns(ctx context.Context, inst *installation, owner, name, workflow, ref string, since time.Time, skip func(int64) bool) ([]pipeline.DispatchResult, error) {
	bot, err := c.botLoginFor(ctx)
	if err != nil {
		return nil, err
	}
	since = since.UTC().Truncate(time.Second)
	var fits []*github.WorkflowRun
	op := fmt.Sprintf("list runs of %q in %s/%s", workflow, owner, name)
	for page := 1; page <= maxRunPages; page++ {
		var runs *github.WorkflowRuns
		_, err = c.run(ctx, call{op: op, inst: inst, send: func(ctx context.Context, in *installation) (*github.Response, error) {
			q := url.Values{}
			q.Set("event", "workflow_dispatch")
			q.Set("created", ">="+since.Format(time.RFC3339))
			q.Set("per_page", "100")
			if page > 1 {
				q.Set("page", strconv.Itoa(page))
			}
			if ref != "" {
				q.Set("branch", strings.TrimPrefix(ref, "refs/heads/"))
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
			return nil, err
		}
		for _, r := range runs.WorkflowRuns {
			if r.GetEvent() != "workflow_dispatch" || r.GetCreatedAt().Before(since) {
				continue
			}
			if !strings.EqualFold(r.GetActor().GetLogin(), bot) && !strings.EqualFold(r.GetTriggeringActor().GetLogin(), bot) {
				continue
			}
			if ref != "" && r.GetHeadBranch() != strings.TrimPrefix(ref, "refs/heads/") {
				continue
			}
			if skip != nil && skip(r.GetID()) {
				continue
			}
			if slices.ContainsFunc(fits, func(f *github.WorkflowRun) bool { return f.GetID() == r.GetID() }) {
				continue // a run listed on two pages while the list moved
			}
			fits = append(fits, r)
		}
		if len(runs.WorkflowRuns) < 100 || page*100 >= runs.GetTotalCount() {
			break
		}
	}
	slices.SortStableFunc(fits, func(a, b *github.WorkflowRun) int {
		if c := b.GetCreatedAt().Time.Compare(a.GetCreatedAt().Time); c != 0 {
			return c
		}
		return cmpInt64(b.GetID(), a.GetID())
	})
	out := make([]pipeline.DispatchResult, 0, len(fits))
	for _, r := range fits {
		out = append(out, pipeline.DispatchResult{RunID: r.GetID(), RunURL: r.GetURL(), HTMLURL: r.GetHTMLURL()})
	}
	return out, nil
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
