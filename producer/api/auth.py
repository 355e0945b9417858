"""API keys: ``X-Browser-Use-API-Key`` checked against keys from settings, kept only as hashes.

Settings may hold raw keys or ``sha256:<hex>`` digests (so a config never needs the
key itself); either way only the SHA-256 digest stays in memory. A *scoped* key acts
as its own owner: it sees and controls only the tasks and sessions it created. A
full-access key acts as an administrator (owner ``None``).
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request, Security
from fastapi.security import APIKeyHeader

HEADER = "X-Browser-Use-API-Key"
_HEX64 = re.compile(r"^[0-9a-f]{64}$")

api_key_header = APIKeyHeader(
    name=HEADER,
    scheme_name="APIKeyHeader",
    description="One of the keys in BROWSERFLEET_API_KEYS or BROWSERFLEET_SCOPED_API_KEYS.",
    auto_error=False,
)


class ApiKeyConfigError(ValueError):
    """The configured keys are unusable (none at all, or a malformed digest)."""


@dataclass(frozen=True)
class Caller:
    """Who is calling: the key's public id and the owner it acts as (``None`` = full access)."""

    key_id: uuid.UUID
    owner: str | None
    op_vaults: frozenset[str] | None = None  # None: any vault (full access)
    skills: frozenset[str] | None = None  # None: any skill (full access); "*": every skill

    def may_use_vault(self, vault_id: str) -> bool:
        return self.op_vaults is None or vault_id in self.op_vaults

    def may_use_skill(self, slug: str) -> bool:
        return self.skills is None or "*" in self.skills or slug in self.skills


def digest(entry: str) -> str:
    """The SHA-256 hex digest of a configured key (raw, or already ``sha256:<hex>``)."""
    if entry.startswith("sha256:"):
        value = entry.removeprefix("sha256:").strip().lower()
        if not _HEX64.match(value):
            raise ApiKeyConfigError("an API key entry 'sha256:...' must hold 64 hex digits")
        return value
    return hashlib.sha256(entry.encode()).hexdigest()


class ApiKeys:
    """The accepted keys, by digest."""

    def __init__(
        self,
        full: Iterable[str],
        scoped: Iterable[str] = (),
        op_vaults: Mapping[str, Iterable[str]] | None = None,
        skills: Mapping[str, Iterable[str]] | None = None,
    ) -> None:
        self._callers: dict[str, Caller] = {}
        vaults = {digest(key): frozenset(ids) for key, ids in (op_vaults or {}).items()}
        bound_skills = {digest(key): frozenset(ids) for key, ids in (skills or {}).items()}
        for entries, is_scoped in ((full, False), (scoped, True)):
            for entry in entries:
                hexdigest = digest(entry)
                owner = f"key:{hexdigest[:16]}" if is_scoped else None
                caller = Caller(uuid.UUID(hexdigest[:32]), owner)
                if is_scoped:  # a scoped key may use only what an operator bound to it
                    caller = Caller(caller.key_id, owner, vaults.get(hexdigest, frozenset()),
                                    bound_skills.get(hexdigest, frozenset()))
                self._callers[hexdigest] = caller
        scoped_digests = {d for d, c in self._callers.items() if c.owner is not None}
        for setting, bound in (("BROWSERFLEET_API_KEY_OP_VAULTS", vaults),
                               ("BROWSERFLEET_API_KEY_SKILLS", bound_skills)):
            if set(bound) - scoped_digests:
                raise ApiKeyConfigError(
                    f"{setting} names keys that are not scoped API keys (full-access keys may use any)"
                )
        if not self._callers:
            raise ApiKeyConfigError(
                "no API keys configured: set BROWSERFLEET_API_KEYS (comma-separated; "
                "raw keys or sha256:<hex digests>)"
            )

    def check(self, presented: str | None) -> Caller:
        """The caller for a presented key; 401 when missing or unknown."""
        if not presented:
            raise HTTPException(401, f"Missing {HEADER} header")
        caller = self._callers.get(hashlib.sha256(presented.encode()).hexdigest())
        if caller is None:
            raise HTTPException(401, "Invalid API key")
        return caller


async def current_caller(request: Request, key: Annotated[str | None, Security(api_key_header)]) -> Caller:
    """Async on purpose (a hash and a dict lookup): a sync dependency costs a thread-pool hop."""
    keys: ApiKeys = request.app.state.api_keys
    return keys.check(key)


CallerDep = Annotated[Caller, Depends(current_caller)]
