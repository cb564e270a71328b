output "webhook_url" {
  description = "Payload URL for the GitHub App's webhook."
  value       = module.dispatcher.webhook_url
}

output "admin_url" {
  description = "The admin dashboard."
  value       = module.dispatcher.admin_url
}

output "secret_arns" {
  description = "Secrets to fill with `aws secretsmanager put-secret-value` after the first apply."
  value       = module.dispatcher.secret_arns
}

output "replay_dlq_environment" {
  description = "Environment for `dispatcher replay-dlq` against this stack."
  value       = module.dispatcher.replay_dlq_environment
}
