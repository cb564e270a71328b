package dispatching

// Pos is a 1-based position in a dispatching.yml file. The zero value means
// "unknown".
type Pos struct {
	Line   int `json:"line"`
	Column int `json:"column"`
}

// Config is a valid dispatching.yml. Outbound rules say which workflows this
// repository dispatches elsewhere when one of its own runs completes; inbound
// rules say which sources may dispatch this repository's workflows.
type Config struct {
	// Version is the optional top-level "version" (only 1 is accepted); 0
	// when the key is absent.
	Version  int
	Outbound []OutboundRule
	Inbound  []InboundRule
}

// OutboundRule fires when a run of Source.Workflow completes in the
// repository that owns the file.
type OutboundRule struct {
	Pos     Pos
	Source  OutboundSource
	Targets []OutboundTarget
}

// OutboundSource names the workflow (file name or path; only the base name
// is compared) whose completed runs fire the rule.
type OutboundSource struct {
	Pos      Pos
	Workflow string
	// WorkflowPos is the position of the workflow value.
	WorkflowPos Pos
}

// OutboundTarget is one workflow to dispatch.
type OutboundTarget struct {
	Pos Pos
	// Repository is "name" (same owner as the source) or "owner/name".
	Repository string
	// Workflow is the target workflow file name or path; only the base
	// name is used.
	Workflow string
	// WorkflowPos is the position of the workflow value.
	WorkflowPos Pos
	// Ref overrides the dispatch ref; "" when absent.
	Ref string
	// Inputs are the workflow_dispatch inputs in file order, values still
	// unresolved (they may hold {{ source.* }} templates). nil when absent;
	// an empty map in the file is also nil.
	Inputs []Input
}

// Input is one key/value pair of an outbound target's inputs.
type Input struct {
	Pos   Pos // position of the key
	Key   string
	Value string
	// ValuePos is the position of the value.
	ValuePos Pos
}

// InboundRule allows runs of Source.Workflow in Source.Repository to
// dispatch the listed workflows of the repository that owns the file.
type InboundRule struct {
	Pos     Pos
	Source  InboundSource
	Targets []InboundTarget
}

// InboundSource names who may dispatch: a repository ("name" means the
// target's own owner, or "owner/name") and a workflow base name.
type InboundSource struct {
	Pos        Pos
	Repository string
	Workflow   string
	// WorkflowPos is the position of the workflow value.
	WorkflowPos Pos
}

// InboundTarget is a workflow of this repository that the rule opens, and
// the inputs it accepts.
type InboundTarget struct {
	Pos      Pos
	Workflow string
	// WorkflowPos is the position of the workflow value.
	WorkflowPos Pos
	// AcceptInputs lists the input keys accepted. nil means the key is
	// absent (no inputs accepted); a non-nil empty slice is an explicit
	// "accept_inputs: []" (also accepts nothing, but is a different state).
	AcceptInputs []string
	// AcceptInputsPos holds the position of each AcceptInputs entry.
	AcceptInputsPos []Pos
}

// Severity of a Diagnostic.
type Severity string

// Severities.
const (
	SeverityError   Severity = "error"
	SeverityWarning Severity = "warning"
)

// Diagnostic is one positioned problem in a dispatching.yml file. Rule is a
// stable kebab-case identifier (e.g. "syntax", "unknown-key",
// "self-dispatch"); Message is lower-case, quotes user values and says what
// was expected.
type Diagnostic struct {
	File     string   `json:"file"`
	Line     int      `json:"line"`
	Column   int      `json:"column"`
	Severity Severity `json:"severity"`
	Rule     string   `json:"rule"`
	Message  string   `json:"message"`
}
