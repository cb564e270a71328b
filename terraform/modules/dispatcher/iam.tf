# One role per function, each allowed only what its stage does (the original
# service shared one role, so every function could scan every table, send to
# every queue and read every secret). terraform/resources.json lists each
# function's actions per resource; the Terraform test checks these documents
# against it, and pkg/awsinfra's test checks the calls the code makes.

data "aws_iam_policy_document" "assume" {
  statement {
    effect  = "Allow"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

resource "aws_iam_role" "function" {
  for_each = local.function_timeouts

  name                 = "${var.name}-${each.key}"
  description          = "dispatcher ${each.key} function"
  assume_role_policy   = data.aws_iam_policy_document.assume.json
  permissions_boundary = var.permissions_boundary_arn
  tags                 = local.tags
}

resource "aws_iam_role_policy" "function" {
  for_each = local.function_timeouts

  name   = "${var.name}-${each.key}"
  role   = aws_iam_role.function[each.key].id
  policy = local.function_policies[each.key]
}

locals {
  function_policies = {
    ingress    = data.aws_iam_policy_document.ingress.json
    planner    = data.aws_iam_policy_document.planner.json
    dispatcher = data.aws_iam_policy_document.dispatcher.json
    facts      = data.aws_iam_policy_document.facts.json
    admin      = data.aws_iam_policy_document.admin.json
  }
}

# Ingress: verify the signature (webhook secret), record the delivery id
# (conditional put with TTL), enqueue the request, publish the fact.
data "aws_iam_policy_document" "ingress" {
  statement {
    sid       = "Logs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.function["ingress"].arn}:*"]
  }

  statement {
    sid       = "EnqueueRequests"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.this["requests"].arn]
  }

  statement {
    sid       = "PublishFacts"
    actions   = ["events:PutEvents"]
    resources = [aws_cloudwatch_event_bus.facts.arn]
  }

  statement {
    sid       = "ReplayGuard"
    actions   = ["dynamodb:GetItem", "dynamodb:PutItem"]
    resources = [aws_dynamodb_table.state.arn]
  }

  statement {
    sid       = "WebhookSecret"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [local.secret_arns["webhook"]]
  }
}

# Planner: consume requests, read lineage and write outcomes, enqueue work
# items, publish facts, authenticate as the App.
data "aws_iam_policy_document" "planner" {
  statement {
    sid       = "Logs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.function["planner"].arn}:*"]
  }

  statement {
    sid       = "ConsumeRequests"
    actions   = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility"]
    resources = [aws_sqs_queue.this["requests"].arn]
  }

  statement {
    sid       = "DeadLetterRequests"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.dlq["requests"].arn]
  }

  statement {
    sid       = "EnqueueTargets"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.this["targets"].arn]
  }

  statement {
    sid       = "PublishFacts"
    actions   = ["events:PutEvents"]
    resources = [aws_cloudwatch_event_bus.facts.arn]
  }

  statement {
    sid       = "State"
    actions   = ["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:ConditionCheckItem"]
    resources = [aws_dynamodb_table.state.arn]
  }

  statement {
    sid       = "AppPrivateKey"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [local.secret_arns["app-private-key"]]
  }
}

# Dispatcher: consume work items, claim / complete / take over dispatches,
# record lineage and outcomes, publish facts, authenticate as the App.
data "aws_iam_policy_document" "dispatcher" {
  statement {
    sid       = "Logs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.function["dispatcher"].arn}:*"]
  }

  statement {
    sid       = "ConsumeTargets"
    actions   = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility"]
    resources = [aws_sqs_queue.this["targets"].arn]
  }

  statement {
    sid       = "DeadLetterTargets"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.dlq["targets"].arn]
  }

  statement {
    sid       = "PublishFacts"
    actions   = ["events:PutEvents"]
    resources = [aws_cloudwatch_event_bus.facts.arn]
  }

  statement {
    sid       = "State"
    actions   = ["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:ConditionCheckItem"]
    resources = [aws_dynamodb_table.state.arn]
  }

  statement {
    sid       = "AppPrivateKey"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [local.secret_arns["app-private-key"]]
  }
}

# Facts: consume the facts queue; fold each fact with one transaction (the
# conditional put of the fact id in events, the updates of projections).
data "aws_iam_policy_document" "facts" {
  statement {
    sid       = "Logs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.function["facts"].arn}:*"]
  }

  statement {
    sid       = "ConsumeFacts"
    actions   = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility"]
    resources = [aws_sqs_queue.this["facts"].arn]
  }

  statement {
    sid       = "DeadLetterFacts"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.dlq["facts"].arn]
  }

  statement {
    sid       = "Events"
    actions   = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:ConditionCheckItem"]
    resources = [aws_dynamodb_table.events.arn]
  }

  statement {
    sid       = "Projections"
    actions   = ["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:ConditionCheckItem"]
    resources = [aws_dynamodb_table.projections.arn]
  }
}

# Admin: read-only queries of events (by id and by delivery) and projections;
# never a Scan.
data "aws_iam_policy_document" "admin" {
  statement {
    sid       = "Logs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.function["admin"].arn}:*"]
  }

  statement {
    sid       = "ReadEvents"
    actions   = ["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query"]
    resources = [aws_dynamodb_table.events.arn]
  }

  statement {
    sid       = "ReadEventsByDelivery"
    actions   = ["dynamodb:Query"]
    resources = ["${aws_dynamodb_table.events.arn}/index/by-delivery"]
  }

  statement {
    sid       = "ReadProjections"
    actions   = ["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query"]
    resources = [aws_dynamodb_table.projections.arn]
  }

  # Only when there is an admin token secret (decided by variables, so that
  # the plan knows it before the secret exists).
  dynamic "statement" {
    for_each = var.create_secrets || var.admin_token_secret_arn != null ? [local.secret_arns["admin-token"]] : []

    content {
      sid       = "AdminToken"
      actions   = ["secretsmanager:GetSecretValue"]
      resources = [statement.value]
    }
  }
}
