"""Browser Use Cloud's webhook signature, so receivers verify with the official SDK.

The body is the event as compact JSON with sorted keys (``json.dumps(..., separators=(",", ":"),
sort_keys=True)``, ASCII-escaped like Python's default), and the signature is the hex
HMAC-SHA256, keyed by the secret, of ``"{timestamp}." + body``, where ``timestamp`` is the
``X-Browser-Use-Timestamp`` header (unix seconds, the moment of sending: receivers reject old
ones). ``browser_use_sdk.lib.webhooks.verify_webhook_event_signature`` re-serialises the parsed
body the same way; sending exactly that serialisation keeps the two byte for byte equal.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

SIGNATURE_HEADER = "X-Browser-Use-Signature"
TIMESTAMP_HEADER = "X-Browser-Use-Timestamp"
DELIVERY_HEADER = "X-Browserfleet-Delivery-Id"  # the same for every attempt of one event
ATTEMPT_HEADER = "X-Browserfleet-Attempt"
USER_AGENT = "browserfleet-webhooks/1"


def serialize(body: dict[str, Any]) -> str:
    """The body as sent and as signed."""
    return json.dumps(body, separators=(",", ":"), sort_keys=True)


def sign(body: str, timestamp: str, secret: str) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.{body}".encode(), hashlib.sha256).hexdigest()


def signed_headers(body: str, timestamp: int, secret: str, delivery_id: str, attempt: int) -> dict[str, str]:
    stamp = str(timestamp)
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        SIGNATURE_HEADER: sign(body, stamp, secret),
        TIMESTAMP_HEADER: stamp,
        DELIVERY_HEADER: delivery_id,
        ATTEMPT_HEADER: str(attempt),
    }
