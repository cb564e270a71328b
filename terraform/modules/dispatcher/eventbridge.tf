# The fact bus: ingress, planner and dispatcher publish each fact with
# PutEvents (Source "dispatcher", DetailType the fact type, Detail the
# CloudEvents JSON); the rule forwards them to the facts queue, which the facts
# function folds into DynamoDB.

resource "aws_cloudwatch_event_bus" "facts" {
  name = "${var.name}-facts"
  tags = local.tags
}

resource "aws_cloudwatch_event_rule" "facts" {
  name           = "${var.name}-facts"
  description    = "dispatcher facts to the facts queue"
  event_bus_name = aws_cloudwatch_event_bus.facts.name
  event_pattern = jsonencode({
    source = [{ prefix = "dispatcher" }]
  })
  tags = local.tags
}

resource "aws_cloudwatch_event_target" "facts" {
  rule           = aws_cloudwatch_event_rule.facts.name
  event_bus_name = aws_cloudwatch_event_bus.facts.name
  target_id      = "facts-queue"
  arn            = aws_sqs_queue.this["facts"].arn

  # EventBridge retries for a day, then parks the event in the facts DLQ
  # instead of dropping it.
  retry_policy {
    maximum_event_age_in_seconds = 86400
    maximum_retry_attempts       = 185
  }

  dead_letter_config {
    arn = aws_sqs_queue.dlq["facts"].arn
  }

  depends_on = [aws_sqs_queue_policy.facts, aws_sqs_queue_policy.facts_dlq]
}
