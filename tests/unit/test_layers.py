"""Import contracts: ``shared`` imports nothing of ours, ``producer`` never imports ``workers``,
inside ``workers`` the layers point one way (glue → agent → actions → browser → policy), and
the judge needs no browser. Relative imports count like absolute ones."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# The queue glue at the root of ``workers``: only it may assemble the layers below.
GLUE = ("workers.celery_app", "workers.tasks", "workers.execution", "workers.assembly",
        "workers.context", "workers.handoff", "workers.runtime", "workers.session_carryover",
        "workers.recording", "workers.live", "workers.task_budget", "workers.browser_sessions",
        "workers.session_uploads", "workers.skill_runs", "workers.browser_profiles")
BROWSER_STACK = ("playwright", "workers.browser", "workers.actions", "workers.agent.runner",
                 "workers.agent.output", "workers.skills", "workers.tasks", "workers.execution",
                 "workers.assembly", "workers.handoff", "workers.runtime", "workers.session_carryover",
                 "workers.recording", "workers.live", "workers.browser_sessions", "workers.skill_runs")

# package (or "package/*.py" for its own modules only) -> prefixes it must never import
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "shared": ("producer", "workers", "playwright", "litellm"),
    "producer": ("workers", "playwright", "litellm"),  # thin: no browser, no LLM
    "workers/*.py": ("producer",),
    "workers/policy": ("workers.agent", "workers.actions", "workers.browser", "workers.judge",
                       "workers.skills", "producer", *GLUE),
    "workers/browser": ("workers.agent", "workers.actions", "workers.judge", "workers.skills",
                        "producer", *GLUE),
    "workers/actions": ("workers.agent", "workers.judge", "producer", *GLUE),
    "workers/agent": ("workers.judge", "producer", *GLUE),
    # the judge worker runs no browser: it must not even import one
    "workers/judge": ("producer", *BROWSER_STACK),
    # nor does the webhook worker
    "workers/webhooks": ("producer", *BROWSER_STACK),
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> list[str]:
    """Every module ``path`` imports, relative imports resolved against its package."""
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    names = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            names.append(base)
            names += [f"{base}.{alias.name}" for alias in node.names]  # `from workers import runtime`
    return names


def files(package: str) -> list[Path]:
    if package.endswith("/*.py"):
        return sorted((ROOT / package.removesuffix("/*.py")).glob("*.py"))
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_layers_point_one_way(package: str) -> None:
    violations = []
    for path in files(package):
        for name in imports(path):
            if any(name == bad or name.startswith(bad + ".") for bad in FORBIDDEN[package]):
                violations.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not violations, "\n".join(sorted(set(violations)))


def test_relative_imports_are_resolved() -> None:
    """The checker itself: ``from .client import Producer`` in producer/__init__.py is producer.client."""
    assert "producer.client" in imports(ROOT / "producer" / "__init__.py")
    assert "producer.api.error_responses" in imports(ROOT / "producer" / "api" / "app.py")


def test_redis_only_behind_the_stores_in_shared() -> None:
    """Outside ``shared`` nothing imports a Redis client or reaches for a store's private one:
    every command goes through a store method (see ``shared/stores.py``)."""
    violations = []
    for package in ("producer", "workers"):
        for path in files(package):
            where = path.relative_to(ROOT)
            violations += [f"{where} imports {name}" for name in imports(path)
                           if name == "redis" or name.startswith("redis.")]
            violations += [f"{where}:{node.lineno} uses ._redis"
                           for node in ast.walk(ast.parse(path.read_text(), str(path)))
                           if isinstance(node, ast.Attribute) and node.attr == "_redis"]
    assert not violations, "\n".join(sorted(set(violations)))
