"""Broker-file imports at the edge: upload to S3, status, progress (SSE), errors, revert, cancel,
column mappings."""
