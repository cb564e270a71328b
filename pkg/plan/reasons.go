package plan

// SourceReasons returns every source-level reason code, in the order the
// checks run.
func SourceReasons() []string {
	return []string{
		ReasonSourceNotDefaultBranch,
		ReasonSourceConclusionNotAllowed,
		ReasonSourceRepoNotAllowlisted,
		ReasonSourceWorkflowNotAllowlisted,
		ReasonSourceHeadRepositoryUnverifiable,
		ReasonSourceFromFork,
		ReasonSourceConfigMissing,
		ReasonSourceConfigInvalid,
		ReasonSourceConfigUnreadable,
		ReasonNoMatchingRule,
	}
}

// TargetReasons returns every target-level reason code, "authorized"
// first, then the denials in the order the checks run.
func TargetReasons() []string {
	return []string{
		ReasonAuthorized,
		ReasonInputsTemplateError,
		ReasonTooManyInputs,
		ReasonInputsTooLarge,
		ReasonTargetRepoNotAllowlisted,
		ReasonDuplicateTarget,
		ReasonSelfDispatchBlocked,
		ReasonDispatchCycle,
		ReasonChainDepthExceeded,
		ReasonMaxTargetsExceeded,
		ReasonMissingTargetConfig,
		ReasonInvalidTargetConfig,
		ReasonTargetConfigUnreadable,
		ReasonInboundNotAuthorized,
		ReasonInputsNotAccepted,
	}
}
