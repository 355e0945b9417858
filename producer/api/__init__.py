"""The HTTP API (FastAPI): Browser Use Cloud v2 compatible, under ``/api/v2``."""

from producer.api.app import create_app

__all__ = ["create_app"]
