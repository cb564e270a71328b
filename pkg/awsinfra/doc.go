// Package awsinfra implements the pipeline's ports on AWS with
// aws-sdk-go-v2: SQS queues (pipeline.Enqueuer and the Lambda batch
// runner), an EventBridge fact publisher, DynamoDB adapters for the replay
// guard, dispatch claims, lineage, outcomes and the facts fold (events and
// projections tables), and a Secrets Manager secret source with a cache,
// a background refresh and both AWSCURRENT and AWSPREVIOUS values for a
// webhook-secret rotation.
//
// Names, keys, indexes and the TTL attribute of every resource follow one
// contract, Contract (resources.go), which the Terraform module declares
// too; Provision creates the same resources on an emulator.
//
// The adapters take their clients as small interfaces (the methods of the
// SDK clients they call) and their clock as a function, so that tests can
// run them against emulators (kumo, DynamoDB Local) with a fixed clock.
// Every endpoint comes from the SDK's configuration: AWS_ENDPOINT_URL and
// AWS_ENDPOINT_URL_<SERVICE> are honoured as the SDKs document.
package awsinfra
