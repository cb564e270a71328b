package plan

import (
	"context"

	"github.com/dispatcher-dev/dispatcher/pkg/dispatching"
)

// Reason codes. The original service's codes are kept exactly; users grep
// logs for them.
const (
	// Source level.
	ReasonSourceNotDefaultBranch           = "source_not_default_branch"
	ReasonSourceConclusionNotAllowed       = "source_conclusion_not_allowed"
	ReasonSourceRepoNotAllowlisted         = "source_repo_not_allowlisted"
	ReasonSourceWorkflowNotAllowlisted     = "source_workflow_not_allowlisted"
	ReasonSourceHeadRepositoryUnverifiable = "source_head_repository_unverifiable"
	ReasonSourceFromFork                   = "source_from_fork"
	ReasonSourceConfigMissing              = "source_config_missing"
	ReasonSourceConfigInvalid              = "source_config_invalid"
	// ReasonSourceConfigUnreadable: reading the source's dispatching.yml
	// failed with something other than "not found" (the caller may retry).
	ReasonSourceConfigUnreadable = "source_config_unreadable"
	ReasonNoMatchingRule         = "no_matching_rule"

	// Target level.
	ReasonAuthorized               = "authorized"
	ReasonInputsTemplateError      = "inputs_template_error"
	ReasonTargetRepoNotAllowlisted = "target_repo_not_allowlisted"
	ReasonDuplicateTarget          = "duplicate_target"
	ReasonSelfDispatchBlocked      = "self_dispatch_blocked"
	ReasonMaxTargetsExceeded       = "max_targets_exceeded"
	ReasonMissingTargetConfig      = "missing_target_config"
	ReasonInvalidTargetConfig      = "invalid_target_config"
	ReasonTargetConfigUnreadable   = "target_config_unreadable"
	ReasonInboundNotAuthorized     = "inbound_not_authorized"
	ReasonInputsNotAccepted        = "inputs_not_accepted"
	ReasonDispatchCycle            = "dispatch_cycle"
	ReasonChainDepthExceeded       = "chain_depth_exceeded"
	ReasonTooManyInputs            = "too_many_inputs"
	ReasonInputsTooLarge           = "inputs_too_large"
)

// Decisions of a Target.
const (
	DecisionDispatch = "dispatch"
	DecisionDeny     = "deny"
)

// Event is the part of a workflow_run webhook payload the engine reads.
// ParseEvent builds it from the JSON GitHub sends.
type Event struct {
	Action         string     `json:"action,omitempty"`
	InstallationID int64      `json:"installation_id"`
	Repository     Repository `json:"repository"`
	Run            Run        `json:"run"`
}

// Repository is the source repository of the event.
type Repository struct {
	Owner         string `json:"owner"`                    // repository.owner.login, case as sent
	Name          string `json:"name"`                     // repository.name
	DefaultBranch string `json:"default_branch,omitempty"` // repository.default_branch ("" when absent)
}

// FullName is "owner/name", case as sent.
func (r Repository) FullName() string { return r.Owner + "/" + r.Name }

// Run is the completed workflow run.
type Run struct {
	ID         int64  `json:"id"`
	RunAttempt int    `json:"run_attempt"`
	Name       string `json:"name,omitempty"` // display name; never used for matching
	Path       string `json:"path"`           // workflow file path, e.g. ".github/workflows/ci.yml"
	// HeadBranch is nil when the payload had null or no head_branch; an
	// empty string is kept as is (it is used as the ref, like the original).
	HeadBranch *string `json:"head_branch"`
	HeadSHA    string  `json:"head_sha,omitempty"`
	HTMLURL    string  `json:"html_url,omitempty"`
	Conclusion string  `json:"conclusion,omitempty"` // "" when null
	// HeadRepositoryFullName is workflow_run.head_repository.full_name, ""
	// when absent.
	HeadRepositoryFullName string `json:"head_repository_full_name,omitempty"`
}

// Policy is the operator's guardrails (from the environment; see
// pkg/settings).
type Policy struct {
	EnforceSourceDefaultBranch bool
	AllowedSourceConclusions   Allowlist
	SourceRepoAllowlist        Allowlist
	SourceWorkflowAllowlist    Allowlist
	TargetRepoAllowlist        Allowlist
	// MaxTargetsPerRun caps the targets that pass the target guardrails
	// for one source run; 0 or less means DefaultMaxTargetsPerRun.
	MaxTargetsPerRun int
	// DefaultDispatchRef is the ref used when the target has no ref and the
	// run's head_branch is null; "" means DefaultRef ("main").
	DefaultDispatchRef string
	// MaxChainDepth is the longest chain of dispatches allowed (a run
	// started by a dispatch that was itself started by a dispatch is depth 2).
	// 0 or less means DefaultMaxChainDepth.
	MaxChainDepth int
}

// Policy defaults (the environment's defaults; see pkg/settings).
const (
	DefaultMaxTargetsPerRun = 25
	DefaultMaxChainDepth    = 5
	DefaultRef              = "main"
)

// GitHub's workflow_dispatch limits on the inputs of one dispatch.
const (
	// MaxInputs is the most inputs one dispatch may send.
	MaxInputs = 25
	// MaxInputsSize is the most characters (UTF-16 code units, keys plus
	// values) the inputs of one dispatch may hold in total.
	MaxInputsSize = 65535
)

