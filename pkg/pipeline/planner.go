package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/dispatcher-dev/dispatcher/pkg/dispatching"
	"github.com/dispatcher-dev/dispatcher/pkg/facts"
	"github.com/dispatcher-dev/dispatcher/pkg/plan"
)

// PlannerConfig configures a Planner.
type PlannerConfig struct {
	Targets Enqueuer      // the targets queue; required
	Facts   FactPublisher // required
	Lineage Lineage       // required
	GitHub  GitHub        // required (Configs only)
	Policy  plan.Policy

	// Result issues (CREATE_ISSUES): when CreateIssues is set, Issues,
	// Outcomes and Claims are required.
	CreateIssues bool
	Issues       IssueCreator
	Outcomes     Outcomes
	Claims       Claims

	// Build and ParseEvent default to plan.Build and plan.ParseEvent; tests
	// may replace them.
	Build      func(context.Context, plan.Input) plan.Plan
	ParseEvent func([]byte) (plan.Event, error)

	Now    func() time.Time // time.Now when nil
	Logger *slog.Logger     // slog.Default() when nil
}

// Planner is the planner stage: one Request in, a Plan, its facts, and one
// WorkItem per authorised target out.
type Planner struct {
	c   PlannerConfig
	rep reporter
}

// NewPlanner builds a Planner.
func NewPlanner(c PlannerConfig) (*Planner, error) {
	if c.Targets == nil || c.Facts == nil || c.Lineage == nil || c.GitHub == nil {
		return nil, errors.New("planner: targets queue, fact publisher, lineage and GitHub are required")
	}
	if c.CreateIssues && (c.Issues == nil || c.Outcomes == nil || c.Claims == nil) {
		return nil, errors.New("planner: result issues need an issue creator, an outcome store and claims")
	}
	if c.Build == nil {
		c.Build = plan.Build
	}
	if c.ParseEvent == nil {
		c.ParseEvent = plan.ParseEvent
	}
	c.Now = orNow(c.Now)
	c.Logger = orDefault(c.Logger)
	return &Planner{c: c, rep: reporter{issues: c.Issues, outcomes: c.Outcomes, claims: c.Claims, now: c.Now}}, nil
}

// HandleRequest plans one message of the requests queue. It is idempotent:
// handling the same message again re-enqueues the same work items (same
// dedup ids, and the dispatcher's claims stop a second dispatch) and
// re-publishes facts with the same ids (they count once).
//
// A body that cannot be decoded or a payload that is not a workflow_run
// event gives a permanent error (IsPermanent): the queue dead-letters it at
// once. Every other error is transient and the message should be retried.
// When the source's dispatching.yml cannot be read (GitHub unavailable),
// the request is retried, except on the final receive (d.Final()), where
// the plan is recorded with reason source_config_unreadable instead.
func (p *Planner) HandleRequest(ctx context.Context, body []byte, d Delivery) error {
	var req Request
	if err := json.Unmarshal(body, &req); err != nil {
		return PermanentError("decode request", err)
	}
	if req.DeliveryID == "" {
		return permanentf("decode request", "no delivery_id")
	}
	log := p.c.Logger.With("correlation_id", req.DeliveryID, "stage", "planner")
	err := p.handle(ctx, req, d, log)
	switch {
	case err == nil:
	case IsPermanent(err):
		log.Error("request dropped: cannot be planned", "error", err)
	default:
		log.Warn("planning failed; the request will be retried", "error", err)
	}
	return err
}

