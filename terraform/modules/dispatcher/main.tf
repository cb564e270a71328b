# dispatcher on AWS: five Lambda functions from one zip behind an API Gateway
# HTTP API, three SQS queues with dead-letter queues, an EventBridge bus that
# carries the facts, and three DynamoDB tables. The names, keys and indexes
# follow terraform/resources.json (the contract shared with pkg/awsinfra);
# docs/aws.md describes every resource.

data "aws_caller_identity" "current" {}

locals {
  # Redrive and retention: fixed by the contract (terraform/resources.json).
  max_receive_count             = 5
  message_retention_seconds     = 345600  # 4 days on the source queues
  dlq_message_retention_seconds = 1209600 # 14 days on the DLQs: longer than the source
  visibility_timeout_factor     = 6       # AWS guidance for Lambda event sources: >= 6x the function timeout

  # Every DynamoDB item that expires carries its Unix expiry time here.
  ttl_attribute = "expires_at"

  # The three queues, each with its DLQ and the function consuming it.
  queues = {
    requests = { consumer = "planner", max_concurrency = var.planner_max_concurrency }
    targets  = { consumer = "dispatcher", max_concurrency = var.dispatcher_max_concurrency }
    facts    = { consumer = "facts", max_concurrency = var.facts_max_concurrency }
  }

  # The HTTP API's routes and the function behind each. /health and /version
  # are liveness answers of the shared HTTP handler (no store reads), served by
  # ingress so that they prove the webhook path is up; everything under
  # /admin and /metrics is the admin function's.
  routes = {
    "POST /webhooks/github" = { id = "webhook", function = "ingress", source_path = "POST/webhooks/github" }
    "GET /health"           = { id = "health", function = "ingress", source_path = "GET/health" }
    "GET /version"          = { id = "version", function = "ingress", source_path = "GET/version" }
    "ANY /admin"            = { id = "admin", function = "admin", source_path = "*/admin" }
    "ANY /admin/{proxy+}"   = { id = "admin-proxy", function = "admin", source_path = "*/admin/*" }
    "GET /metrics"          = { id = "metrics", function = "admin", source_path = "GET/metrics" }
  }
  http_functions = toset(["ingress", "admin"])

  tags = merge(var.tags, { "dispatcher:name" = var.name })
}
