# Three on-demand tables, each with point-in-time recovery and TTL on
# "expires_at" (Unix seconds; items without it never expire). Keys and the
# index are the contract of terraform/resources.json. Data is encrypted at rest
# with DynamoDB's AWS-owned key (the default).

# Facts by id; the by-delivery index lists a delivery's facts in time order
# ("time" is RFC 3339 UTC with nanoseconds, so it sorts as a string).
resource "aws_dynamodb_table" "events" {
  name                        = "${var.name}-events"
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "id"
  deletion_protection_enabled = var.deletion_protection

  attribute {
    name = "id"
    type = "S"
  }

  attribute {
    name = "delivery_id"
    type = "S"
  }

  attribute {
    name = "time"
    type = "S"
  }

  global_secondary_index {
    name            = "by-delivery"
    hash_key        = "delivery_id"
    range_key       = "time"
    projection_type = "ALL"
  }

  ttl {
    attribute_name = local.ttl_attribute
    enabled        = true
  }

  point_in_time_recovery {
    enabled = true
  }

  tags = local.tags
}

# Read models of the admin dashboard, updated when each fact is folded.
resource "aws_dynamodb_table" "projections" {
  name                        = "${var.name}-projections"
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "pk"
  range_key                   = "sk"
  deletion_protection_enabled = var.deletion_protection

  attribute {
    name = "pk"
    type = "S"
  }

  attribute {
    name = "sk"
    type = "S"
  }

  ttl {
    attribute_name = local.ttl_attribute
    enabled        = true
  }

  point_in_time_recovery {
    enabled = true
  }

  tags = local.tags
}

# Replay guard, dispatch claims, lineage, outcomes and run records: the
# conditional writes that make every stage idempotent.
resource "aws_dynamodb_table" "state" {
  name                        = "${var.name}-state"
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "pk"
  range_key                   = "sk"
  deletion_protection_enabled = var.deletion_protection

  attribute {
    name = "pk"
    type = "S"
  }

  attribute {
    name = "sk"
    type = "S"
  }

  ttl {
    attribute_name = local.ttl_attribute
    enabled        = true
  }

  point_in_time_recovery {
    enabled = true
  }

  tags = local.tags
}
