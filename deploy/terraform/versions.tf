# AWS resources of the Trading Journal next to the Kubernetes manifests in deploy/k8s:
# the uploads bucket (seed §1.2), Kafka (MSK, or an external cluster), and the secrets
# (seed §9.1) the services read as environment variables.
#
#   terraform init
#   terraform apply -var environment=production -var 'msk_subnet_ids=[...]' ...
terraform {
  required_version = ">= 1.5"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.60"
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.6"
    }
  }
}

provider "aws" {
  region = var.aws_region # Mumbai, for Indian users

  default_tags {
    tags = {
      Project     = "trading-journal"
      Environment = var.environment
      ManagedBy   = "terraform"
    }
  }
}

locals {
  name = "tradingjournal-${var.environment}"
}
