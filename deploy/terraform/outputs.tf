output "uploads_bucket" {
  description = "S3_BUCKET"
  value       = aws_s3_bucket.uploads.bucket
}

output "uploads_bucket_arn" {
  description = "ARN of the uploads bucket"
  value       = aws_s3_bucket.uploads.arn
}

output "s3_region" {
  description = "S3_REGION"
  value       = var.aws_region
}

output "kafka_bootstrap_servers" {
  description = "KAFKA_BOOTSTRAP_SERVERS (MSK plaintext brokers, or the external cluster given)"
  value       = local.kafka_bootstrap_servers
}

output "msk_cluster_arn" {
  description = "ARN of the MSK cluster, null when an external cluster is used"
  value       = var.create_msk ? aws_msk_cluster.this[0].arn : null
}

output "secret_arns" {
  description = "Secrets Manager ARNs by purpose"
  value = {
    jwt      = aws_secretsmanager_secret.jwt.arn
    s3       = aws_secretsmanager_secret.s3.arn
    razorpay = aws_secretsmanager_secret.razorpay.arn
  }
}

output "read_secrets_policy_arn" {
  description = "IAM policy to attach to the role that syncs the secrets into Kubernetes"
  value       = aws_iam_policy.read_secrets.arn
}
