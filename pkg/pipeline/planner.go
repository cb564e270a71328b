package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/dispatcher-dev/dispatcher/pkg/dispatching"
	"github.com/dispatcher-dev/dispatcher/pkg/facts"
	"github.com/dispatcher-dev/dispatcher/pkg/plan"
)

// PlannerConfig configures a Planner.
type PlannerConfig struct {
	// Apply makes a step's effects durable (HandleRequest only; the
	// embedded runtime applies Plan's effects itself with the ack).
	Apply   Applier
	Lineage Lineage // required (ChainOf only)
	GitHub  GitHub  // required (Configs only)
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
	if c.Apply == nil || c.Lineage == nil || c.GitHub == nil {
		return nil, errors.New("planner: applier, lineage and GitHub are required")
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

// HandleRequest plans one message of the requests queue and applies the
// step's effects through the configured Applier (the AWS runtime; the
// embedded runtime calls Plan and applies the effects with the ack). It
// returns the step's error: nil (acknowledge), permanent (dead-letter) or
// transient (retry); a failure to apply the effects is transient.
func (p *Planner) HandleRequest(ctx context.Context, body []byte, d Delivery) error {
	step := p.Plan(ctx, body, d)
	if !step.Empty() {
		if err := p.c.Apply.Apply(ctx, step.Effects); err != nil {
			return fmt.Errorf("apply plan effects: %w", err)
		}
	}
	return step.Err
}

// Plan plans one message of the requests queue and returns its effects:
// the facts of the plan (request.accepted again, plan.created, one
// target.denied per denial, one target.queued per authorised target), one
// WorkItem per authorised target (dedup id WorkItem.Key) and, with result
// issues on, the denials as outcomes. It is idempotent: the same message
// planned again gives the same dedup ids and fact ids, so nothing counts or
// dispatches twice.
//
// A body that cannot be decoded or a payload that is not a workflow_run
// event gives a permanent error (IsPermanent): the queue dead-letters it at
// once. Every other error is transient and the message should be retried.
// When the source's dispatching.yml cannot be read (GitHub unavailable),
// the step fails (retry), except on the final receive (d.Final()), where
// the plan is recorded with reason source_config_unreadable instead.
func (p *Planner) Plan(ctx context.Context, body []byte, d Delivery) Step {
	req, ev, err := p.decode(body)
	if err != nil {
		p.c.Logger.Error("request dropped: cannot be planned", "stage", "planner", "error", err)
		return Step{Err: err}
	}
	log := p.c.Logger.With("correlation_id", req.DeliveryID, "stage", "planner")
	step, err := p.plan(ctx, req, ev, d, log)
	switch {
	case err == nil:
	case IsPermanent(err):
		log.Error("request dropped: cannot be planned", "error", err)
	default:
		log.Warn("planning failed; the request will be retried", "error", err)
	}
	step.Err = err
	return step
}

// decode reads a Request and its event: the decoded Run, or (messages
// written by older versions) the trimmed payload parsed now.
func (p *Planner) decode(body []byte) (Request, plan.Event, error) {
	var req Request
	if err := json.Unmarshal(body, &req); err != nil {
		return req, plan.Event{}, PermanentError("decode request", err)
	}
	if req.DeliveryID == "" {
		return req, plan.Event{}, permanentf("decode request", "no delivery_id")
	}
	var ev plan.Event
	switch {
	case req.Run != nil:
		ev = *req.Run
	case len(req.Payload) > 0:
		var err error
		if ev, err = p.c.ParseEvent(req.Payload); err != nil {
			return req, ev, PermanentError("parse workflow_run payload", err)
		}
	default:
		return req, ev, permanentf("decode request", "no run and no payload")
	}
	if ev.InstallationID <= 0 {
		return req, ev, permanentf("parse workflow_run payload", "no installation id")
	}
	if ev.Run.ID <= 0 || ev.Repository.Owner == "" || ev.Repository.Name == "" {
		return req, ev, permanentf("parse workflow_run payload", "no run id or repository")
	}
	return req, ev, nil
}

func (p *Planner) plan(ctx context.Context, req Request, ev plan.Event, d Delivery, log *slog.Logger) (Step, error) {
	repo := ev.Repository.FullName()
	base := facts.Data{
		DeliveryID:     req.DeliveryID,
		SourceRepo:     repo,
		SourceWorkflow: dispatching.WorkflowBase(ev.Run.Path),
		SourceRunID:    ev.Run.ID,
		RunAttempt:     ev.Run.RunAttempt,
	}
	stored, err := p.c.Lineage.ChainOf(ctx, repo, ev.Run.ID)
	if err != nil {
		return Step{}, fmt.Errorf("read lineage of %s run %d: %w", repo, ev.Run.ID, err)
	}
	pl, err := p.build(ctx, ev, stored, d)
	if err != nil {
		return Step{}, err
	}
	var step Step
	p.planFacts(&step, req, base, pl, log)
	report := p.report(ctx, &step, req, ev, pl, log)
	if err := p.workItems(&step, req, ev, pl, stored, report, log); err != nil {
		return Step{}, err
	}
	return step, nil
}

// build runs the source guardrails (no GitHub call for an ineligible
// source), reads the source's and its targets' dispatching.yml in one round
// trip (GitHub.ReadConfigs) and runs the engine. A transient read failure
// (GitHub unavailable after the client's retries) fails the step, so the
// request is retried and, after QUEUE_MAX_RECEIVES, dead-lettered for
// replay-dlq: it never becomes a denial. Only a permanent answer (no file,
// an invalid file, a repository the App cannot see) is a decision.
func (p *Planner) build(ctx context.Context, ev plan.Event, stored []plan.ChainLink, _ Delivery) (plan.Plan, error) {
	in := plan.Input{Event: ev, Policy: p.c.Policy, Chain: stored}
	if reason, _ := plan.CheckSource(ev, p.c.Policy); reason == "" {
		repo := ev.Repository.FullName()
		src, targets, err := p.c.GitHub.ReadConfigs(ctx, ev.InstallationID, repo, func(r plan.ConfigResult) []string {
			return targetRepos(r, ev)
		})
		if err != nil {
			return plan.Plan{}, fmt.Errorf("read dispatching.yml files: %w", err)
		}
		rec := &unavailable{ConfigLookup: targets}
		in.Source, in.Targets = src, rec
		pl := p.c.Build(ctx, in)
		if err := rec.err(); err != nil {
			return plan.Plan{}, err
		}
		return withSource(pl, ev), nil
	}
	return withSource(p.c.Build(ctx, in), ev), nil
}

func withSource(pl plan.Plan, ev plan.Event) plan.Plan {
	if pl.Source.Repository == "" {
		pl.Source = plan.SourceOf(ev)
	}
	return pl
}

// targetRepos are the repositories the outbound rules of a found source
// config name for this run (no I/O).
func targetRepos(r plan.ConfigResult, ev plan.Event) []string {
	if r.Status != plan.ConfigFound || r.Config == nil {
		return nil
	}
	var out []string
	for _, c := range plan.MatchOutbound(r.Config, ev.Repository.Owner, ev.Run.Path) {
		repo := c.Repository()
		if !slices.ContainsFunc(out, func(s string) bool { return strings.EqualFold(s, repo) }) {
			out = append(out, repo)
		}
	}
	return out
}

// unavailable records the lookups that answered plan.ConfigUnavailable
// while the engine ran.
type unavailable struct {
	plan.ConfigLookup
	mu    sync.Mutex
	repos []string
}

func (u *unavailable) Lookup(ctx context.Context, repository string) plan.ConfigResult {
	r := u.ConfigLookup.Lookup(ctx, repository)
	if r.Status == plan.ConfigUnavailable {
		u.mu.Lock()
		u.repos = append(u.repos, repository+": "+r.Problem)
		u.mu.Unlock()
	}
	return r
}

func (u *unavailable) err() error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.repos) == 0 {
		return nil
	}
	return fmt.Errorf("dispatching.yml unavailable (GitHub did not answer; will retry): %s", strings.Join(u.repos, "; "))
}

