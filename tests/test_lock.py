"""The locks (requirements.txt, requirements-test.txt) pin every package pyproject.toml asks for, with hashes, at
versions its ranges allow: a dependency added to pyproject.toml without `make lock` fails here, not on a fresh
machine."""

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from app import ROOT

PROJECT = tomllib.loads((Path(ROOT) / "pyproject.toml").read_text())["project"]


def pins(lock: str) -> dict[str, str]:
    text = (Path(ROOT) / lock).read_text()
    found = {}
    for block in re.split(r"\n(?=\S)", text):
        match = re.match(r"([A-Za-z0-9_.\-]+)==(\S+)", block)
        if match:
            assert "--hash=sha256:" in block, f"{lock}: {match.group(1)} has no hash"
            found[canonicalize_name(match.group(1))] = match.group(2)
    return found


@pytest.mark.parametrize(
    ("lock", "wanted"),
    [
        ("requirements.txt", PROJECT["dependencies"]),
        ("requirements-test.txt", PROJECT["dependencies"] + PROJECT["optional-dependencies"]["test"]),
    ],
)
def test_the_lock_pins_every_dependency_within_its_range(lock, wanted):
    locked = pins(lock)
    for line in wanted:
        requirement = Requirement(line)
        name = canonicalize_name(requirement.name)
        assert name in locked, f"{lock} lacks {name}: run make lock"
        assert requirement.specifier.contains(locked[name], prereleases=True), (lock, name, locked[name])
