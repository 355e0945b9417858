"""opVaultId: items become scoped secrets; the SDK calls are pinned; errors are clear and token-free."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

import pyotp
import pytest
from pydantic import SecretStr

from shared import crypto
from shared.models import TaskStatus
from shared.settings import Settings
from shared.task_store import TaskRecord, utcnow
from tests.support.fake_sdk import onepassword as fake
from workers.secrets import one_password as op
from workers.secrets.task_vault import task_vault
from workers.secrets.vault import SecretScopeError, SecretVault, SiteScope

TOKEN = "ops_fake-service-account-token-0123456789"
SEED = pyotp.random_base32()
def _field(fid: str, title: str, kind: str, value: str) -> dict[str, str]:
    return {"id": fid, "title": title, "field_type": kind, "value": value}


def _site(url: str, behavior: str = "AnywhereOnWebsite") -> dict[str, str]:
    return {"url": url, "autofill_behavior": behavior}


VAULT = [
    {
        "id": "itm1",
        "title": "GitHub",
        "websites": [_site("https://github.com/login")],
        "fields": [
            _field("username", "username", "Text", "octocat"),
            _field("password", "password", "Concealed", "gh-s3cret-pass"),
            _field("totp", "one-time password", "Totp", SEED),
            _field("site", "website", "Url", "https://github.com"),
            _field("empty", "notes", "Text", ""),
        ],
    },
    {
        "id": "itm2",
        "title": "Intranet Wiki",
        "websites": [_site("wiki.corp.example:8443", "ExactDomain")],
        "fields": [_field("password", "Password", "Concealed", "wiki-pw")],
    },
    {"id": "itm3", "title": "Old", "state": "archived", "fields": [_field("pw", "pw", "Concealed", "old")]},
    {
        "id": "itm4",
        "title": "Nowhere",
        "websites": [_site("https://example.com", "Never")],
        "fields": [_field("password", "password", "Concealed", "never-pw")],
    },
    {"id": "itm5", "title": "API", "fields": [_field("credential", "credential", "Concealed", "api-key-1")]},
]


@pytest.fixture
def fake_vaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    data, calls = tmp_path / "op.json", tmp_path / "calls.jsonl"
    data.write_text(json.dumps({"token": TOKEN, "vaults": {"vault-1": VAULT}}))
    monkeypatch.setenv("FAKE_OP_DATA", str(data))
    monkeypatch.setenv("FAKE_OP_CALLS", str(calls))
    return calls


def _read(vault_id: str = "vault-1", token: str = TOKEN) -> SecretVault:
    return asyncio.run(op.read_vault(vault_id, token, fake.Client.authenticate))


def test_items_become_named_scoped_secrets(fake_vaults: Path) -> None:
    vault = _read()
    assert vault.names == ["api_credential", "github_password", "github_totp", "github_username",
                           "intranet_wiki_password"]
    assert vault.scope("github_password") == (SiteScope("github.com"),)
    wiki = SiteScope("wiki.corp.example", subdomains=False, port=8443)
    assert vault.scope("intranet_wiki_password") == (wiki,)
    assert vault.scope("api_credential") == ()  # no website: usable wherever the task may go
    github = "https://github.com/login"
    assert vault.reveal("<secret>github_password</secret>", url=github) == "gh-s3cret-pass"
    assert vault.reveal("<secret>github_totp</secret>", url=github) == pyotp.TOTP(SEED).now()
    with pytest.raises(SecretScopeError):
        vault.reveal("<secret>github_password</secret>", url="https://evil.example/")
    with pytest.raises(SecretScopeError):
        vault.reveal("<secret>intranet_wiki_password</secret>", url="https://wiki.corp.example/")
    masked = vault.mask("octocat / gh-s3cret-pass")
    assert masked == "<secret>github_username</secret> / <secret>github_password</secret>"


def test_the_exact_sdk_calls_are_pinned(fake_vaults: Path) -> None:
    """Client.authenticate(auth=, integration_name=, integration_version=), items.list, items.get."""
    seen: list[tuple[str, Any]] = []

    class Items:
        async def list(self, *args: Any, **kwargs: Any) -> list[fake.ItemOverview]:
            seen.append(("items.list", (args, kwargs)))
            return [fake.ItemOverview("itm5", "API", "vault-1")]

        async def get(self, *args: Any, **kwargs: Any) -> fake.Item:
            seen.append(("items.get", (args, kwargs)))
            field = fake.ItemField("c", "credential", fake.ItemFieldType.CONCEALED, "k-credential-1")
            return fake.Item("itm5", "API", "vault-1", [field])

    class Client:
        items = Items()

    async def authenticate(*args: Any, **kwargs: Any) -> Client:
        seen.append(("authenticate", (args, kwargs)))
        return Client()

    vault = asyncio.run(op.read_vault("vault-1", TOKEN, authenticate))
    assert vault.names == ["api_credential"]
    assert seen == [
        ("authenticate", ((), {"auth": TOKEN, "integration_name": "browserfleet",
                               "integration_version": op._version()})),
        ("items.list", (("vault-1",), {})),
        ("items.get", (("vault-1", "itm5"), {})),
    ]


def test_the_real_sdk_is_driven_with_the_same_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    """Through the installed onepassword-sdk, down to the invocations its native core receives."""
    client_module = pytest.importorskip("onepassword.client")
    invocations: list[dict[str, Any]] = []
    configs: list[dict[str, Any]] = []
    common = {
        "id": "itm5", "title": "API", "category": "ApiCredentials", "vaultId": "vault-1", "websites": [],
        "tags": [], "createdAt": "2024-01-01T00:00:00Z", "updatedAt": "2024-01-01T00:00:00Z",
    }
    overview = {**common, "state": "active"}
    field = {"id": "credential", "title": "credential", "fieldType": "Concealed", "value": "k-123"}
    item = {**common, "fields": [field], "sections": [], "notes": "", "version": 1, "files": []}

    class Core:
        async def init_client(self, config: dict[str, Any]) -> int:
            configs.append(config)
            return 7

        async def invoke(self, invocation: dict[str, Any]) -> str:
            invocations.append(invocation["invocation"])
            name = invocation["invocation"]["parameters"]["name"]
            return json.dumps([overview] if name == "ItemsList" else item)

        def release_client(self, client_id: int) -> None:
            pass

    monkeypatch.setattr(client_module, "UniffiCore", Core)
    vault = asyncio.run(op.read_vault("vault-1", TOKEN))
    assert vault.names == ["api_credential"]
    assert configs[0]["serviceAccountToken"] == TOKEN and configs[0]["integrationName"] == "browserfleet"
    assert [i["parameters"] for i in invocations] == [
        {"name": "ItemsList", "parameters": {"vault_id": "vault-1", "filters": []}},
        {"name": "ItemsGet", "parameters": {"vault_id": "vault-1", "item_id": "itm5"}},
    ]


@pytest.mark.parametrize(
    ("vault_id", "token", "message"),
    [
        ("vault-1", "wrong-token", "1Password could not read vault 'vault-1': invalid service account token"),
        ("no-such", TOKEN, "1Password could not read vault 'no-such': error resolving vault no-such"),
        ("rate-limited", TOKEN, "1Password rate limit exceeded while reading vault 'rate-limited'"),
    ],
)
def test_errors_end_the_task_with_a_clear_reason(
    fake_vaults: Path, vault_id: str, token: str, message: str
) -> None:
    with pytest.raises(op.OnePasswordError) as info:
        _read(vault_id, token)
    assert str(info.value).startswith(message)


def test_the_token_never_appears_in_an_error() -> None:
    async def authenticate(**kwargs: Any) -> Any:
        raise Exception(f"token {kwargs['auth']} rejected")

    with pytest.raises(op.OnePasswordError) as info:
        asyncio.run(op.read_vault("v", TOKEN, authenticate))
    assert TOKEN not in str(info.value) and "<token>" in str(info.value)


def _record(settings: Settings, own: dict[str, str], **request: Any) -> TaskRecord:
    """A stored task with ``own`` secrets sealed for it, as the producer writes one."""
    task_id = uuid.uuid4()
    token = crypto.encrypt_json(own, settings.secrets_key, purpose=crypto.TASK_SECRETS, owner=str(task_id))
    return TaskRecord(id=task_id, session_id=uuid.uuid4(), llm="browser-use-2.0", task="t",
                      status=TaskStatus.created, created_at=utcnow(), request={"task": "t", **request},
                      secrets_token=token)


def test_task_vault_merges_and_needs_a_token(fake_vaults: Path) -> None:
    """One builder for the run and the judge: the record's own secrets, then its 1Password vault's."""
    key = SecretStr(crypto.new_key())
    no_token = Settings(op_service_account_token=None, secrets_key=key)
    own = {"github_password": "mine"}
    record = _record(no_token, own, op_vault_id="vault-1")
    with pytest.raises(op.OnePasswordError, match="needs OP_SERVICE_ACCOUNT_TOKEN"):
        asyncio.run(task_vault(record, no_token))
    settings = Settings(op_service_account_token=SecretStr(TOKEN), secrets_key=key)
    vault = asyncio.run(task_vault(record, settings, fake.Client.authenticate))
    assert "api_credential" in vault.names
    assert vault.reveal("<secret>github_password</secret>", url="https://anywhere.example/") == "mine"
    plain = asyncio.run(task_vault(_record(no_token, {"a": "bbbb"}), no_token))
    assert plain.names == ["a"]
    calls = [json.loads(line)["call"] for line in fake_vaults.read_text().splitlines()]
    assert calls[0] == "authenticate" and calls[1] == "items.list"
    with pytest.raises(crypto.SecretsKeyError):  # sealed for another task: never opened
        asyncio.run(task_vault(record.model_copy(update={"id": uuid.uuid4()}), settings))


def test_missing_sdk_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real_import = builtins.__import__

    def no_sdk(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "onepassword":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_sdk)
    with pytest.raises(op.OnePasswordError, match=r"pip install 'browserfleet\[onepassword\]'"):
        op.sdk_authenticate()