// planFacts adds the facts of the plan: request.accepted again (same id as
// the one ingress recorded, so a lost ingress fact is only late),
// plan.created, and one target.denied per denial (each also logged with its
// reason).
func (p *Planner) planFacts(step *Step, req Request, base facts.Data, pl plan.Plan, log *slog.Logger) {
	at := req.ReceivedAt
	if at.IsZero() {
		at = p.c.Now()
	}
	dispatches, denied := countDecisions(pl)
	candidates := len(pl.Targets)
	eligible := pl.Eligible
	created := base
	created.Eligible, created.Candidates, created.Allowed, created.Denied = &eligible, &candidates, &dispatches, &denied
	created.Reason, created.Detail = pl.Reason, pl.Detail
	now := p.c.Now()
	step.Facts = append(step.Facts,
		facts.New(facts.TypeRequestAccepted, at, base),
		facts.New(facts.TypePlanCreated, now, created))
	log.Info("plan created", "source_repo", base.SourceRepo, "source_workflow", base.SourceWorkflow,
		"run_id", base.SourceRunID, "eligible", pl.Eligible, "reason", pl.Reason,
		"candidates", candidates, "allowed", dispatches, "denied", denied)
	for _, t := range pl.Targets {
		if t.Decision == plan.DecisionDispatch {
			continue
		}
		d := base
		d.TargetRepo, d.TargetWorkflow, d.Ref = t.Repository, t.Workflow, t.Ref
		d.Reason, d.Detail = t.Reason, t.Detail
		step.Facts = append(step.Facts, facts.New(facts.TypeTargetDenied, now, d))
		log.Info("target denied", "target_repo", t.Repository, "target_workflow", t.Workflow, "reason", t.Reason, "detail", t.Detail)
	}
}

