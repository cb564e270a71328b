variable "region" {
  description = "AWS region of the stack."
  type        = string
  default     = "us-east-1"
}

variable "name" {
  description = "Prefix of every resource name."
  type        = string
  default     = "dispatcher"
}

variable "app_version" {
  description = "The release being deployed, e.g. v1.2.3 (reported by /version and the admin page)."
  type        = string
}

variable "lambda_zip_path" {
  description = "Path of the release's Lambda package, e.g. ../../../dist/dispatcher_1.2.3_lambda_linux_arm64.zip."
  type        = string
}

variable "github_app_id" {
  description = "The GitHub App's numeric id."
  type        = number
}

variable "source_repo_allowlist" {
  description = "Source repositories allowed to dispatch (owner/name, * wildcard); empty allows all."
  type        = list(string)
  default     = []
}

variable "target_repo_allowlist" {
  description = "Target repositories that may be dispatched (owner/name, * wildcard); empty allows all."
  type        = list(string)
  default     = []
}

variable "admin_ip_allowlist" {
  description = "Addresses (IPs, CIDRs) allowed to open the admin page, besides holders of the admin token."
  type        = list(string)
  default     = []
}

variable "alarm_sns_topic_arn" {
  description = "SNS topic for the alarms (null: no notifications)."
  type        = string
  default     = null
}
