"""Finding skills, publishing their manifest, and choosing a task's skills.

Skills come from three places, in this order (the first of two with one id wins):
the built-ins (``builtin_skills``), the ``browserfleet.skills`` entry-point group
(installed packages), and ``skills_dir`` (``*.py`` files of the operator). A module that
fails to import is logged and skipped: the worker still serves the others, and the
producer rejects the missing ids because they are not in the manifest.

Workers publish the manifest (id, title, description, parameter JSON schema) into
``keys.SKILLS`` when they start; the producer validates ``skillIds`` and lists skills
from it without importing worker code. Entries are only added or replaced, never
removed by a worker (a rolling deploy would make skills flap): remove a retired skill
with ``HDEL bf:skills <id>``.
"""

from __future__ import annotations

import importlib.util
import logging
import sys
import types
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from shared.settings import Settings, get_settings
from shared.skill_ids import ALL
from shared.skill_manifests import SkillManifests
from workers.actions.base import Action
from workers.skills.base import Skill
from workers.skills.files import TaskFiles

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "browserfleet.skills"


class UnknownSkillError(LookupError):
    """A task asks for a skill this worker does not have (the fleet runs mixed versions)."""


def skills_in(obj: Any) -> list[Skill]:
    """The skills an entry point or module offers: a Skill, an iterable of them, or a module."""
    if isinstance(obj, Skill):
        return [obj]
    if isinstance(obj, types.ModuleType):
        return [value for value in vars(obj).values() if isinstance(value, Skill)]
    if isinstance(obj, Iterable) and not isinstance(obj, str | bytes):
        found = list(obj)
        if all(isinstance(s, Skill) for s in found):
            return found
    raise TypeError(f"expected a Skill, a list of skills or a module, got {type(obj).__name__}")


def builtin_skills() -> list[Skill]:
    from workers.skills.builtin import BUILTIN_SKILLS

    return list(BUILTIN_SKILLS)


def entry_point_skills() -> list[tuple[str, list[Skill]]]:
    found = []
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        source = f"entry point {entry.name} ({entry.value})"
        try:
            found.append((source, skills_in(entry.load())))
        except Exception:
            log.exception("skills of %s not loaded", source)
    return found


def directory_skills(directory: str | Path) -> list[tuple[str, list[Skill]]]:
    """Import every ``*.py`` of ``directory`` (not starting with ``_``) and collect its skills."""
    root = Path(directory)
    if not root.is_dir():
        log.error("skills_dir %s is not a directory; no skills loaded from it", root)
        return []
    found = []
    for path in sorted(root.glob("*.py")):
        if path.name.startswith("_"):
            continue
        name = f"browserfleet_skills_dir.{path.stem}"
        try:
            spec = importlib.util.spec_from_file_location(name, path)
            if spec is None or spec.loader is None:
                raise ImportError(f"cannot import {path}")
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            spec.loader.exec_module(module)
            found.append((str(path), skills_in(module)))
        except Exception:
            sys.modules.pop(name, None)
            log.exception("skills of %s not loaded", path)
    return found


def load_registry(settings: Settings) -> dict[str, Skill]:
    """Every skill this worker offers, by id."""
    sources: list[tuple[str, list[Skill]]] = []
    if settings.builtin_skills:
        sources.append(("built-in", builtin_skills()))
    sources += entry_point_skills()
    if settings.skills_dir:
        sources += directory_skills(settings.skills_dir)
    registry: dict[str, Skill] = {}
    for source, found in sources:
        for item in found:
            if item.id in registry and registry[item.id] is not item:
                log.error("skill %s from %s ignored: the id is already taken", item.id, source)
                continue
            registry[item.id] = item
    return registry


@lru_cache(maxsize=1)
def get_registry() -> dict[str, Skill]:
    """This process's skills (loaded once)."""
    return load_registry(get_settings())


def publish_manifest(manifests: SkillManifests, registry: Mapping[str, Skill], worker: str) -> None:
    """Add or replace every skill's manifest entry, so producers validate ``skillIds``."""
    if not registry:
        return
    stamp = datetime.now(UTC).isoformat()
    entries = {
        skill_id: {**item.manifest(), "publishedBy": worker, "publishedAt": stamp}
        for skill_id, item in registry.items()
    }
    manifests.publish(entries)
    log.info("published %d skills: %s", len(entries), ", ".join(sorted(entries)))


def select_skills(registry: Mapping[str, Skill], skill_ids: Sequence[str] | None) -> list[Skill]:
    """The skills a task asked for (``["*"]`` = all); unknown ids raise :class:`UnknownSkillError`."""
    if not skill_ids:
        return []
    if ALL in skill_ids:
        return list(registry.values())
    missing = [s for s in skill_ids if s not in registry]
    if missing:
        raise UnknownSkillError(
            f"skill(s) {', '.join(missing)} not installed on this worker; installed: "
            f"{', '.join(sorted(registry)) or '(none)'}"
        )
    return [registry[s] for s in dict.fromkeys(skill_ids)]


def skill_actions(
    registry: Mapping[str, Skill], skill_ids: Sequence[str] | None, files: TaskFiles | None
) -> dict[str, Action]:
    """The agent actions for a task's skills, by action name."""
    return {s.action_name: s.action(files) for s in select_skills(registry, skill_ids)}
