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
// Every request is checked against the operations of GitHub's OpenAPI
// description that dispatcher uses (testdata/openapi-operations.json,
// generated from @octokit/openapi): an unknown method/path, an undocumented
// query parameter or a JSON body that does not fit the request schema is a
// violation, answered 400 and reported to the test (WithT).
//
// A Server is safe for concurrent use.
package ghfake
