# Secrets Manager: by default the module creates three empty secrets and the
# operator puts their values (docs/aws.md, "Secrets"), so secret values never
# enter the Terraform state or the functions' configuration. With
# create_secrets = false it uses existing secrets by ARN. The functions get the
# ARNs (GITHUB_WEBHOOK_SECRET_ARN, GITHUB_APP_PRIVATE_KEY_ARN, ADMIN_TOKEN_ARN)
# and read the values at run time; each role may read only its own secret.

locals {
  secret_descriptions = {
    "webhook"         = "GitHub App webhook secret (HMAC-SHA256), read by the ingress function"
    "app-private-key" = "GitHub App private key (PEM), read by the planner and dispatcher functions"
    "admin-token"     = "Bearer token of the admin dashboard and API, read by the admin function"
  }

  secret_arns = {
    "webhook"         = var.create_secrets ? aws_secretsmanager_secret.this["webhook"].arn : var.webhook_secret_arn
    "app-private-key" = var.create_secrets ? aws_secretsmanager_secret.this["app-private-key"].arn : var.github_app_private_key_arn
    "admin-token"     = var.create_secrets ? aws_secretsmanager_secret.this["admin-token"].arn : var.admin_token_secret_arn
  }
}

resource "aws_secretsmanager_secret" "this" {
  for_each = var.create_secrets ? local.secret_descriptions : {}

  name                    = "${var.name}/${each.key}"
  description             = each.value
  recovery_window_in_days = var.secret_recovery_window_days
  tags                    = local.tags
}
