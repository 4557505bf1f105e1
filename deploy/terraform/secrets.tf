# Secrets Manager (seed §9.1): the names the seed uses, tradingjournal/<env>/<name>. The
# Kubernetes Secrets in deploy/k8s/secrets.example.yaml are filled from these.

resource "random_password" "jwt" {
  length  = 64
  special = false
}

resource "aws_secretsmanager_secret" "jwt" {
  name                    = "tradingjournal/${var.environment}/jwt-secret"
  description             = "JWT_SECRET: HMAC key of access tokens (rotate monthly, keep the old one in JWT_PREVIOUS_SECRETS)"
  recovery_window_in_days = var.secret_recovery_window_days
}

resource "aws_secretsmanager_secret_version" "jwt" {
  secret_id     = aws_secretsmanager_secret.jwt.id
  secret_string = random_password.jwt.result

  # Rotation (seed §9.2) writes new versions outside Terraform.
  lifecycle {
    ignore_changes = [secret_string]
  }
}

resource "aws_secretsmanager_secret" "s3" {
  name                    = "tradingjournal/${var.environment}/s3-credentials"
  description             = "S3_ACCESS_KEY / S3_SECRET_KEY of the uploads bucket's IAM user"
  recovery_window_in_days = var.secret_recovery_window_days
}

resource "aws_secretsmanager_secret_version" "s3" {
  secret_id = aws_secretsmanager_secret.s3.id
  secret_string = jsonencode({
    S3_ACCESS_KEY = aws_iam_access_key.app.id
    S3_SECRET_KEY = aws_iam_access_key.app.secret
    S3_BUCKET     = aws_s3_bucket.uploads.bucket
    S3_REGION     = var.aws_region
  })
}

# Razorpay issues these keys; Terraform creates the container and an operator stores the values:
#   aws secretsmanager put-secret-value --secret-id tradingjournal/<env>/razorpay \
#     --secret-string '{"RAZORPAY_KEY_ID":"rzp_live_...","RAZORPAY_KEY_SECRET":"...","RAZORPAY_WEBHOOK_SECRET":"..."}'
resource "aws_secretsmanager_secret" "razorpay" {
  name                    = "tradingjournal/${var.environment}/razorpay"
  description             = "RAZORPAY_KEY_ID, RAZORPAY_KEY_SECRET, RAZORPAY_WEBHOOK_SECRET"
  recovery_window_in_days = var.secret_recovery_window_days
}

# The services (through External Secrets or the CSI driver) may read these secrets and nothing else.
data "aws_iam_policy_document" "read_secrets" {
  statement {
    sid     = "ReadTradingJournalSecrets"
    actions = ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"]
    resources = [
      aws_secretsmanager_secret.jwt.arn,
      aws_secretsmanager_secret.s3.arn,
      aws_secretsmanager_secret.razorpay.arn,
    ]
  }
}

resource "aws_iam_policy" "read_secrets" {
  name        = "${local.name}-read-secrets"
  description = "Read the Trading Journal's Secrets Manager secrets"
  policy      = data.aws_iam_policy_document.read_secrets.json
}
