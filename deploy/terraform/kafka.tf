# Kafka: an MSK cluster (three brokers, one per AZ), or any external cluster whose bootstrap
# servers are given. The services only need KAFKA_BOOTSTRAP_SERVERS.
#
# The clients speak PLAINTEXT today (settings.py has no TLS/SASL fields), so MSK allows
# TLS_PLAINTEXT inside the VPC and the security group admits only the cluster's clients. Turning
# on TLS or IAM auth needs client settings first (see deploy/CAPACITY.md, "Moving to managed").

resource "aws_security_group" "msk" {
  count       = var.create_msk ? 1 : 0
  name        = "${local.name}-msk"
  description = "MSK brokers of the Trading Journal"
  vpc_id      = var.vpc_id

  ingress {
    description     = "Kafka plaintext from the service nodes"
    from_port       = 9092
    to_port         = 9092
    protocol        = "tcp"
    security_groups = var.msk_client_security_group_ids
  }

  ingress {
    description     = "Kafka TLS from the service nodes"
    from_port       = 9094
    to_port         = 9094
    protocol        = "tcp"
    security_groups = var.msk_client_security_group_ids
  }

  egress {
    from_port   = 0
    to_port     = 0
    protocol    = "-1"
    cidr_blocks = ["0.0.0.0/0"]
  }
}

resource "aws_msk_configuration" "this" {
  count          = var.create_msk ? 1 : 0
  name           = "${local.name}-kafka"
  kafka_versions = [var.msk_kafka_version]

  # Topics are declared in code and created by `python -m tj_common.ops bootstrap`.
  server_properties = <<-PROPERTIES
    auto.create.topics.enable=false
    default.replication.factor=3
    min.insync.replicas=2
    num.partitions=${var.topic_partitions}
    offsets.topic.replication.factor=3
    transaction.state.log.replication.factor=3
    transaction.state.log.min.isr=2
    unclean.leader.election.enable=false
    log.retention.hours=168
  PROPERTIES
}

resource "aws_msk_cluster" "this" {
  count                  = var.create_msk ? 1 : 0
  cluster_name           = "${local.name}-kafka"
  kafka_version          = var.msk_kafka_version
  number_of_broker_nodes = 3

  broker_node_group_info {
    instance_type   = var.msk_broker_instance_type
    client_subnets  = var.msk_subnet_ids
    security_groups = [aws_security_group.msk[0].id]

    storage_info {
      ebs_storage_info {
        volume_size = var.msk_broker_volume_gb
      }
    }
  }

  configuration_info {
    arn      = aws_msk_configuration.this[0].arn
    revision = aws_msk_configuration.this[0].latest_revision
  }

  encryption_info {
    encryption_in_transit {
      client_broker = "TLS_PLAINTEXT"
      in_cluster    = true
    }
  }

  open_monitoring {
    prometheus {
      jmx_exporter {
        enabled_in_broker = true
      }
      node_exporter {
        enabled_in_broker = true
      }
    }
  }

  lifecycle {
    precondition {
      condition     = length(var.msk_subnet_ids) == 3 && var.vpc_id != ""
      error_message = "create_msk needs vpc_id and three msk_subnet_ids (one per availability zone)."
    }
  }
}

locals {
  kafka_bootstrap_servers = var.create_msk ? aws_msk_cluster.this[0].bootstrap_brokers : var.external_kafka_bootstrap_servers
}
