"""A stand-in for the ``onepassword`` package (``onepassword-sdk``) with the same surface.

A worker subprocess gets it first on ``PYTHONPATH``: ``Client.authenticate(auth=...,
integration_name=..., integration_version=...)``, ``client.items.list(vault_id)`` and
``client.items.get(vault_id, item_id)`` behave like the SDK's, answering from the JSON
file named by ``FAKE_OP_DATA``::

    {"token": "...", "vaults": {"<vault id>": [{"id", "title", "websites": [{"url",
     "autofill_behavior"}], "fields": [{"id", "title", "field_type", "value"}]}]}}

Every call is appended to the file named by ``FAKE_OP_CALLS`` (when set), so tests can
check what the worker asked for. A vault named ``rate-limited`` raises the SDK's
``RateLimitExceededException``; a wrong token and an unknown vault raise ``Exception``
with a message, as the SDK does.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class RateLimitExceededException(Exception):
    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


class ItemFieldType(StrEnum):
    TEXT = "Text"
    CONCEALED = "Concealed"
    TOTP = "Totp"
    URL = "Url"
    EMAIL = "Email"


class AutofillBehavior(StrEnum):
    ANYWHEREONWEBSITE = "AnywhereOnWebsite"
    EXACTDOMAIN = "ExactDomain"
    NEVER = "Never"


class ItemState(StrEnum):
    ACTIVE = "active"
    ARCHIVED = "archived"


@dataclass
class Website:
    url: str
    label: str = "website"
    autofill_behavior: AutofillBehavior = AutofillBehavior.ANYWHEREONWEBSITE


@dataclass
class ItemField:
    id: str
    title: str
    field_type: ItemFieldType
    value: str
    section_id: str | None = None


@dataclass
class ItemOverview:
    id: str
    title: str
    vault_id: str
    websites: list[Website] = field(default_factory=list)
    state: ItemState = ItemState.ACTIVE


@dataclass
class Item:
    id: str
    title: str
    vault_id: str
    fields: list[ItemField] = field(default_factory=list)
    websites: list[Website] = field(default_factory=list)


def _record(call: dict[str, Any]) -> None:
    path = os.environ.get("FAKE_OP_CALLS")
    if path:
        with open(path, "a") as out:
            out.write(json.dumps(call) + "\n")


def _load() -> dict[str, Any]:
    with open(os.environ["FAKE_OP_DATA"]) as data:
        return dict(json.load(data))


def _item(vault_id: str, raw: dict[str, Any]) -> Item:
    return Item(
        id=raw["id"],
        title=raw["title"],
        vault_id=vault_id,
        fields=[
            ItemField(f["id"], f["title"], ItemFieldType(f["field_type"]), f["value"]) for f in raw["fields"]
        ],
        websites=[
            Website(w["url"], autofill_behavior=AutofillBehavior(w["autofill_behavior"]))
            for w in raw.get("websites", [])
        ],
    )


class Items:
    def __init__(self, data: dict[str, Any]) -> None:
        self._data = data

    def _vault(self, vault_id: str) -> list[dict[str, Any]]:
        if vault_id == "rate-limited":
            raise RateLimitExceededException("rate limit exceeded")
        if vault_id not in self._data["vaults"]:
            raise Exception(f"error resolving vault {vault_id}: vault not found")
        return list(self._data["vaults"][vault_id])

    async def list(self, vault_id: str, *filters: Any) -> list[ItemOverview]:
        _record({"call": "items.list", "vault_id": vault_id, "filters": len(filters)})
        return [
            ItemOverview(raw["id"], raw["title"], vault_id, state=ItemState(raw.get("state", "active")))
            for raw in self._vault(vault_id)
        ]

    async def get(self, vault_id: str, item_id: str) -> Item:
        _record({"call": "items.get", "vault_id": vault_id, "item_id": item_id})
        for raw in self._vault(vault_id):
            if raw["id"] == item_id:
                return _item(vault_id, raw)
        raise Exception(f"item {item_id} not found")


class Client:
    items: Items

    @classmethod
    async def authenticate(cls, auth: str, integration_name: str, integration_version: str) -> Client:
        _record({"call": "authenticate", "integration_name": integration_name})
        data = _load()
        if auth != data["token"]:
            raise Exception("invalid service account token")
        client = cls()
        client.items = Items(data)
        return client
