// Package pipeline holds the stages of dispatcher as plain services over
// small ports: ingress (webhook checks, enqueue), planner (decision engine,
// one work item per authorised target), dispatcher (idempotent
// workflow_dispatch), facts (append + project) and the admin queries.
//
// Handlers report what the queue should do with a message through their
// error: nil (acknowledge), a permanent error (IsPermanent: dead-letter
// now), an error with a RetryAfter, or any other error (retry with
// backoff, dead-letter after the receive limit). RunWorker applies these
// rules to a Consumer in the embedded runtime; the Lambda shim maps them to
// partial batch failures. docs/pipeline.md describes the delivery
// semantics, crash points and the webhook status table.
//
// The same stage code runs under "dispatcher serve" (ports implemented by
// pkg/local over SQLite, pkg/ghapp over GitHub) and under AWS Lambda (ports
// implemented by pkg/awsinfra). The ports are defined here, by the package
// that uses them; adapters assert compliance at compile time.
package pipeline
