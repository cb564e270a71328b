// Package httpapi is the HTTP surface of dispatcher: POST /webhooks/github
// (rate limit per client IP, body cap, header checks, then the
// pipeline.Ingress checks), GET /health and GET /version. Every answer is
// JSON. The same Server serves "dispatcher serve" and, behind a thin
// adapter, the AWS Lambda ingress; more routes (admin) are mounted with
// Server.Handle.
//
// Status codes of the webhook, in the order the checks run:
//
//	429 rate limit per client IP exceeded (Retry-After, X-RateLimit-*)
//	405 method other than POST
//	413 body larger than MaxBodyBytes (25 MiB, GitHub's own cap)
//	400 X-GitHub-Delivery, X-GitHub-Event or X-Hub-Signature-256 absent, or empty body
//	401 signature does not verify (an empty signature included)
//	415 content type is not application/json
//	400 body is not a JSON object
//	202 {"accepted":true,"ignored":true} for events other than a completed workflow_run
//	400 a required workflow_run field is missing ("detail" names it)
//	409 the delivery id was already enqueued inside the replay window
//	503 the replay guard or the requests queue failed (the delivery is not recorded; redeliver it)
//	202 {"accepted":true}
package httpapi
