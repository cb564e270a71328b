// Package plan is the decision engine: a completed workflow_run event, the
// source repository's dispatching.yml, a way to look up each target's
// dispatching.yml, and the operator's policy go in; a Plan comes out, with a
// decision, a reason code and a human-readable detail for every candidate.
//
// It is a [core] package: no I/O at all. Target configs come through the
// small ConfigLookup interface, which the caller implements over GitHub
// (pkg/ghapp) or a folder of repositories (simulate).
package plan
