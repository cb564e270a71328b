package dispatching

import (
	"cmp"
	"slices"
)

// Rule ids of the diagnostics Parse and Lint produce. They are stable:
// users filter on them and docs/validate.md documents each one.
const (
	// Errors from Parse: the file is not a valid dispatching.yml.
	RuleFileTooLarge      = "file-too-large"
	RuleSyntax            = "syntax"
	RuleMultipleDocuments = "multiple-documents"
	RuleDuplicateKey      = "duplicate-key"
	RuleAliasLimit        = "alias-limit"
	RuleUnsupportedYAML   = "unsupported-yaml"
	RuleEmptyDocument     = "empty-document"
	RuleUnknownKey        = "unknown-key"
	RuleRequiredKey       = "required-key"
	RuleType              = "type"
	RuleEmptyValue        = "empty-value"
	RuleRepositoryFormat  = "repository-format"
	RuleWorkflowFormat    = "workflow-format"
	RuleVersion           = "version"
	RuleSchema            = "schema"

	// Warnings from Lint: the file is valid but will not do what it says.
	RuleSelfDispatch             = "self-dispatch"
	RuleDuplicateTarget          = "duplicate-target"
	RuleUnknownTemplateVariable  = "unknown-template-variable"
	RuleInputValueTooLong        = "input-value-too-long"
	RuleInputControlCharacter    = "input-control-character"
	RuleTooManyInputs            = "too-many-inputs"
	RuleDuplicateAcceptInput     = "duplicate-accept-input"
	RuleDuplicateInboundWorkflow = "duplicate-inbound-workflow"
	RuleWorkflowNotAFile         = "workflow-not-a-file"
	RuleSuspiciousName           = "suspicious-name"

	// Warnings about files rather than content, produced by callers that
	// look files up (dispatcher validate).
	RuleEmptyFile    = "empty-file"
	RuleShadowedFile = "shadowed-file"

	// Warnings from the cross-repository checks of dispatcher validate
	// --world, which read every repository of a folder.
	RuleUnauthorizedTarget    = "unauthorized-target"
	RuleUnusedInboundRule     = "unused-inbound-rule"
	RuleUnknownTargetWorkflow = "unknown-target-workflow"
	RuleTargetNotDispatchable = "target-not-dispatchable"
	RuleUndeclaredInput       = "undeclared-input"
	RuleMissingRequiredInput  = "missing-required-input"
	RuleDispatchCycle         = "dispatch-cycle"
)

// RuleInfo describes one rule id for documentation and SARIF output.
type RuleInfo struct {
	ID       string
	Severity Severity
	// Summary is one sentence saying what the rule finds.
	Summary string
}

