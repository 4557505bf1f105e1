"""S3 client wiring (boto3 is synchronous: callers run it in a thread)."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config

from tj_common.settings import ServiceSettings


def make_s3_client(settings: ServiceSettings) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=settings.s3_endpoint_url or None,
        region_name=settings.s3_region,
        aws_access_key_id=settings.s3_access_key.get_secret_value(),
        aws_secret_access_key=settings.s3_secret_key.get_secret_value(),
        config=Config(
            signature_version="s3v4",
            s3={"addressing_style": "path"},
            retries={"max_attempts": 3, "mode": "standard"},
            # Checksum headers only where S3 requires them: S3-compatible servers vary.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            connect_timeout=2,
            read_timeout=10,
        ),
    )


def ensure_bucket(settings: ServiceSettings) -> bool:
    """Create the uploads bucket if missing; True when it was created."""
    client = make_s3_client(settings)
    try:
        client.head_bucket(Bucket=settings.s3_bucket)
        return False
    except client.exceptions.ClientError:
        # AWS wants the region outside us-east-1; S3-compatible servers (s3proxy) reject it.
        if not settings.s3_endpoint_url and settings.s3_region != "us-east-1":
            client.create_bucket(
                Bucket=settings.s3_bucket,
                CreateBucketConfiguration={"LocationConstraint": settings.s3_region},
            )
        else:
            client.create_bucket(Bucket=settings.s3_bucket)
        return True
