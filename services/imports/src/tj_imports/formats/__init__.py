"""Broker file formats: detection and streaming parsers (see ``base`` and ``registry``)."""
