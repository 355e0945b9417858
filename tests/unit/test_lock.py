"""The committed locks still satisfy pyproject.toml (else: run `make lock`).

A fresh machine installs only from the locks, so a range widened or a dependency added in
pyproject.toml without a new lock would silently not be installed there.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
DEV_LOCK = ROOT / "requirements" / "dev.lock"
DEPLOY_LOCK = ROOT / "requirements" / "deploy.lock"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)\s*(?:;\s*([^\\]+?))?\s*\\?$")
SUPPORTED_PYTHONS = ("3.11", "3.12", "3.13")


def read_lock(path: Path) -> list[tuple[str, Version, Marker | None]]:
    pins = []
    for line in path.read_text().splitlines():
        match = PIN.match(line)
        if match:
            marker = Marker(match[3]) if match[3] else None
            pins.append((canonicalize_name(match[1]), Version(match[2]), marker))
    return pins


def pins_for(lock: list[tuple[str, Version, Marker | None]], python: str) -> dict[str, Version]:
    env = {"python_version": python, "python_full_version": f"{python}.0", "sys_platform": "linux",
           "platform_system": "Linux", "platform_machine": "x86_64", "implementation_name": "cpython",
           "platform_python_implementation": "CPython", "os_name": "posix"}
    return {name: version for name, version, marker in lock if marker is None or marker.evaluate(env)}


def requirements(extras: tuple[str, ...]) -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lines = list(project["dependencies"])
    for extra in extras:
        lines += project["optional-dependencies"][extra]
    return [Requirement(line) for line in lines]


@pytest.mark.parametrize(
    ("lock_path", "extras"),
    [(DEV_LOCK, ("api", "flower", "dev", "onepassword")), (DEPLOY_LOCK, ("api", "flower", "onepassword"))],
)
@pytest.mark.parametrize("python", SUPPORTED_PYTHONS)
def test_lock_satisfies_every_declared_requirement(
    lock_path: Path, extras: tuple[str, ...], python: str
) -> None:
    pins = pins_for(read_lock(lock_path), python)
    problems = []
    for req in requirements(extras):
        version = pins.get(canonicalize_name(req.name))
        if version is None:
            problems.append(f"{req.name}: not in {lock_path.name}")
        elif not req.specifier.contains(version, prereleases=True):
            problems.append(f"{req.name}=={version} does not satisfy {req}")
    assert not problems, f"{lock_path.name} is stale for Python {python} (run `make lock`): {problems}"


def test_every_pin_carries_hashes() -> None:
    side = sorted((ROOT / "requirements" / "side").glob("*.lock"))
    assert {p.stem for p in side} == {p.stem for p in (ROOT / "requirements" / "side").glob("*.in")}
    for path in (DEV_LOCK, DEPLOY_LOCK, *side):
        text = path.read_text()
        blocks = re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 2)[-1])
        unhashed = [b.split()[0] for b in blocks if "==" in b.split("\n")[0] and "--hash=sha256:" not in b]
        assert not unhashed, f"{path.name}: pins without hashes {unhashed}"


def test_deploy_lock_is_the_dev_lock_minus_dev_tools() -> None:
    """The image runs exactly the versions the tests ran."""
    dev = {(name, version, str(marker)) for name, version, marker in read_lock(DEV_LOCK)}
    deploy = {(name, version, str(marker)) for name, version, marker in read_lock(DEPLOY_LOCK)}
    assert deploy <= dev, f"deploy.lock pins what dev.lock does not: {sorted(deploy - dev)[:5]}"


def test_pytest_stays_below_the_major_that_breaks_schemathesis() -> None:
    pins = pins_for(read_lock(DEV_LOCK), "3.11")
    assert pins["pytest"] < Version("9"), "schemathesis's pytest plugin fails on pytest 9"
