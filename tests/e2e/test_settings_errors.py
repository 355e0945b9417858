"""A settings error at start says which setting is wrong, never what the secrets hold.

Run as an operator would: ``browserfleet api`` with a broken configuration. Before, pydantic
printed the input it refused; for a check across settings (the time budgets) that input is every
setting, so the API keys and the secrets key appeared in the terminal and the container log.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from shared.crypto import new_key

API_KEY = "sk-live-operator-3c9f1a7e2b"
SECRETS_KEY = new_key()


def _start(**env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("BROWSERFLEET_")}
    result = subprocess.run(
        [sys.executable, "-m", "producer.cli", "api", "--port", "1"],
        env={**clean, "BROWSERFLEET_API_KEYS": API_KEY, "BROWSERFLEET_SECRETS_KEY": SECRETS_KEY,
             "BROWSERFLEET_SCOPED_API_KEYS": "sk-scoped-tenant-77aa", **env},
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode != 0
    return result.stdout + result.stderr


@pytest.mark.parametrize(("env", "named"), [
    ({"BROWSERFLEET_STEP_TIMEOUT_S": "5000"}, "time budgets must nest"),  # a check across settings
    ({"BROWSERFLEET_API_KEY_OP_VAULTS": '{"sk-scoped-tenant-77aa": "not-a-list"}'}, "api_key_op_vaults"),
    ({"BROWSERFLEET_LIVE_MAX_VIEWERS": "-1"}, "live_max_viewers"),
])
def test_a_settings_error_names_the_setting_and_shows_no_value(env: dict[str, str], named: str) -> None:
    output = _start(**env)
    assert named in output, output[-2000:]
    for secret in (API_KEY, SECRETS_KEY, "sk-scoped-tenant-77aa"):
        assert secret not in output, f"{secret[:8]}... printed:\n{output[-2000:]}"


def test_the_secrets_key_never_shows_in_the_settings_repr() -> None:
    from shared.settings import Settings

    settings = Settings(secrets_key=SECRETS_KEY, api_keys=[API_KEY])
    assert SECRETS_KEY not in repr(settings) and SECRETS_KEY not in str(settings.model_dump())
