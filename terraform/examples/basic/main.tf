# A complete dispatcher stack with the module's defaults: see docs/aws.md,
# "Deploy". Copy this folder, set the variables (terraform.tfvars.example) and
# run terraform init and apply.

provider "aws" {
  region = var.region

  default_tags {
    tags = {
      "app"        = "dispatcher"
      "managed-by" = "terraform"
    }
  }
}

module "dispatcher" {
  source = "../../modules/dispatcher"

  name            = var.name
  app_version     = var.app_version
  lambda_zip_path = var.lambda_zip_path
  github_app_id   = var.github_app_id

  source_repo_allowlist = var.source_repo_allowlist
  target_repo_allowlist = var.target_repo_allowlist
  admin_ip_allowlist    = var.admin_ip_allowlist
  alarm_sns_topic_arn   = var.alarm_sns_topic_arn
}
