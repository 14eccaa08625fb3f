"""The locks match pyproject.toml: every declared dependency is pinned in them, at a version its range allows, and
the app's lock agrees with the dev lock on every package they share (scripts/lock.sh remakes them)."""

import tomllib
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def _name(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def _pins(lock: str) -> dict[str, str]:
    pins = {}
    for line in (ROOT / lock).read_text(encoding="utf-8").splitlines():
        if "==" in line and not line.startswith(("#", " ", "-")):
            name, version = line.split("==", 1)
            pins[_name(name)] = version.strip()
    return pins


def _unpinned(declared: list[str], pins: dict[str, str]) -> list[str]:
    wrong = []
    for text in declared:
        requirement = Requirement(text)
        version = pins.get(_name(requirement.name))
        if version is None or not requirement.specifier.contains(version, prereleases=True):
            wrong.append(f"{text} (locked: {version})")
    return wrong


def test_every_dependency_is_locked_within_its_range() -> None:
    app, dev = _pins("requirements.txt"), _pins("requirements-dev.txt")
    extras = PROJECT["optional-dependencies"]
    assert _unpinned(PROJECT["dependencies"], app) == [], "requirements.txt is stale: run scripts/lock.sh"
    assert _unpinned(PROJECT["dependencies"] + extras["dev"] + extras["ray"], dev) == [], (
        "requirements-dev.txt is stale: run scripts/lock.sh"
    )


def test_the_locks_are_one_environment_made_by_the_lock_script() -> None:
    app, dev = _pins("requirements.txt"), _pins("requirements-dev.txt")
    assert {name: dev.get(name) for name in app} == app, "the locks disagree: run scripts/lock.sh"
    for lock in ("requirements.txt", "requirements-dev.txt"):
        head = (ROOT / lock).read_text(encoding="utf-8").splitlines()[:3]
        assert (
            head[0] == "--extra-index-url https://download.pytorch.org/whl/cpu"
            and "uv pip compile pyproject.toml" in head[2]
        )
    assert app["torch"].endswith("+cpu"), "the lock must pin the CPU build of torch"
    assert not any(name.startswith("nvidia-") for name in dev), "a CUDA torch crept into the lock"
