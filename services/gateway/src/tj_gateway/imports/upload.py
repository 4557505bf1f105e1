"""Receiving an import upload without holding it in memory.

The multipart body is read through a counting ``receive``: past the size limit it stops reading
and answers 413, so an oversized upload is never read whole. Starlette's form parser spools the
file part to a temporary file (in memory only up to 1 MB); from there it is hashed (SHA-256) and
sent to S3 with boto3's managed transfer (multipart, in parts, for large files).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, BinaryIO

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.types import Message

from tj_common.errors import AppError, BadRequest

# Room for the multipart framing and the small fields around the file.
FORM_OVERHEAD = 64 * 1024
HASH_CHUNK = 1024 * 1024


class PayloadTooLarge(AppError):
    status_code = 413
    code = "PayloadTooLarge"


class EmptyUpload(AppError):
    status_code = 400
    code = "EmptyFile"


def too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"the file is over the import size limit of {limit} bytes ({limit // (1024 * 1024)} MiB)")


@dataclass
class Upload:
    file: UploadFile
    fields: dict[str, str]


def limited_request(request: Request, limit: int) -> Request:
    """The same request, whose body reading fails with 413 once it passes ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit + FORM_OVERHEAD:
        raise too_large(limit)
    seen = 0
    receive = request.receive

    async def counted() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit + FORM_OVERHEAD:
                raise too_large(limit)
        return message

    return Request(request.scope, receive=counted)


async def read_upload(request: Request, limit: int) -> Upload:
    content_type = request.headers.get("content-type", "")
    if not content_type.lower().startswith("multipart/form-data"):
        raise BadRequest("send the file as multipart/form-data (fields: file, account_id, format)")
    limited = limited_request(request, limit)
    try:
        form = await limited.form(max_files=1, max_fields=20)
    except AppError:
        raise
    except Exception as exc:  # the multipart parser's own errors: a malformed body
        raise BadRequest(f"the multipart body cannot be read: {exc}") from exc
    file = form.get("file")
    if not isinstance(file, UploadFile):
        raise BadRequest("the multipart body has no file part named 'file'")
    if file.size is not None and file.size > limit:
        raise too_large(limit)
    if not file.size:
        raise EmptyUpload("the file is empty")
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    return Upload(file=file, fields=fields)


def store(s3: Any, bucket: str, key: str, fileobj: BinaryIO, content_type: str | None) -> str:
    """Hash the spooled file and stream it to S3; its SHA-256 (hex). Runs in a thread."""
    digest = hashlib.sha256()
    fileobj.seek(0)
    while chunk := fileobj.read(HASH_CHUNK):
        digest.update(chunk)
    fileobj.seek(0)
    extra = {"ContentType": content_type} if content_type else None
    s3.upload_fileobj(fileobj, bucket, key, ExtraArgs=extra)
    return digest.hexdigest()
