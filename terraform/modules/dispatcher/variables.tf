# Module inputs. Each runtime setting maps to one environment variable of
# pkg/settings (docs/configuration.md) and is passed only to the functions that
# read it (locals.tf). Validation here mirrors the checks the binary makes at
# start-up, so that a bad value fails at plan time instead of in a cold start.

# ---------------------------------------------------------------- naming, package

variable "name" {
  description = "Prefix of every resource name (queues <name>-requests, tables <name>-events, functions <name>-ingress, ...)."
  type        = string
  default     = "dispatcher"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,38}[a-z0-9]$", var.name))
    error_message = "The name must be 2-40 characters of lower-case letters, digits and hyphens, starting with a letter."
  }
}

variable "tags" {
  description = "Tags added to every resource that takes tags."
  type        = map(string)
  default     = {}
}

variable "lambda_zip_path" {
  description = "Local path of the Lambda package built by goreleaser (dispatcher_<version>_lambda_linux_arm64.zip, holding `bootstrap`). Set this or lambda_s3_bucket and lambda_s3_key."
  type        = string
  default     = null

  validation {
    condition     = var.lambda_zip_path == null || can(regex("\\.zip$", var.lambda_zip_path))
    error_message = "lambda_zip_path must name a .zip file."
  }
}

variable "lambda_s3_bucket" {
  description = "S3 bucket holding the Lambda package, instead of lambda_zip_path."
  type        = string
  default     = null
}

variable "lambda_s3_key" {
  description = "S3 key of the Lambda package in lambda_s3_bucket."
  type        = string
  default     = null
}

variable "lambda_s3_object_version" {
  description = "Version of the S3 object of the Lambda package (versioned buckets); a new version redeploys the functions."
  type        = string
  default     = null
}

variable "lambda_package_sha256" {
  description = "Hex SHA-256 of the Lambda package when it comes from S3 (from the release's checksums.txt); reported by the admin API as APP_IMAGE_SHA. Computed from the file when lambda_zip_path is set."
  type        = string
  default     = null

  validation {
    condition     = var.lambda_package_sha256 == null || can(regex("^[0-9a-f]{64}$", var.lambda_package_sha256))
    error_message = "lambda_package_sha256 must be 64 lower-case hex digits."
  }
}

variable "app_version" {
  description = "Version reported by /version, the admin API and the facts (APP_VERSION), e.g. the release tag. Every function gets the same value."
  type        = string

  validation {
    condition     = length(trimspace(var.app_version)) > 0
    error_message = "app_version must not be empty."
  }
}

# ---------------------------------------------------------------- functions

variable "log_level" {
  description = "LOG_LEVEL of every function: fatal, error, warn, info, debug, trace or silent."
  type        = string
  default     = "info"

  validation {
    condition     = contains(["fatal", "error", "warn", "info", "debug", "trace", "silent"], var.log_level)
    error_message = "log_level must be one of fatal, error, warn, info, debug, trace, silent."
  }
}

variable "memory_size_mb" {
  description = "Memory of each function in MB (CPU grows with it)."
  type        = number
  default     = 256

  validation {
    condition     = var.memory_size_mb >= 128 && var.memory_size_mb <= 10240 && floor(var.memory_size_mb) == var.memory_size_mb
    error_message = "memory_size_mb must be a whole number from 128 to 10240."
  }
}

variable "function_timeout_seconds" {
  description = "Timeout of the queue consumers (planner, dispatcher, facts). Each queue's visibility timeout is 6 times this value."
  type        = number
  default     = 30

  validation {
    # 6 x 900 s stays under SQS's 12-hour visibility limit.
    condition     = var.function_timeout_seconds >= 1 && var.function_timeout_seconds <= 900 && floor(var.function_timeout_seconds) == var.function_timeout_seconds
    error_message = "function_timeout_seconds must be a whole number from 1 to 900."
  }
}

variable "http_function_timeout_seconds" {
  description = "Timeout of the functions behind the HTTP API (ingress, admin). API Gateway gives up after 30 s, so at most 29."
  type        = number
  default     = 15

  validation {
    condition     = var.http_function_timeout_seconds >= 1 && var.http_function_timeout_seconds <= 29 && floor(var.http_function_timeout_seconds) == var.http_function_timeout_seconds
    error_message = "http_function_timeout_seconds must be a whole number from 1 to 29."
  }
}

variable "batch_size" {
  description = "Messages per invocation of the queue consumers; failed messages are reported one by one (ReportBatchItemFailures)."
  type        = number
  default     = 10

  validation {
    condition     = var.batch_size >= 1 && var.batch_size <= 10 && floor(var.batch_size) == var.batch_size
    error_message = "batch_size must be a whole number from 1 to 10."
  }
}