// DefaultPolicy is the policy of an unconfigured environment: default
// branch enforced, conclusion "success" only, every repository and workflow
// allowed, 25 targets per run, ref "main", chains up to depth 5.
func DefaultPolicy() Policy {
	return Policy{
		EnforceSourceDefaultBranch: true,
		AllowedSourceConclusions:   ParseAllowlist("success"),
		MaxTargetsPerRun:           DefaultMaxTargetsPerRun,
		DefaultDispatchRef:         DefaultRef,
		MaxChainDepth:              DefaultMaxChainDepth,
	}
}

// ConfigStatus says what reading a repository's dispatching.yml gave.
type ConfigStatus int

// Config statuses.
const (
	ConfigFound      ConfigStatus = iota + 1 // parsed and valid
	ConfigMissing                            // no file (404 on both paths, or empty)
	ConfigInvalid                            // present but invalid
	ConfigUnreadable                         // a non-404 error while reading it
	// ConfigUnavailable: the read failed transiently (5xx, 429, a rate
	// limit, a network error or a timeout, after the adapter's retries),
	// so nothing is known about the file. It is not a decision: the caller
	// retries the step rather than deny (Build, given one, denies it like
	// ConfigUnreadable).
	ConfigUnavailable
)

// ConfigResult is the outcome of reading one repository's dispatching.yml.
type ConfigResult struct {
	Status ConfigStatus
	// Config is set when Status is ConfigFound.
	Config *dispatching.Config
	// Path names the file for humans, e.g. "acme/deploy/dispatching.yml"
	// or "acme/deploy/.github/dispatching.yml"; it is used in Target.Detail
	// together with rule line numbers.
	Path string
	// Problem explains ConfigInvalid (first diagnostic) or
	// ConfigUnreadable (the error); "" otherwise.
	Problem string
}

// ConfigLookup reads a target repository's dispatching.yml. repository is
// "owner/name" as written (case preserved). Implementations never fail: an
// error is a ConfigUnreadable result, which denies only that target.
type ConfigLookup interface {
	Lookup(ctx context.Context, repository string) ConfigResult
}

// ChainLink is one step of a dispatch chain: a workflow in a repository
// that was dispatched by dispatcher.
type ChainLink struct {
	Repository string `json:"repository"`
	Workflow   string `json:"workflow"`
}

// Input is everything Build needs.
type Input struct {
	Event   Event
	Source  ConfigResult
	Targets ConfigLookup
	Policy  Policy
	// Chain is the lineage of the source run: the runs (oldest first) whose
	// dispatches led to it, ending with the source run itself. Empty (or
	// nil) when the source run was not started by dispatcher.
	Chain []ChainLink
}

// Plan is the decision for one source run: whether the source is eligible
// and, if it is, a decision for every candidate target. Its JSON form is
// documented by schemas/plan.schema.json.
type Plan struct {
	Source   Source `json:"source"`
	Eligible bool   `json:"eligible"`
	Reason   string `json:"reason"`
	Detail   string `json:"detail,omitempty"`
	// Targets holds one entry per candidate, in candidate order (outbound
	// rules in file order, then their targets); never nil.
	Targets []Target `json:"targets"`
}

// Source describes the source run of a Plan.
type Source struct {
	Repository string `json:"repository"`
	Workflow   string `json:"workflow"`
	RunID      int64  `json:"run_id"`
	RunAttempt int    `json:"run_attempt"`
	HeadBranch string `json:"head_branch"`
	HeadSHA    string `json:"head_sha"`
	Conclusion string `json:"conclusion"`
}

// Target is one candidate and its decision.
type Target struct {
	Repository string            `json:"repository"` // "owner/name"
	Workflow   string            `json:"workflow"`   // base name, the workflow_id of the API call
	Ref        string            `json:"ref"`
	Inputs     map[string]string `json:"inputs,omitempty"`
	Decision   string            `json:"decision"`
	Reason     string            `json:"reason"`
	Detail     string            `json:"detail,omitempty"`
	// Outbound locates the outbound rule and target in the source's
	// dispatching.yml that produced this candidate.
	Outbound *RuleRef `json:"outbound,omitempty"`
	// Inbound locates the inbound rule in the target's dispatching.yml
	// that authorised the dispatch (reason "authorized") or that matched
	// but did not accept the inputs (reason "inputs_not_accepted"); nil
	// otherwise.
	Inbound *RuleRef `json:"inbound,omitempty"`
}

// RuleRef locates a rule of a dispatching.yml file.
type RuleRef struct {
	// File names the file, e.g. "acme/api/dispatching.yml".
	File string `json:"file"`
	// Rule is the 1-based index of the rule in its list (outbound or
	// inbound).
	Rule int `json:"rule"`
	// Target is the 1-based index of the target within an outbound rule;
	// 0 (omitted) for inbound rules.
	Target int `json:"target,omitempty"`
	// Line and Column are the position of the outbound target or of the
	// inbound rule; 0 (omitted) when unknown.
	Line   int `json:"line,omitempty"`
	Column int `json:"column,omitempty"`
}

// Dispatches returns the targets whose decision is DecisionDispatch.
func (p Plan) Dispatches() []Target {
	var out []Target
	for _, t := range p.Targets {
		if t.Decision == DecisionDispatch {
			out = append(out, t)
		}
	}
	return out
}
