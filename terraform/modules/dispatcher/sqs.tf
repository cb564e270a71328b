# Standard queues, each with a dead-letter queue. A message received
# max_receive_count (5) times without being deleted moves to the DLQ; the DLQ
# keeps it 14 days (the source keeps 4), so there is time to fix the cause and
# drain it with `dispatcher replay-dlq --stage ...`.

resource "aws_sqs_queue" "dlq" {
  for_each = local.queues

  name                      = "${var.name}-${each.key}-dlq"
  message_retention_seconds = local.dlq_message_retention_seconds
  sqs_managed_sse_enabled   = true
  tags                      = local.tags
}

resource "aws_sqs_queue" "this" {
  for_each = local.queues

  name                      = "${var.name}-${each.key}"
  message_retention_seconds = local.message_retention_seconds
  # A message must stay hidden while its consumer may still be working on it,
  # with room for Lambda's retries of the batch: 6x the consumer's timeout.
  visibility_timeout_seconds = local.visibility_timeout_factor * local.function_timeouts[each.value.consumer]
  receive_wait_time_seconds  = 20
  sqs_managed_sse_enabled    = true

  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dlq[each.key].arn
    maxReceiveCount     = local.max_receive_count
  })

  tags = local.tags
}

# Only its own source queue may use a DLQ as a dead-letter target.
resource "aws_sqs_queue_redrive_allow_policy" "dlq" {
  for_each = local.queues

  queue_url = aws_sqs_queue.dlq[each.key].id
  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [aws_sqs_queue.this[each.key].arn]
  })
}

# EventBridge delivers facts to the facts queue, and events it cannot deliver
# to the facts DLQ (the envelope is the same, so `replay-dlq --stage facts`
# drains both kinds). Only the facts rule may send.
data "aws_iam_policy_document" "facts_queue" {
  for_each = {
    queue = aws_sqs_queue.this["facts"].arn
    dlq   = aws_sqs_queue.dlq["facts"].arn
  }

  statement {
    sid       = "EventBridgeFactsRule"
    effect    = "Allow"
    actions   = ["sqs:SendMessage"]
    resources = [each.value]

    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }

    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [aws_cloudwatch_event_rule.facts.arn]
    }
  }
}

resource "aws_sqs_queue_policy" "facts" {
  queue_url = aws_sqs_queue.this["facts"].id
  policy    = data.aws_iam_policy_document.facts_queue["queue"].json
}

resource "aws_sqs_queue_policy" "facts_dlq" {
  queue_url = aws_sqs_queue.dlq["facts"].id
  policy    = data.aws_iam_policy_document.facts_queue["dlq"].json
}
