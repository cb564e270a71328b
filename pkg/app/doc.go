// Package app is dispatcher's composition root: the one place that knows
// which adapters implement the pipeline's ports and wires them into the
// stages, the HTTP server and the workers.
//
// The wiring is split in two so that a second runtime can reuse it:
//
//   - Ports lists every adapter the stages need (queues, replay guard,
//     fact publisher, claims, lineage, outcomes, GitHub). BuildStages turns
//     Ports plus the settings into the stages (ingress, planner,
//     dispatcher) and the HTTP server; it knows nothing about SQLite or
//     AWS.
//   - NewLocal fills Ports from the embedded SQLite store (pkg/local) and
//     the GitHub App client (pkg/ghapp), and Local.Run serves HTTP and runs
//     the two queue workers in-process: this is "dispatcher serve".
//
// The AWS runtime (Lambda stages over SQS, EventBridge and DynamoDB) will
// be a NewAWS beside NewLocal that fills Ports from pkg/awsinfra and hands
// the stages to the Lambda shim instead of running workers; BuildStages is
// shared.
//
// Nothing here reads the environment or uses global state: settings come
// from pkg/settings, and the clock, the HTTP client and the worker timings
// are options so that tests can drive a whole process quickly.
package app
