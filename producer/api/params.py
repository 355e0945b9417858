"""Query parameter types shared by the routes."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator

_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")


def _iso_only(value: Any) -> Any:
    """A date-time is an ISO 8601 string (pydantic alone would also take a bare number)."""
    if isinstance(value, str) and not _ISO.match(value):
        raise ValueError("must be an ISO 8601 date-time, e.g. 2025-01-31T12:00:00Z")
    return value


def _utc_if_naive(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


IsoDateTime = Annotated[datetime, BeforeValidator(_iso_only), AfterValidator(_utc_if_naive)]
