// Package terraform holds the Terraform module that deploys dispatcher on
// AWS (modules/dispatcher), an example root (examples/basic) and the
// resource contract shared with pkg/awsinfra (resources.json).
//
// No terraform, tofu or tflint binary can be installed where this project
// is built, so the tests of this package are the module's CI check: they
// parse every .tf file with hashicorp/hcl/v2, fail when a file is not
// formatted as `terraform fmt` would write it, load the module with
// hashicorp/terraform-config-inspect, reject undeclared references and
// duplicate blocks, and then evaluate the module's expressions under a few
// sets of variables (resource attributes stand for themselves as symbolic
// strings) to assert the properties docs/aws.md promises: partial batch
// failures on every event source mapping, visibility timeouts of at least
// six times the consumer's timeout, DLQ retention longer than the source's,
// five receives before dead-lettering, TTL and point-in-time recovery on
// every table, keys and indexes equal to resources.json, one least-privilege
// role per function, the alarms, and pinned, consistent provider versions.
// What they cannot check is the AWS provider's schema (argument names and
// types): that needs `terraform validate` with the provider downloaded.
package terraform
