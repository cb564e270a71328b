// Package pipeline holds the stages of dispatcher as plain services over
// small ports: ingress (webhook checks, enqueue), planner (decision engine,
// one work item per authorised target), dispatcher (idempotent
// workflow_dispatch), facts (append + project) and the admin queries.
//
// The same stage code runs under "dispatcher serve" (ports implemented by
// pkg/local over SQLite, pkg/ghapp over GitHub) and under AWS Lambda (ports
// implemented by pkg/awsinfra). The ports are defined here, by the package
// that uses them; adapters assert compliance at compile time.
package pipeline
