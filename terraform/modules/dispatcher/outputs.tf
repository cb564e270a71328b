output "webhook_url" {
  description = "Payload URL to set in the GitHub App's webhook settings."
  value       = "${trimsuffix(aws_apigatewayv2_stage.default.invoke_url, "/")}/webhooks/github"
}

output "admin_url" {
  description = "The admin dashboard (its JSON API is under /admin/api/)."
  value       = "${trimsuffix(aws_apigatewayv2_stage.default.invoke_url, "/")}/admin"
}

output "api_endpoint" {
  description = "Base URL of the HTTP API (also serves /health and /version)."
  value       = trimsuffix(aws_apigatewayv2_stage.default.invoke_url, "/")
}

output "function_names" {
  description = "Lambda function name per stage."
  value       = { for k, f in aws_lambda_function.this : k => f.function_name }
}

output "role_arns" {
  description = "IAM role ARN per function."
  value       = { for k, r in aws_iam_role.function : k => r.arn }
}

output "queue_urls" {
  description = "SQS queue URL per queue (requests, targets, facts)."
  value       = { for k, q in aws_sqs_queue.this : k => q.url }
}

output "dlq_urls" {
  description = "SQS dead-letter queue URL per queue (requests, targets, facts)."
  value       = { for k, q in aws_sqs_queue.dlq : k => q.url }
}

output "event_bus_name" {
  description = "EventBridge bus of the facts."
  value       = aws_cloudwatch_event_bus.facts.name
}

output "table_names" {
  description = "DynamoDB table name per table (events, projections, state)."
  value = {
    events      = aws_dynamodb_table.events.name
    projections = aws_dynamodb_table.projections.name
    state       = aws_dynamodb_table.state.name
  }
}

output "secret_arns" {
  description = "Secrets Manager ARNs of the webhook secret, the App private key and the admin token (null when not configured)."
  value       = local.secret_arns
}

output "replay_dlq_environment" {
  description = "Environment for `dispatcher replay-dlq --stage planner|dispatcher|facts` run by an operator against this stack."
  value = {
    DISPATCH_REQUESTS_QUEUE_URL = aws_sqs_queue.this["requests"].url
    DISPATCH_REQUESTS_DLQ_URL   = aws_sqs_queue.dlq["requests"].url
    DISPATCH_TARGETS_QUEUE_URL  = aws_sqs_queue.this["targets"].url
    DISPATCH_TARGETS_DLQ_URL    = aws_sqs_queue.dlq["targets"].url
    DISPATCH_FACTS_QUEUE_URL    = aws_sqs_queue.this["facts"].url
    DISPATCH_FACTS_DLQ_URL      = aws_sqs_queue.dlq["facts"].url
  }
}