variable "planner_max_concurrency" {
  description = "Most planner functions the requests queue invokes at once (event source mapping maximum_concurrency)."
  type        = number
  default     = 5

  validation {
    condition     = var.planner_max_concurrency >= 2 && var.planner_max_concurrency <= 1000 && floor(var.planner_max_concurrency) == var.planner_max_concurrency
    error_message = "planner_max_concurrency must be a whole number from 2 to 1000 (AWS's bounds)."
  }
}

variable "dispatcher_max_concurrency" {
  description = "Most dispatcher functions the targets queue invokes at once. Each paces its own GitHub writes (github_writes_per_minute), so the App's total write rate is up to this many times that value."
  type        = number
  default     = 2

  validation {
    condition     = var.dispatcher_max_concurrency >= 2 && var.dispatcher_max_concurrency <= 1000 && floor(var.dispatcher_max_concurrency) == var.dispatcher_max_concurrency
    error_message = "dispatcher_max_concurrency must be a whole number from 2 to 1000 (AWS's bounds)."
  }
}

variable "facts_max_concurrency" {
  description = "Most facts functions the facts queue invokes at once."
  type        = number
  default     = 2

  validation {
    condition     = var.facts_max_concurrency >= 2 && var.facts_max_concurrency <= 1000 && floor(var.facts_max_concurrency) == var.facts_max_concurrency
    error_message = "facts_max_concurrency must be a whole number from 2 to 1000 (AWS's bounds)."
  }
}

variable "log_retention_days" {
  description = "Retention of the functions' and the API's CloudWatch log groups."
  type        = number
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be one of CloudWatch's values: 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653."
  }
}

variable "permissions_boundary_arn" {
  description = "IAM permissions boundary attached to the five function roles, when the account requires one."
  type        = string
  default     = null
}

# ---------------------------------------------------------------- API Gateway

variable "api_throttling_rate_limit" {
  description = "Steady-state requests per second the HTTP API accepts over all routes."
  type        = number
  default     = 50

  validation {
    condition     = var.api_throttling_rate_limit > 0
    error_message = "api_throttling_rate_limit must be positive."
  }
}

variable "api_throttling_burst_limit" {
  description = "Burst of requests the HTTP API accepts above the rate limit."
  type        = number
  default     = 100

  validation {
    condition     = var.api_throttling_burst_limit >= 1 && floor(var.api_throttling_burst_limit) == var.api_throttling_burst_limit
    error_message = "api_throttling_burst_limit must be a whole number of at least 1."
  }
}

# ---------------------------------------------------------------- storage

variable "deletion_protection" {
  description = "Deletion protection on the DynamoDB tables. Turn it off only to destroy a test stack."
  type        = bool
  default     = true
}

# ---------------------------------------------------------------- alarms

variable "alarm_sns_topic_arn" {
  description = "SNS topic notified when an alarm fires and when it recovers; null leaves the alarms without actions (visible in the console only)."
  type        = string
  default     = null

  validation {
    condition     = var.alarm_sns_topic_arn == null || can(regex("^arn:[a-z-]+:sns:", var.alarm_sns_topic_arn))
    error_message = "alarm_sns_topic_arn must be an SNS topic ARN."
  }
}

variable "queue_age_alarm_seconds" {
  description = "Alarm when the oldest message of a source queue is older than this (work is stuck)."
  type        = number
  default     = 900

  validation {
    condition     = var.queue_age_alarm_seconds >= 60
    error_message = "queue_age_alarm_seconds must be at least 60."
  }
}

# ---------------------------------------------------------------- secrets

variable "create_secrets" {
  description = "Create the three Secrets Manager secrets (webhook secret, App private key, admin token) without values: put the values with `aws secretsmanager put-secret-value` so they never enter the Terraform state. When false, give webhook_secret_arn and github_app_private_key_arn (and optionally admin_token_secret_arn)."
  type        = bool
  default     = true
}

variable "secret_recovery_window_days" {
  description = "Recovery window of the created secrets when they are deleted: 0 (delete at once) or 7-30."
  type        = number
  default     = 7

  validation {
    condition     = var.secret_recovery_window_days == 0 || (var.secret_recovery_window_days >= 7 && var.secret_recovery_window_days <= 30)
    error_message = "secret_recovery_window_days must be 0 or from 7 to 30."
  }
}

variable "webhook_secret_arn" {
  description = "ARN of an existing secret holding the GitHub webhook secret (create_secrets = false)."
  type        = string
  default     = null

  validation {
    condition     = var.webhook_secret_arn == null || can(regex("^arn:[a-z-]+:secretsmanager:", var.webhook_secret_arn))
    error_message = "webhook_secret_arn must be a Secrets Manager ARN."
  }
}

