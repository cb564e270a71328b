# The five functions: one package, one role each (iam.tf), one log group each.
# The binary picks its stage from DISPATCHER_STAGE; each function gets only the
# environment variables its stage reads (terraform/resources.json lists them and
# the Terraform test keeps this file in step).

locals {
  # Timeouts: the queue consumers' value also sets the visibility timeout of
  # the queue they consume (sqs.tf), so the two cannot drift apart.
  function_timeouts = {
    ingress    = var.http_function_timeout_seconds
    planner    = var.function_timeout_seconds
    dispatcher = var.function_timeout_seconds
    facts      = var.function_timeout_seconds
    admin      = var.http_function_timeout_seconds
  }

  # LOG_LEVEL -> Lambda's application log level ("silent" keeps only FATAL,
  # which the binary never writes when silent).
  lambda_log_levels = {
    trace  = "TRACE"
    debug  = "DEBUG"
    info   = "INFO"
    warn   = "WARN"
    error  = "ERROR"
    fatal  = "FATAL"
    silent = "FATAL"
  }

  package_sha256 = var.lambda_zip_path != null ? filesha256(var.lambda_zip_path) : var.lambda_package_sha256

  # Settings shared by a stage group, as environment strings. A null value is
  # left out, so that the binary applies its documented default.
  github_environment = {
    GITHUB_APP_ID              = tostring(var.github_app_id)
    GITHUB_APP_PRIVATE_KEY_ARN = local.secret_arns["app-private-key"]
    GITHUB_API_URL             = var.github_api_url
    CREATE_ISSUES              = tostring(var.create_issues)
    GITHUB_WRITES_PER_MINUTE   = tostring(var.github_writes_per_minute)
  }
  trusted_proxies = length(var.trusted_proxies) > 0 ? join(",", var.trusted_proxies) : null

  function_environment = {
    ingress = {
      DISPATCH_REQUESTS_QUEUE_URL   = aws_sqs_queue.this["requests"].url
      DISPATCH_FACTS_EVENT_BUS_NAME = aws_cloudwatch_event_bus.facts.name
      DISPATCH_STATE_TABLE_NAME     = aws_dynamodb_table.state.name
      GITHUB_WEBHOOK_SECRET_ARN     = local.secret_arns["webhook"]
      REPLAY_WINDOW                 = var.replay_window
      WEBHOOK_RATE_LIMIT            = tostring(var.webhook_rate_limit)
      TRUSTED_PROXIES               = local.trusted_proxies
    }
    planner = merge(local.github_environment, {
      DISPATCH_REQUESTS_QUEUE_URL   = aws_sqs_queue.this["requests"].url
      DISPATCH_REQUESTS_DLQ_URL     = aws_sqs_queue.dlq["requests"].url
      DISPATCH_TARGETS_QUEUE_URL    = aws_sqs_queue.this["targets"].url
      DISPATCH_FACTS_EVENT_BUS_NAME = aws_cloudwatch_event_bus.facts.name
      DISPATCH_STATE_TABLE_NAME     = aws_dynamodb_table.state.name
      DEFAULT_DISPATCH_REF          = var.default_dispatch_ref
      ENFORCE_SOURCE_DEFAULT_BRANCH = tostring(var.enforce_source_default_branch)
      DISPATCH_MAX_TARGETS_PER_RUN  = tostring(var.dispatch_max_targets_per_run)
      DISPATCH_MAX_CHAIN_DEPTH      = tostring(var.dispatch_max_chain_depth)
      SOURCE_REPO_ALLOWLIST         = length(var.source_repo_allowlist) > 0 ? join(",", var.source_repo_allowlist) : null
      TARGET_REPO_ALLOWLIST         = length(var.target_repo_allowlist) > 0 ? join(",", var.target_repo_allowlist) : null
      SOURCE_WORKFLOW_ALLOWLIST     = length(var.source_workflow_allowlist) > 0 ? join(",", var.source_workflow_allowlist) : null
      # Always set: an empty value means "every conclusion", unset means "success".
      ALLOWED_SOURCE_CONCLUSIONS = join(",", var.allowed_source_conclusions)
      CONFIG_CACHE_TTL           = var.config_cache_ttl
    })
    dispatcher = merge(local.github_environment, {
      DISPATCH_TARGETS_QUEUE_URL    = aws_sqs_queue.this["targets"].url
      DISPATCH_TARGETS_DLQ_URL      = aws_sqs_queue.dlq["targets"].url
      DISPATCH_FACTS_EVENT_BUS_NAME = aws_cloudwatch_event_bus.facts.name
      DISPATCH_STATE_TABLE_NAME     = aws_dynamodb_table.state.name
      DISPATCH_MAX_RETRIES          = tostring(var.dispatch_max_retries)
      DISPATCH_RETRY_BASE_DELAY_MS  = tostring(var.dispatch_retry_base_delay_ms)
    })
    facts = {
      DISPATCH_FACTS_QUEUE_URL        = aws_sqs_queue.this["facts"].url
      DISPATCH_FACTS_DLQ_URL          = aws_sqs_queue.dlq["facts"].url
      DISPATCH_EVENTS_TABLE_NAME      = aws_dynamodb_table.events.name
      DISPATCH_PROJECTIONS_TABLE_NAME = aws_dynamodb_table.projections.name
    }
    admin = {
      APP_IMAGE_SHA                   = local.package_sha256
      DISPATCH_EVENTS_TABLE_NAME      = aws_dynamodb_table.events.name
      DISPATCH_PROJECTIONS_TABLE_NAME = aws_dynamodb_table.projections.name
      ADMIN_IP_ALLOWLIST              = length(var.admin_ip_allowlist) > 0 ? join(",", var.admin_ip_allowlist) : null
      ADMIN_TOKEN_ARN                 = local.secret_arns["admin-token"]
      TRUSTED_PROXIES                 = local.trusted_proxies
    }
  }
}