var rules = []RuleInfo{
	{RuleFileTooLarge, SeverityError, "The file is larger than 64 KiB and is rejected before parsing."},
	{RuleSyntax, SeverityError, "The file is not valid YAML (this includes tab indentation and aliases to unknown anchors)."},
	{RuleMultipleDocuments, SeverityError, "The file holds more than one YAML document (a second ---)."},
	{RuleDuplicateKey, SeverityError, "A mapping has the same key twice; map keys must be unique at every depth."},
	{RuleAliasLimit, SeverityError, "YAML aliases expand to too many nodes (a \"billion laughs\" file)."},
	{RuleUnsupportedYAML, SeverityError, "A YAML feature dispatching.yml does not allow: custom or non-scalar tags, or a mapping or sequence used as a key."},
	{RuleEmptyDocument, SeverityError, "The file has no content besides whitespace or comments; the top level must be a mapping."},
	{RuleUnknownKey, SeverityError, "A key that the format does not define, including the YAML merge key <<."},
	{RuleRequiredKey, SeverityError, "A required key is missing."},
	{RuleType, SeverityError, "A value has the wrong type, e.g. a number or boolean where a string is required, or null where a list is required."},
	{RuleEmptyValue, SeverityError, "A string that must not be empty is empty, or a list that needs at least one entry has none."},
	{RuleRepositoryFormat, SeverityError, "A repository is not NAME or OWNER/NAME as GitHub allows them: an owner of 1-39 letters, digits and hyphens, a name of 1-100 letters, digits, '.', '-' and '_' other than . and .. (so acme/a b, ../x, acme/x?y and a 120-character name are errors)."},
	{RuleWorkflowFormat, SeverityError, "A workflow can never name a workflow file: it has a control character, or its file name is . or .. (as in ../)."},
	{RuleVersion, SeverityError, "The top-level version is not 1."},
	{RuleSchema, SeverityError, "Any other JSON Schema violation."},
	{RuleSelfDispatch, SeverityWarning, "A target is the rule's own source workflow in this repository; the dispatch would be blocked (self_dispatch_blocked)."},
	{RuleDuplicateTarget, SeverityWarning, "The same target repository and workflow is listed twice for one source workflow; the second is denied (duplicate_target)."},
	{RuleUnknownTemplateVariable, SeverityWarning, "An input value uses a {{ token }} that is not one of the six template variables; the target would be denied (inputs_template_error)."},
	{RuleInputValueTooLong, SeverityWarning, "The literal text of an input value is longer than 1024 UTF-16 code units; the target would be denied (inputs_template_error)."},
	{RuleInputControlCharacter, SeverityWarning, "The literal text of an input value holds a control character (U+0000-U+001F or U+007F, tab and line breaks included); the target would be denied (inputs_template_error)."},
	{RuleTooManyInputs, SeverityWarning, "A target sends more than 25 inputs, GitHub's limit for workflow_dispatch (too_many_inputs)."},
	{RuleDuplicateAcceptInput, SeverityWarning, "An accept_inputs list names the same input twice."},
	{RuleDuplicateInboundWorkflow, SeverityWarning, "An inbound rule lists the same target workflow twice; only the first entry is ever used."},
	{RuleWorkflowNotAFile, SeverityWarning, "A workflow is not a file name ending in .yml or .yaml: GitHub's dispatch API needs the file name (or, for an outbound target, the numeric workflow id), and runs are matched by their workflow's file name."},
	{RuleSuspiciousName, SeverityWarning, "A repository or workflow GitHub accepts but that is probably a mistake: an owner starting or ending with a hyphen or with two in a row, a workflow path outside .github/workflows/ (a/b.yml, ../x.yml), or a workflow file name with spaces or characters other than letters, digits, '.', '-' and '_'."},
	{RuleEmptyFile, SeverityWarning, "The file is empty; the service treats it as missing, and an empty root file hides .github/dispatching.yml."},
	{RuleShadowedFile, SeverityWarning, ".github/dispatching.yml exists next to a root dispatching.yml; the service only reads the root file."},
	{RuleUnauthorizedTarget, SeverityWarning, "With --world: the target repository's dispatching.yml would not let this outbound target in (missing_target_config, invalid_target_config, inbound_not_authorized or inputs_not_accepted)."},
	{RuleUnusedInboundRule, SeverityWarning, "With --world: no outbound rule of the inbound rule's source repository dispatches the workflows it opens."},
	{RuleUnknownTargetWorkflow, SeverityWarning, "With --world: the target workflow file is not in the target repository's .github/workflows folder."},
	{RuleTargetNotDispatchable, SeverityWarning, "With --world: the target workflow does not declare on: workflow_dispatch (or cannot be read), so GitHub rejects the dispatch."},
	{RuleUndeclaredInput, SeverityWarning, "With --world: an input is sent that the target workflow does not declare under on.workflow_dispatch.inputs; GitHub rejects the dispatch."},
	{RuleMissingRequiredInput, SeverityWarning, "With --world: the target workflow requires an input (required: true, no default) that the outbound target does not send."},
	{RuleDispatchCycle, SeverityWarning, "With --world: authorised dispatches form a loop; the service stops it with dispatch_cycle. Reported once per cycle, at the outbound target that closes it."},
}

// Rules returns every rule id with its severity and summary, sorted by id.
func Rules() []RuleInfo {
	out := slices.Clone(rules)
	slices.SortFunc(out, func(a, b RuleInfo) int { return cmp.Compare(a.ID, b.ID) })
	return out
}
