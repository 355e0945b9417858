"""Whether a secret may leave the vault for a field, and its value if so: the secret half of typing.

A text with placeholders is revealed only for a document that may receive it: the field's
document and every frame above it are http(s) pages (never ``data:``, ``blob:``, ``about:``,
``javascript:``, ``file:``), pass the task's navigation guard (``allowedDomains``, network
rules) and each secret's own scope. The page half (finding the frames, refusing sandboxed
ones, setting the value inside the field's own document, reading back whether it was kept)
is :func:`workers.page.field_writer.type_secret`, the one writer of fields, which calls this.
"""

from __future__ import annotations

from collections.abc import Sequence

from workers.policy.navigation import NavigationGuard, secret_destination_reason
from workers.process import worker_metrics
from workers.secrets.vault import SecretVault, UnknownSecretError


class SecretRefused(Exception):
    """No value is released: the message says why (never the value)."""


def refused(reason: str) -> SecretRefused:
    """A refusal, counted (``SECRET_REFUSALS``)."""
    worker_metrics.SECRET_REFUSALS.inc()
    return SecretRefused(reason)


def release(text: str, vault: SecretVault, guard: NavigationGuard, chain: Sequence[str]) -> str:
    """``text`` with its placeholders revealed for the field whose document is ``chain[0]`` and
    whose enclosing frames are ``chain[1:]``; :class:`SecretRefused` if any may not receive it."""
    for where in chain:
        reason = secret_destination_reason(where) or guard(where)
        if reason:
            raise refused(f"secrets are not typed on {where[:300]}: {reason}")
    try:
        for where in chain[1:]:
            vault.check_use(text, where)
        return vault.reveal(text, url=chain[0])
    except UnknownSecretError as exc:
        raise refused(str(exc)) from None
