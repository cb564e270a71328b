# Terraform and provider versions. The example root (terraform/examples/basic)
# declares the same constraints; terraform/terraform_test.go fails when the two
# drift apart (the original service's prod root pinned ~> 6.43 against a
# module's ~> 5.0, so `terraform init` failed).
terraform {
  required_version = ">= 1.6.0, < 2.0.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 6.0"
    }
  }
}
