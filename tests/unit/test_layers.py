"""Import contracts: ``shared`` imports nothing of ours, ``producer`` never imports ``workers``,
``workers`` is a house of floors whose imports only point down, and the judge and webhook
workers reach no browser code. Relative imports and imports inside functions count like any.

The floors of ``workers`` (docs/design.md, "The worker's floors"), top to bottom: a folder may
import its own modules and any folder on a floor below its own, never a folder beside it or above.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

FLOORS: tuple[tuple[str, ...], ...] = (
    ("workers/*.py",),  # what Celery loads: the app with its signal handlers, the agent worker's tasks
    ("workers/run", "workers/browser_sessions", "workers/judge", "workers/webhooks"),  # one job each
    ("workers/agent",),  # the step loop, prompts, the LLM client and its fleet-wide limiter
    ("workers/skills",),  # operator skills (an action each)
    ("workers/actions",),  # one module per action
    ("workers/watch",),  # frames and video: live view, screencasts, recordings
    ("workers/egress",),  # the egress proxy, its upstreams, name resolver and the task's guard
    ("workers/browser",),  # Chromium, the pool on the loop, a context's tabs, a CDP client
    ("workers/page",),  # reading a page (DOM capture) and writing it (fields, clicks, overlays)
    ("workers/secrets",),  # the vault, its builder, masking in logs, what a page shows, releasing a value
    ("workers/policy",),  # pure rules: network, navigation, CDP commands
    ("workers/process",),  # the process's own objects: Celery app, event loop thread, stores, leases
)

# The judge and webhook workers run no browser: nothing they import, however indirectly, may.
BROWSER_CODE = ("playwright", "workers.browser", "workers.page", "workers.egress", "workers.watch",
                "workers.actions", "workers.skills", "workers.run", "workers.browser_sessions",
                "workers.agent.runner", "workers.agent.output", "workers.agent.state",
                "workers.secrets.exposure", "workers.agent_tasks")
NO_BROWSER = ("workers/judge", "workers/webhooks", "workers/process", "workers/policy")

# package (or "package/*.py" for its own modules only) -> prefixes it must never import
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "shared": ("producer", "workers", "playwright", "litellm"),
    "producer": ("workers", "playwright", "litellm"),  # thin: no browser, no LLM
    "workers": ("producer",),
}


def _dotted(folder: str) -> str:
    return folder.removesuffix("/*.py").replace("/", ".")


def _above_or_beside(floor: int, folder: str) -> tuple[str, ...]:
    """What a folder on ``floor`` may not import: every folder on its floor or above but itself."""
    return tuple(_dotted(f) for level in FLOORS[: floor + 1] for f in level if f != folder and "*" not in f)


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


def _matches(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == bad or name.startswith(bad + ".") for bad in prefixes)


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_packages_point_one_way(package: str) -> None:
    violations = [f"{path.relative_to(ROOT)} imports {name}"
                  for path in files(package) for name in imports(path) if _matches(name, FORBIDDEN[package])]
    assert not violations, "\n".join(sorted(set(violations)))


@pytest.mark.parametrize("floor,folder", [(n, f) for n, level in enumerate(FLOORS) for f in level])
def test_workers_floors_import_only_downward(floor: int, folder: str) -> None:
    """No back edge: a floor never imports one above it, and folders on one floor stay apart."""
    banned = _above_or_beside(floor, folder)
    if folder != "workers/*.py":  # the root's two modules are the top floor: nothing may import them
        banned += ("workers.celery_app", "workers.agent_tasks")
    violations = [f"{path.relative_to(ROOT)} imports {name}"
                  for path in files(folder) for name in imports(path) if _matches(name, banned)]
    assert not violations, "\n".join(sorted(set(violations)))


def test_every_workers_folder_is_on_a_floor() -> None:
    """A new folder must be given its floor here (and in docs/design.md) before it is used."""
    placed = {f for level in FLOORS for f in level}
    folders = {f"workers/{d.name}" for d in (ROOT / "workers").iterdir()
               if d.is_dir() and (d / "__init__.py").exists()}
    assert folders <= placed, f"not on a floor: {sorted(folders - placed)}"


def _module_file(name: str) -> Path | None:
    base = ROOT / Path(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.exists():
            return candidate
    return None


def reached(package: str) -> dict[str, str]:
    """Every module ``package``'s files import, directly or through our modules: name -> who."""
    seen: dict[str, str] = {}
    todo = [(name, str(path.relative_to(ROOT))) for path in files(package) for name in imports(path)]
    while todo:
        name, via = todo.pop()
        if name in seen:
            continue
        seen[name] = via
        path = _module_file(name) if name.split(".")[0] in ("workers", "shared") else None
        if path is not None:
            todo += [(inner, name) for inner in imports(path)]
    return seen


@pytest.mark.parametrize("package", NO_BROWSER)
def test_no_browser_code_behind_the_judge_and_webhook_workers(package: str) -> None:
    violations = [f"{package} reaches {name} (imported by {via})"
                  for name, via in reached(package).items() if _matches(name, BROWSER_CODE)]
    assert not violations, "\n".join(sorted(violations))


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


def test_the_docs_name_only_workers_paths_that_exist() -> None:
    """The README's "where each concern lives" and docs/ follow every move (a stale path is a
    newcomer sent to a file that is not there)."""
    folders = "|".join(f.removeprefix("workers/") for level in FLOORS for f in level if "*" not in f)
    # `page/dom.py` stands for workers/page/dom.py
    named = re.compile(rf"`((?:workers/|(?:{folders})/)[A-Za-z0-9_/.]*)`")
    stale = [f"{doc.relative_to(ROOT)}: {path}"
             for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
             for path in named.findall(doc.read_text())
             if not (ROOT / path.rstrip("/")).exists() and not (ROOT / "workers" / path.rstrip("/")).exists()]
    assert not stale, "\n".join(stale)
