"""Trade attachments in S3: a presigned PUT for the declared image type and size, a check of the
stored object on confirm (size within the declared size and the limit, image bytes of the declared
type), presigned GETs to show them, and removal of the objects when they go."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from fastapi import Request

from tj_common.contracts import trades as contract
from tj_common.errors import AppError, Conflict
from tj_common.runtime import Runtime

log = logging.getLogger(__name__)

URL_SECONDS = 900
# The first bytes of each accepted image type.
SIGNATURES: dict[str, tuple[bytes, ...]] = {
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/gif": (b"GIF87a", b"GIF89a"),
    "image/webp": (b"RIFF",),
}


class PayloadTooLarge(AppError):
    status_code = 413


class NotAnImage(AppError):
    status_code = 422
    code = "ValidationError"


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def upload(request: Request, attachment: contract.AttachmentOut) -> dict[str, Any]:
    """Where and how to PUT the file: the signature covers the content type and the length."""
    runtime = _runtime(request)
    url = runtime.s3.generate_presigned_url(
        "put_object",
        Params={
            "Bucket": runtime.settings.s3_bucket,
            "Key": attachment.object_key,
            "ContentType": attachment.content_type,
            "ContentLength": attachment.size,
        },
        ExpiresIn=URL_SECONDS,
    )
    return {
        "method": "PUT",
        "url": url,
        "headers": {"Content-Type": attachment.content_type, "Content-Length": str(attachment.size)},
        "expires_in": URL_SECONDS,
        "max_bytes": contract.ATTACHMENT_MAX_BYTES,
        "confirm_url": f"/api/v1/trades/{attachment.trade_id}/attachments/{attachment.id}/confirm",
    }


def public(request: Request, attachment: contract.AttachmentOut) -> dict[str, Any]:
    """An attachment as clients see it: a time-limited download URL once uploaded, no storage key."""
    body = attachment.model_dump(mode="json", exclude={"object_key"})
    body["download_url"] = None
    if attachment.status == "uploaded":
        runtime = _runtime(request)
        body["download_url"] = runtime.s3.generate_presigned_url(
            "get_object",
            Params={"Bucket": runtime.settings.s3_bucket, "Key": attachment.object_key},
            ExpiresIn=URL_SECONDS,
        )
    return body


async def check_object(request: Request, attachment: contract.AttachmentOut) -> int:
    """The stored object's size once it passes the checks; a refused object is removed."""
    runtime = _runtime(request)
    s3, bucket = runtime.s3, runtime.settings.s3_bucket
    try:
        head = await asyncio.to_thread(s3.head_object, Bucket=bucket, Key=attachment.object_key)
    except s3.exceptions.ClientError as exc:
        raise Conflict("nothing has been uploaded for this attachment yet") from exc
    size = int(head["ContentLength"])
    if size > min(attachment.size, contract.ATTACHMENT_MAX_BYTES):
        await delete_objects(request, [attachment.object_key])
        raise PayloadTooLarge(
            f"the upload is {size} bytes; {attachment.size} were declared (limit {contract.ATTACHMENT_MAX_BYTES})"
        )
    first = await asyncio.to_thread(s3.get_object, Bucket=bucket, Key=attachment.object_key, Range="bytes=0-15")
    head_bytes: bytes = await asyncio.to_thread(first["Body"].read)
    signatures = SIGNATURES.get(attachment.content_type, ())
    image = any(head_bytes.startswith(sig) for sig in signatures) and (
        attachment.content_type != "image/webp" or head_bytes[8:12] == b"WEBP"
    )
    if not image:
        await delete_objects(request, [attachment.object_key])
        raise NotAnImage(f"the upload is not a {attachment.content_type} image")
    return size


async def delete_objects(request: Request, keys: list[str]) -> None:
    """Best effort: an object left behind costs storage, never correctness."""
    runtime = _runtime(request)
    for key in keys:
        try:
            await asyncio.to_thread(runtime.s3.delete_object, Bucket=runtime.settings.s3_bucket, Key=key)
        except Exception:
            log.warning("could not delete an attachment object", extra={"fields": {"key": key}})
