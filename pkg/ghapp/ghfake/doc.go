// Package ghfake is a fake GitHub REST API for tests, served by
// net/http/httptest: one GitHub App with installations (app JWTs are
// verified with RS256 against the App's public key, installation tokens
// are minted and checked on every request), repositories with files and
// default branches, the contents API with ETags and 304s, workflow runs,
// workflow_dispatch (with or without run details, and a knob that behaves
// like an older GitHub Enterprise Server refusing return_run_details),
// issues, rate-limit headers on every answer and injected faults (status
// codes, latency, Retry-After, primary and secondary rate limits,
// connection resets before or after the request is applied).
//
// Like GitHub, a dispatch of a workflow without the workflow_dispatch
// trigger, with inputs the workflow does not declare or without a required
// one is answered 422 with GitHub's message (WithoutWorkflowCheck turns
// that off). For load and fault tests: StartStorm fails a seeded fraction
// of the requests (500, 502, 429 or a secondary-limit 403 with Retry-After,
// or a connection reset, always before any effect) until StopStorm;
// SetLatency delays every answer; SetListingDelay lists dispatched runs
// late; Gate holds requests until several arrived (to prove they were sent
// in parallel without timing); Counters counts requests by operation,
// rate-limited answers, 304s and storm failures.
//
// Every request is checked against the operations of GitHub's OpenAPI
// description that dispatcher uses (testdata/openapi-operations.json,
// generated from @octokit/openapi): an unknown method/path, an undocumented
// query parameter or a JSON body that does not fit the request schema is a
// violation, answered 400 and reported to the test (WithT). The fake's own
// 2xx answers are checked too: an undocumented status code, or a body that
// does not fit the documented response's shape (types and enums a few
// levels deep, the required fields of small answers), is a violation.
//
// A Server is safe for concurrent use.
package ghfake
