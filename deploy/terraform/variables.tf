variable "environment" {
  description = "Deployment environment: staging or production."
  type        = string

  validation {
    condition     = contains(["staging", "production"], var.environment)
    error_message = "environment must be staging or production."
  }
}

variable "aws_region" {
  description = "AWS region for every resource."
  type        = string
  default     = "ap-south-1"
}

# --- S3 ----------------------------------------------------------------------------------------

variable "uploads_cors_origins" {
  description = "Browser origins allowed to PUT presigned uploads (screenshots, broker files)."
  type        = list(string)
  default     = []
}

variable "noncurrent_version_retention_days" {
  description = "Days an overwritten or deleted upload version is kept before expiry."
  type        = number
  default     = 30
}

# --- Kafka -------------------------------------------------------------------------------------

variable "create_msk" {
  description = "Create an MSK cluster. False: use external_kafka_bootstrap_servers (Confluent, Redpanda Cloud, self-run)."
  type        = bool
  default     = true
}

variable "external_kafka_bootstrap_servers" {
  description = "KAFKA_BOOTSTRAP_SERVERS of an existing cluster, used when create_msk is false."
  type        = string
  default     = ""

  validation {
    condition     = var.external_kafka_bootstrap_servers == "" || can(regex("^[^,\\s]+:[0-9]+(,[^,\\s]+:[0-9]+)*$", var.external_kafka_bootstrap_servers))
    error_message = "external_kafka_bootstrap_servers must be host:port[,host:port...]."
  }
}

variable "msk_kafka_version" {
  description = "MSK Kafka version."
  type        = string
  default     = "3.8.x"
}

variable "msk_broker_instance_type" {
  description = "MSK broker instance type."
  type        = string
  default     = "kafka.m7g.large"
}

variable "msk_broker_volume_gb" {
  description = "EBS volume per broker, in GiB (retention: TOPIC_RETENTION_HOURS, 7 days by default)."
  type        = number
  default     = 100
}

variable "msk_subnet_ids" {
  description = "Private subnets for the brokers, one per availability zone (3)."
  type        = list(string)
  default     = []
}

variable "msk_client_security_group_ids" {
  description = "Security groups of the clients (the Kubernetes nodes) allowed to reach the brokers."
  type        = list(string)
  default     = []
}

variable "vpc_id" {
  description = "VPC of the MSK cluster and the Kubernetes nodes."
  type        = string
  default     = ""
}

variable "topic_partitions" {
  description = "Default partitions per topic (TOPIC_PARTITIONS); see deploy/CAPACITY.md."
  type        = number
  default     = 6
}

# --- Secrets -----------------------------------------------------------------------------------

variable "secret_recovery_window_days" {
  description = "Days a deleted secret can still be restored."
  type        = number
  default     = 7
}