resource "aws_cloudwatch_log_group" "function" {
  for_each = local.function_timeouts

  name              = "/aws/lambda/${var.name}-${each.key}"
  retention_in_days = var.log_retention_days
  tags              = local.tags
}

resource "aws_lambda_function" "this" {
  for_each = local.function_timeouts

  function_name = "${var.name}-${each.key}"
  description   = "dispatcher ${each.key} stage"
  role          = aws_iam_role.function[each.key].arn

  runtime       = "provided.al2023"
  architectures = ["arm64"]
  handler       = "bootstrap"
  memory_size   = var.memory_size_mb
  timeout       = each.value

  filename          = var.lambda_zip_path
  s3_bucket         = var.lambda_s3_bucket
  s3_key            = var.lambda_s3_key
  s3_object_version = var.lambda_s3_object_version
  # A new zip redeploys the functions; from S3, a new object version does.
  source_code_hash = var.lambda_zip_path != null ? filebase64sha256(var.lambda_zip_path) : null

  environment {
    variables = {
      for k, v in merge(
        {
          DISPATCHER_STAGE = each.key
          LOG_LEVEL        = var.log_level
          APP_VERSION      = var.app_version
        },
        local.function_environment[each.key],
      ) : k => v if v != null
    }
  }

  # The binary logs JSON lines with a "level" key; in JSON format Lambda
  # filters them by application_log_level, so it follows log_level (else
  # Lambda's INFO default would drop debug lines).
  logging_config {
    log_format            = "JSON"
    log_group             = aws_cloudwatch_log_group.function[each.key].name
    application_log_level = local.lambda_log_levels[var.log_level]
    system_log_level      = "INFO"
  }

  tags = local.tags

  lifecycle {
    precondition {
      condition     = (var.lambda_zip_path != null) != (var.lambda_s3_bucket != null && var.lambda_s3_key != null)
      error_message = "Set either lambda_zip_path or both lambda_s3_bucket and lambda_s3_key."
    }
    # Fail at plan time, not at the first delivery, when external secrets
    # are missing.
    precondition {
      condition     = var.create_secrets || (var.webhook_secret_arn != null && var.github_app_private_key_arn != null)
      error_message = "With create_secrets = false, set webhook_secret_arn and github_app_private_key_arn."
    }
  }

  # The role's policy must exist before the function can read its queue or
  # write its logs.
  depends_on = [aws_iam_role_policy.function]
}

# Queue consumers: failed messages are reported one by one, and only they are
# retried (the original service lacked ReportBatchItemFailures, so failures
# were deleted as successes). maximum_concurrency bounds each consumer.
resource "aws_lambda_event_source_mapping" "queue" {
  for_each = local.queues

  event_source_arn        = aws_sqs_queue.this[each.key].arn
  function_name           = aws_lambda_function.this[each.value.consumer].arn
  batch_size              = var.batch_size
  function_response_types = ["ReportBatchItemFailures"]

  scaling_config {
    maximum_concurrency = each.value.max_concurrency
  }

  tags = local.tags
}
