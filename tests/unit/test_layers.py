"""Import contracts: ``shared`` imports nothing of ours, ``producer`` never imports ``workers``,
and inside ``workers`` the layers point one way (glue → agent → actions → browser → policy)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# package -> prefixes it must never import
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "shared": ("producer", "workers", "playwright", "litellm"),
    "producer": ("workers", "playwright", "litellm"),  # thin: no browser, no LLM
    "workers/policy": ("workers.agent", "workers.actions", "workers.browser", "workers.execution",
                       "workers.tasks", "workers.judge", "workers.skills", "producer"),
    "workers/browser": ("workers.agent", "workers.actions", "workers.execution", "workers.tasks",
                        "workers.judge", "workers.skills", "producer"),
    "workers/actions": ("workers.agent", "workers.execution", "workers.tasks", "producer"),
    "workers/agent": ("workers.execution", "workers.tasks", "producer"),
}


def _imports(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_layers_point_one_way(package: str) -> None:
    violations = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for name in _imports(path):
            if any(name == bad or name.startswith(bad + ".") for bad in FORBIDDEN[package]):
                violations.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not violations, "\n".join(violations)
