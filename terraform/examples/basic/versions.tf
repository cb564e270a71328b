# Same constraints as the module (terraform/modules/dispatcher/versions.tf);
# terraform/terraform_test.go fails when they differ. Run `terraform init` and
# commit the .terraform.lock.hcl it writes, so every apply uses the same
# provider build.
terraform {
  required_version = ">= 1.6.0, < 2.0.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 6.0"
    }
  }
}
