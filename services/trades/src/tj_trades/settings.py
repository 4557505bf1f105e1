"""Settings of the trades service."""

from __future__ import annotations

from typing import ClassVar

from tj_common.settings import ServiceSettings


class Settings(ServiceSettings):
    service_name: ClassVar[str] = "trades"