func (p *Planner) handle(ctx context.Context, req Request, d Delivery, log *slog.Logger) error {
	ev, err := p.c.ParseEvent(req.Payload)
	if err != nil {
		return PermanentError("parse workflow_run payload", err)
	}
	if ev.InstallationID <= 0 {
		return permanentf("parse workflow_run payload", "no installation id")
	}
	repo := ev.Repository.FullName()
	base := facts.Data{
		DeliveryID:     req.DeliveryID,
		SourceRepo:     repo,
		SourceWorkflow: dispatching.WorkflowBase(ev.Run.Path),
		SourceRunID:    ev.Run.ID,
		RunAttempt:     ev.Run.RunAttempt,
	}
	at := req.ReceivedAt
	if at.IsZero() {
		at = p.c.Now()
	}

	stored, err := p.c.Lineage.ChainOf(ctx, repo, ev.Run.ID)
	if err != nil {
		return fmt.Errorf("read lineage of %s run %d: %w", repo, ev.Run.ID, err)
	}
	lookup := p.c.GitHub.Configs(ev.InstallationID)
	src := lookup.Lookup(ctx, repo)
	if src.Status == plan.ConfigUnreadable && !d.Final() {
		// Most likely GitHub is unavailable: retry rather than record a
		// final "no plan" for the delivery.
		return fmt.Errorf("read dispatching.yml of %s: %s", repo, src.Problem)
	}
	pl := p.c.Build(ctx, plan.Input{
		Event:   ev,
		Source:  src,
		Targets: lookup,
		Policy:  p.c.Policy,
		Chain:   stored,
	})
	if pl.Source.Repository == "" {
		pl.Source = plan.SourceOf(ev)
	}
	chain := stored
	if len(chain) == 0 {
		chain = []plan.ChainLink{{Repository: repo, Workflow: base.SourceWorkflow}}
	}

	// Facts of the plan. request.accepted is re-published (same id as the
	// one ingress published) so that a publish failure at ingress only
	// delays it.
	dispatches, denied := 0, 0
	for _, t := range pl.Targets {
		if t.Decision == plan.DecisionDispatch {
			dispatches++
		} else {
			denied++
		}
	}
	candidates := len(pl.Targets)
	eligible := pl.Eligible
	created := base
	created.Eligible, created.Candidates, created.Allowed, created.Denied = &eligible, &candidates, &dispatches, &denied
	created.Reason, created.Detail = pl.Reason, pl.Detail
	evs := []facts.Event{
		facts.New(facts.TypeRequestAccepted, at, base),
		facts.New(facts.TypePlanCreated, p.c.Now(), created),
	}
	for _, t := range pl.Targets {
		if t.Decision == plan.DecisionDispatch {
			continue
		}
		d := base
		d.TargetRepo, d.TargetWorkflow, d.Ref = t.Repository, t.Workflow, t.Ref
		d.Reason, d.Detail = t.Reason, t.Detail
		evs = append(evs, facts.New(facts.TypeTargetDenied, p.c.Now(), d))
	}
	if err := p.c.Facts.Publish(ctx, evs...); err != nil {
		return fmt.Errorf("publish plan facts: %w", err)
	}
	log.Info("plan created", "source_repo", repo, "source_workflow", base.SourceWorkflow,
		"run_id", ev.Run.ID, "eligible", pl.Eligible, "reason", pl.Reason,
		"candidates", candidates, "allowed", dispatches, "denied", denied)

	var report *Report
	if p.c.CreateIssues && pl.Eligible && candidates > 0 {
		info := IssueSource{
			Repository:     repo,
			InstallationID: ev.InstallationID,
			DeliveryID:     req.DeliveryID,
			Workflow:       base.SourceWorkflow,
			WorkflowPath:   ev.Run.Path,
			RunID:          ev.Run.ID,
			RunURL:         ev.Run.HTMLURL,
		}
		if dispatches == 0 {
			// Every target was denied: every outcome is known now.
			var outs []Outcome
			for i, t := range pl.Targets {
				outs = append(outs, deniedOutcome(i, t))
			}
			p.rep.createIssue(ctx, info, outs, log)
		} else {
			// Store the denials before any work item exists, so that the
			// dispatcher that stores the last outcome sees them all.
			for i, t := range pl.Targets {
				if t.Decision == plan.DecisionDispatch {
					continue
				}
				if _, err := p.c.Outcomes.Put(ctx, req.DeliveryID, deniedOutcome(i, t)); err != nil {
					return fmt.Errorf("store outcome of %s %s: %w", t.Repository, t.Workflow, err)
				}
			}
			report = &Report{Targets: candidates, WorkflowPath: ev.Run.Path, RunURL: ev.Run.HTMLURL}
		}
	}

	for i, t := range pl.Targets {
		if t.Decision != plan.DecisionDispatch {
			continue
		}
		item := WorkItem{
			DeliveryID:     req.DeliveryID,
			InstallationID: ev.InstallationID,
			ReceivedAt:     req.ReceivedAt,
			Source:         pl.Source,
			Target:         t,
			Chain:          chain,
		}
		if report != nil {
			r := *report
			r.Index = i
			item.Report = &r
		}
		msg, err := json.Marshal(item)
		if err != nil {
			return fmt.Errorf("encode work item: %w", err)
		}
		key := item.Key()
		if err := p.c.Targets.Enqueue(ctx, key, msg); err != nil {
			return fmt.Errorf("enqueue %s %s: %w", t.Repository, t.Workflow, err)
		}
		d := item.sourceData()
		if err := p.c.Facts.Publish(ctx, facts.New(facts.TypeTargetQueued, p.c.Now(), d)); err != nil {
			return fmt.Errorf("publish target queued fact: %w", err)
		}
		log.Info("target queued", "target_repo", t.Repository, "target_workflow", t.Workflow, "ref", t.Ref, "key", key)
	}
	return nil
}

func deniedOutcome(i int, t plan.Target) Outcome {
	return Outcome{Index: i, Repository: t.Repository, Workflow: t.Workflow,
		Status: OutcomeDenied, Reason: t.Reason, Detail: t.Detail}
}
