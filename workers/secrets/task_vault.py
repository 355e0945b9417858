"""A task's vault, built in one place for every reader of its secrets: the agent run and the judge.

The vault holds the task's own secrets (decrypted from its record, bound to its id) and,
with ``opVaultId``, its 1Password vault's (own names win). The run types and masks with it;
the judge masks its input with it, so both mask the same values (the judge used to mask with
the task's own secrets only, and a 1Password value the user also wrote in the task's text
reached the judge model). Values live only in the worker's memory (see
:class:`workers.secrets.vault.SecretVault`).

Exceptions::

    crypto.SecretsKeyError          the record's secrets cannot be decrypted with this worker's key
    one_password.OnePasswordError   the 1Password vault cannot be read
"""

from __future__ import annotations

from typing import Any

from shared import crypto
from shared.settings import Settings
from shared.task_store import TaskRecord
from workers.secrets import one_password
from workers.secrets.vault import SecretVault


def own_secrets(record: TaskRecord, settings: Settings) -> dict[str, Any]:
    """The secrets the task was created with (``secrets``), decrypted; none if it has none."""
    if not record.secrets_token:
        return {}
    secrets = crypto.decrypt_json(record.secrets_token, settings.secrets_key, purpose=crypto.TASK_SECRETS,
                                  owner=str(record.id))
    return secrets if isinstance(secrets, dict) else {}


async def task_vault(
    record: TaskRecord, settings: Settings, authenticate: one_password.Authenticate | None = None
) -> SecretVault:
    """The task's vault: its own secrets, plus its 1Password vault's; own names win."""
    vault = SecretVault(own_secrets(record, settings))
    vault_id = record.request.get("op_vault_id")
    if not vault_id:
        return vault
    return vault.merged(await one_password.vault_for(str(vault_id), settings, authenticate))