variable "github_app_private_key_arn" {
  description = "ARN of an existing secret holding the GitHub App's private key in PEM (create_secrets = false)."
  type        = string
  default     = null

  validation {
    condition     = var.github_app_private_key_arn == null || can(regex("^arn:[a-z-]+:secretsmanager:", var.github_app_private_key_arn))
    error_message = "github_app_private_key_arn must be a Secrets Manager ARN."
  }
}

variable "admin_token_secret_arn" {
  description = "ARN of an existing secret holding the admin bearer token (create_secrets = false). Without it and without admin_ip_allowlist the admin answers 403."
  type        = string
  default     = null

  validation {
    condition     = var.admin_token_secret_arn == null || can(regex("^arn:[a-z-]+:secretsmanager:", var.admin_token_secret_arn))
    error_message = "admin_token_secret_arn must be a Secrets Manager ARN."
  }
}

# ---------------------------------------------------------------- GitHub

variable "github_app_id" {
  description = "The GitHub App's numeric id (GITHUB_APP_ID; planner and dispatcher)."
  type        = number

  validation {
    condition     = var.github_app_id >= 1 && floor(var.github_app_id) == var.github_app_id
    error_message = "github_app_id must be a positive whole number."
  }
}

variable "github_api_url" {
  description = "GitHub REST API base URL (GITHUB_API_URL); for GitHub Enterprise Server https://HOST/api/v3."
  type        = string
  default     = "https://api.github.com"

  validation {
    condition     = can(regex("^https?://[^/?#@]+(/[^?#]*)?$", var.github_api_url))
    error_message = "github_api_url must be an absolute http(s) URL without credentials, query or fragment."
  }
}

variable "github_writes_per_minute" {
  description = "GitHub content-creating requests (dispatches, issues) per minute per function instance (GITHUB_WRITES_PER_MINUTE); 0 = unpaced."
  type        = number
  default     = 80

  validation {
    condition     = var.github_writes_per_minute >= 0 && var.github_writes_per_minute <= 100000 && floor(var.github_writes_per_minute) == var.github_writes_per_minute
    error_message = "github_writes_per_minute must be a whole number from 0 to 100000."
  }
}

variable "config_cache_ttl" {
  description = "How long the planner trusts a cached dispatching.yml without revalidating it (CONFIG_CACHE_TTL, a Go duration such as 0s, 30s or 5m); 0s revalidates on every delivery."
  type        = string
  default     = "0s"

  validation {
    condition     = can(regex("^(0|([0-9]+(\\.[0-9]+)?(ns|us|µs|ms|s|m|h))+)$", var.config_cache_ttl))
    error_message = "config_cache_ttl must be a Go duration such as 0s, 30s, 5m or 1h30m."
  }
}

# ---------------------------------------------------------------- guardrails (planner)

variable "default_dispatch_ref" {
  description = "Ref dispatched when the target has no ref and the run's head branch is null (DEFAULT_DISPATCH_REF)."
  type        = string
  default     = "main"

  validation {
    condition     = length(trimspace(var.default_dispatch_ref)) > 0 && !can(regex("\\s", var.default_dispatch_ref))
    error_message = "default_dispatch_ref must be a ref name without whitespace."
  }
}

variable "enforce_source_default_branch" {
  description = "Only runs on the source repository's default branch may dispatch (ENFORCE_SOURCE_DEFAULT_BRANCH)."
  type        = bool
  default     = true
}

variable "dispatch_max_targets_per_run" {
  description = "Most targets one source run may dispatch (DISPATCH_MAX_TARGETS_PER_RUN)."
  type        = number
  default     = 25

  validation {
    condition     = var.dispatch_max_targets_per_run >= 1 && var.dispatch_max_targets_per_run <= 1000 && floor(var.dispatch_max_targets_per_run) == var.dispatch_max_targets_per_run
    error_message = "dispatch_max_targets_per_run must be a whole number from 1 to 1000."
  }
}

variable "dispatch_max_chain_depth" {
  description = "Longest chain of dispatches (DISPATCH_MAX_CHAIN_DEPTH)."
  type        = number
  default     = 5

  validation {
    condition     = var.dispatch_max_chain_depth >= 1 && var.dispatch_max_chain_depth <= 100 && floor(var.dispatch_max_chain_depth) == var.dispatch_max_chain_depth
    error_message = "dispatch_max_chain_depth must be a whole number from 1 to 100."
  }
}