func countDecisions(pl plan.Plan) (dispatches, denied int) {
	for _, t := range pl.Targets {
		if t.Decision == plan.DecisionDispatch {
			dispatches++
		} else {
			denied++
		}
	}
	return dispatches, denied
}

// report handles result issues (CREATE_ISSUES): when every target was
// denied the issue is written now; otherwise the denials become outcomes of
// the step (stored with the work items, so the dispatcher that stores the
// last outcome sees them all) and the returned Report goes on each work
// item. It returns nil when no issue is wanted.
func (p *Planner) report(ctx context.Context, step *Step, req Request, ev plan.Event, pl plan.Plan, log *slog.Logger) *Report {
	dispatches, _ := countDecisions(pl)
	if !p.c.CreateIssues || !pl.Eligible || len(pl.Targets) == 0 {
		return nil
	}
	if dispatches == 0 {
		outs := make([]Outcome, 0, len(pl.Targets))
		for i, t := range pl.Targets {
			outs = append(outs, deniedOutcome(i, t))
		}
		p.rep.createIssue(ctx, IssueSource{
			Repository:     ev.Repository.FullName(),
			InstallationID: ev.InstallationID,
			DeliveryID:     req.DeliveryID,
			Workflow:       dispatching.WorkflowBase(ev.Run.Path),
			WorkflowPath:   ev.Run.Path,
			RunID:          ev.Run.ID,
			RunURL:         ev.Run.HTMLURL,
		}, outs, log)
		return nil
	}
	for i, t := range pl.Targets {
		if t.Decision != plan.DecisionDispatch {
			step.Outcomes = append(step.Outcomes, DeliveryOutcome{DeliveryID: req.DeliveryID, Outcome: deniedOutcome(i, t)})
		}
	}
	return &Report{Targets: len(pl.Targets), WorkflowPath: ev.Run.Path, RunURL: ev.Run.HTMLURL}
}

// workItems adds one WorkItem (dedup id = its key) and one target.queued
// fact per authorised target.
func (p *Planner) workItems(step *Step, req Request, ev plan.Event, pl plan.Plan, stored []plan.ChainLink, report *Report, log *slog.Logger) error {
	chain := stored
	if len(chain) == 0 {
		chain = []plan.ChainLink{{Repository: ev.Repository.FullName(), Workflow: dispatching.WorkflowBase(ev.Run.Path)}}
	}
	now := p.c.Now()
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
		step.Enqueue = append(step.Enqueue, Outgoing{Queue: QueueTargets, DedupID: key, Body: msg})
		step.Facts = append(step.Facts, facts.New(facts.TypeTargetQueued, now, item.sourceData()))
		log.Info("target queued", "target_repo", t.Repository, "target_workflow", t.Workflow, "ref", t.Ref, "key", key)
	}
	return nil
}

func deniedOutcome(i int, t plan.Target) Outcome {
	return Outcome{Index: i, Repository: t.Repository, Workflow: t.Workflow,
		Status: OutcomeDenied, Reason: t.Reason, Detail: t.Detail}
}
