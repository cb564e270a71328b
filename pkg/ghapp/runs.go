package ghapp

import (
	"context"
	"fmt"
	"net/http"
	"net/url"

	"github.com/google/go-github/v89/github"

	"github.com/dispatcher-dev/dispatcher/pkg/plan"
)

// Run fetches workflow run runID of repository ("owner/name") and the
// repository itself, and builds the plan.Event a workflow_run webhook for
// that run would carry: the installation is the repository's, the
// repository's owner, name and default branch come from GET
// /repos/{owner}/{repo}, the run fields from GET .../actions/runs/{id}.
// Action is "completed" for a completed run, else the run's status
// ("requested" for queued/waiting/pending runs). Errors match ErrNotFound
// (unknown run or repository) and ErrNoInstallation (the App is not
// installed there).
func (c *Client) Run(ctx context.Context, repository string, runID int64) (plan.Event, error) {
	owner, name, err := splitRepo(repository)
	if err != nil {
		return plan.Event{}, &Error{Op: "fetch the run", Kind: KindPermanent, Err: err}
	}
	if runID <= 0 {
		return plan.Event{}, &Error{Op: "fetch the run", Kind: KindPermanent, Err: fmt.Errorf("run id %d is not positive", runID)}
	}
	inst, _, err := c.installationFor(ctx, repository, 0)
	if err != nil {
		return plan.Event{}, err
	}
	var repo *github.Repository
	_, err = c.run(ctx, call{op: "fetch repository " + repository, inst: inst, send: func(ctx context.Context, in *installation) (*github.Response, error) {
		req, err := in.gh.NewRequest(ctx, http.MethodGet, fmt.Sprintf("repos/%s/%s", url.PathEscape(owner), url.PathEscape(name)), nil)
		if err != nil {
			return nil, err
		}
		return in.gh.Do(req, &repo)
	}})
	if err != nil {
		return plan.Event{}, err
	}
	var run *github.WorkflowRun
	_, err = c.run(ctx, call{op: fmt.Sprintf("fetch run %d of %s", runID, repository), inst: inst, send: func(ctx context.Context, in *installation) (*github.Response, error) {
		req, err := in.gh.NewRequest(ctx, http.MethodGet, fmt.Sprintf("repos/%s/%s/actions/runs/%d", url.PathEscape(owner), url.PathEscape(name), runID), nil)
		if err != nil {
			return nil, err
		}
		return in.gh.Do(req, &run)
	}})
	if err != nil {
		return plan.Event{}, err
	}
	return eventFrom(inst.id, repo, run), nil
}

// eventFrom builds the event a workflow_run webhook would carry.
func eventFrom(installationID int64, repo *github.Repository, run *github.WorkflowRun) plan.Event {
	ev := plan.Event{
		Action:         actionOf(run.GetStatus()),
		InstallationID: installationID,
		Repository: plan.Repository{
			Owner:         repo.GetOwner().GetLogin(),
			Name:          repo.GetName(),
			DefaultBranch: repo.GetDefaultBranch(),
		},
		Run: plan.Run{
			ID:                     run.GetID(),
			RunAttempt:             run.GetRunAttempt(),
			Name:                   run.GetName(),
			Path:                   run.GetPath(),
			HeadBranch:             run.HeadBranch,
			HeadSHA:                run.GetHeadSHA(),
			HTMLURL:                run.GetHTMLURL(),
			Conclusion:             run.GetConclusion(),
			HeadRepositoryFullName: run.GetHeadRepository().GetFullName(),
		},
	}
	if ev.Run.RunAttempt == 0 {
		ev.Run.RunAttempt = 1
	}
	return ev
}

// actionOf maps a run status to the workflow_run webhook action.
func actionOf(status string) string {
	switch status {
	case "completed":
		return "completed"
	case "in_progress":
		return "in_progress"
	default:
		return "requested"
	}
}