variable "source_repo_allowlist" {
  description = "Source repositories (owner/name, * wildcard) allowed to dispatch (SOURCE_REPO_ALLOWLIST); empty allows all."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for p in var.source_repo_allowlist : can(regex("^[^,\\s]+$", p))])
    error_message = "source_repo_allowlist entries must be non-empty and contain no commas or whitespace."
  }
}

variable "target_repo_allowlist" {
  description = "Target repositories (owner/name, * wildcard) that may be dispatched (TARGET_REPO_ALLOWLIST); empty allows all."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for p in var.target_repo_allowlist : can(regex("^[^,\\s]+$", p))])
    error_message = "target_repo_allowlist entries must be non-empty and contain no commas or whitespace."
  }
}

variable "source_workflow_allowlist" {
  description = "Source workflow file base names (e.g. ci.yml, * wildcard) allowed to dispatch (SOURCE_WORKFLOW_ALLOWLIST); empty allows all."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for p in var.source_workflow_allowlist : can(regex("^[^,\\s/]+$", p))])
    error_message = "source_workflow_allowlist entries must be base names without commas, slashes or whitespace."
  }
}

variable "allowed_source_conclusions" {
  description = "Run conclusions that may dispatch (ALLOWED_SOURCE_CONCLUSIONS); an empty list allows all, a null conclusion included."
  type        = list(string)
  default     = ["success"]

  validation {
    condition     = alltrue([for c in var.allowed_source_conclusions : can(regex("^[a-z_*]+$", c))])
    error_message = "allowed_source_conclusions entries must be conclusions such as success, neutral or skipped (* is a wildcard)."
  }
}

variable "create_issues" {
  description = "Open an issue with the dispatch results in the source repository (CREATE_ISSUES; planner and dispatcher)."
  type        = bool
  default     = true
}

# ---------------------------------------------------------------- dispatcher

variable "dispatch_max_retries" {
  description = "Retries of a failed dispatch call inside one invocation (DISPATCH_MAX_RETRIES)."
  type        = number
  default     = 2

  validation {
    condition     = var.dispatch_max_retries >= 0 && var.dispatch_max_retries <= 20 && floor(var.dispatch_max_retries) == var.dispatch_max_retries
    error_message = "dispatch_max_retries must be a whole number from 0 to 20."
  }
}

variable "dispatch_retry_base_delay_ms" {
  description = "Base delay of the exponential backoff between dispatch retries, in milliseconds (DISPATCH_RETRY_BASE_DELAY_MS)."
  type        = number
  default     = 200

  validation {
    condition     = var.dispatch_retry_base_delay_ms >= 0 && var.dispatch_retry_base_delay_ms <= 60000 && floor(var.dispatch_retry_base_delay_ms) == var.dispatch_retry_base_delay_ms
    error_message = "dispatch_retry_base_delay_ms must be a whole number from 0 to 60000."
  }
}

# ---------------------------------------------------------------- ingress and admin

variable "replay_window" {
  description = "How long a delivery id is remembered; a repeat inside the window is answered 409 (REPLAY_WINDOW, Go duration from 1s to 168h)."
  type        = string
  default     = "10m"

  validation {
    condition     = can(regex("^([0-9]+(\\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$", var.replay_window))
    error_message = "replay_window must be a Go duration such as 10m or 1h."
  }
}

variable "webhook_rate_limit" {
  description = "Unauthenticated or malformed webhook requests per minute per client IP (WEBHOOK_RATE_LIMIT); 0 = off. Correctly signed deliveries are never refused for rate."
  type        = number
  default     = 100

  validation {
    condition     = var.webhook_rate_limit >= 0 && var.webhook_rate_limit <= 1000000 && floor(var.webhook_rate_limit) == var.webhook_rate_limit
    error_message = "webhook_rate_limit must be a whole number from 0 to 1000000."
  }
}

variable "trusted_proxies" {
  description = "Proxies (IPs, CIDRs) whose X-Forwarded-For gives the client address (TRUSTED_PROXIES; ingress and admin). Behind API Gateway alone leave it empty: the function reads the client address API Gateway reports."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for a in var.trusted_proxies : can(cidrhost(a, 0)) || can(cidrhost("${a}/32", 0)) || can(cidrhost("${a}/128", 0))])
    error_message = "trusted_proxies entries must be IP addresses or CIDRs."
  }
}

variable "admin_ip_allowlist" {
  description = "Client addresses (IPs, CIDRs) allowed to reach /admin (ADMIN_IP_ALLOWLIST). With neither this nor an admin token, the admin answers 403 (fail-closed)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for a in var.admin_ip_allowlist : can(cidrhost(a, 0)) || can(cidrhost("${a}/32", 0)) || can(cidrhost("${a}/128", 0))])
    error_message = "admin_ip_allowlist entries must be IP addresses or CIDRs."
  }
}
