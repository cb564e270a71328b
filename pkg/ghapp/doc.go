// Package ghapp is dispatcher's GitHub adapter: GitHub App authentication
// (app JWT and installation tokens), the installation of every repository
// it touches, cached dispatching.yml reads revalidated with ETags, workflow
// runs, workflow_dispatch with run details and a careful retry policy, and
// issue creation.
//
// A *Client satisfies pipeline.GitHub and pipeline.IssueCreator. It is safe
// for concurrent use. It keeps no global state: the clock, the sleeper and
// the random source are options, so tests can assert every wait.
//
// # Installations
//
// Every call resolves the installation of the repository it touches with
// GET /repos/{owner}/{repo}/installation (app JWT), cached for
// WithInstallationTTL. The installation id passed by the caller (the
// source's) is only a fallback when that lookup fails transiently; a 404
// means the App is not installed on the repository (or the repository does
// not exist) and is reported as ErrNoInstallation, because no other
// installation could reach it either. One ghinstallation transport is kept
// per installation, so its token is minted once and refreshed a minute
// before it expires.
//
// # Retries
//
// 429, 5xx (except 501), network errors, primary rate limits (403/429 with
// x-ratelimit-remaining: 0) and secondary rate limits (403/429 whose message
// or documentation URL names them, or carrying Retry-After) are retried, up
// to WithMaxRetries retries (total calls ≤ retries+1). The wait before retry
// n is Retry-After when present, else the time until x-ratelimit-reset when
// the remaining budget is 0, else full jitter over min(cap, base·2^(n-1)),
// raised to at least a minute for a secondary limit without headers (as
// GitHub asks). When the wait needed is longer than WithMaxWait, or longer
// than the context's deadline allows, the call stops and returns a
// transient *Error whose RetryAfter() says when to come back, so a queue can
// redeliver later instead of a Lambda sleeping for minutes. 404, 422 and
// other 4xx are permanent and keep GitHub's message. A 401 drops the cached
// installation token and retries once.
//
// # Never dispatching twice, never guessing a run
//
// A workflow_dispatch POST has no idempotency key. It is retried only when
// the failure proves GitHub did not act on it: a status answer that GitHub
// documents as a rejection (429, 5xx after which no run appeared, rate
// limits), or a transport error that happened before the request was
// written (dial, TLS, token minting). When the connection fails after the
// request was written, or a run appeared after a 5xx, the outcome is
// ambiguous: the client returns an *Error for which Ambiguous() is true
// (with the runs it saw as Candidates), without retrying. The caller must
// keep its idempotency claim "in progress" for such an error and resolve
// it with FindDispatchedRuns, which returns every candidate run and never
// picks one. The only run id Dispatch reports is the one GitHub returned
// for the POST (return_run_details).
//
// # Config reads
//
// One read is in flight per repository (singleflight); ReadConfigs reads a
// delivery's source and target configs in one parallel round trip when the
// source is cached; results are revalidated with ETags or, within
// WithConfigCacheTTL, used without a request; EvictConfig forgets a
// repository at once. A transient failure is plan.ConfigUnavailable (retry
// the step), never a decision.
//
// # Pacing
//
// Content-creating requests (dispatches, issues) of one installation are
// sent one at a time and, with WithWritesPerMinute, at most that many in
// any minute (RatePacer); a burst waits its turn, or fails as a transient
// ErrPaced with RetryAfter when the wait is too long for the caller.
//
// # GitHub Enterprise Server
//
// WithBaseURL points every call (tokens included) at GHES, e.g.
// https://ghe.example.com/api/v3/. Servers that reject the
// return_run_details field (400/422 naming it) get the same POST again
// without it, once, and the client remembers that for the host; such
// dispatches succeed with RunID 0.
package ghapp
