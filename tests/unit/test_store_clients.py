"""Every Redis client of the stores is built in one place, ``shared/stores.py``.

Clients opened here and there (the API's status poll and live feeds once had their own) each
carry their own pool, retry policy and lifetime; with one builder a change of either is one
change. The broker's Redis, when it is one, is the broker's concern (``shared/broker.py``, the
producer's ``ListPublisher``), not a store's.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BUILDERS = {"connect", "connect_async"}
ALLOWED = {"shared/stores.py", "shared/redis_client.py", "shared/broker.py", "shared/task_queue.py"}


def client_builders_called(path: Path) -> set[str]:
    """The names of ``shared.redis_client``'s builders this module imports or calls."""
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "shared.redis_client":
            found |= {alias.name for alias in node.names} & BUILDERS
        if isinstance(node, ast.Attribute) and node.attr in BUILDERS and isinstance(node.value, ast.Name) \
                and node.value.id == "redis_client":
            found.add(node.attr)
    return found


def test_only_the_stores_module_builds_store_clients() -> None:
    offenders = {}
    for package in ("shared", "producer", "workers"):
        for path in (ROOT / package).rglob("*.py"):
            rel = path.relative_to(ROOT).as_posix()
            if rel not in ALLOWED and (called := client_builders_called(path)):
                offenders[rel] = sorted(called)
    assert not offenders, f"Redis clients built outside shared/stores.py: {offenders}"


def test_the_checker_sees_both_spellings(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("from shared.redis_client import connect_async\nfrom shared import redis_client\n"
                      "redis_client.connect('redis://x')\n")
    assert client_builders_called(module) == {"connect", "connect_async"}
