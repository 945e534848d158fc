"""Set-up as a new user meets it (issue 23, "Set-up and scheduling"): the prerequisites are checked
up front with one message naming everything missing, and every install uses the pinned constraints."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHECK = ROOT / "scripts" / "check-prerequisites.sh"
CONSTRAINTS = ROOT / "resources" / "constraints.txt"


def _check(python: str, path: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(CHECK), python], cwd=cwd, env={"PATH": path, "HOME": str(cwd)},
                          capture_output=True, text=True, timeout=60)


def _bin_with(tmp_path: Path, *names: str) -> str:
    """A PATH holding only the named programs (links to the real ones) and the shell's basics."""
    folder = tmp_path / "bin"
    folder.mkdir()
    for name in ("sed", "head", "id", "cat", "env", "bash", "sh", *names):
        real = shutil.which(name)
        if real:
            (folder / name).symlink_to(real)
    return str(folder)


def test_this_machine_has_what_setup_needs(tmp_path):
    result = _check(sys.executable, os.environ["PATH"], ROOT)
    assert result.returncode == 0, result.stderr


def test_everything_missing_is_named_in_one_message(tmp_path):
    result = _check(sys.executable, _bin_with(tmp_path), tmp_path)
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert lines[0] == "make setup: this machine lacks what the project needs:"
    named = "\n".join(lines[1:])
    for what in ("a Java 17 or 21 runtime", "Maven", "Go, to build the MinIO server"):
        assert what in named, named
    assert "Python" not in named          # the interpreter given is fine


def test_a_python_outside_3_11_to_3_13_is_named(tmp_path):
    older = next((p for p in sorted(Path("/root/.pyenv/versions").glob("3.10*/bin/python3.10"))), None) \
        if Path("/root/.pyenv/versions").is_dir() else None
    if older is None:
        pytest.skip("no Python 3.10 on this machine to try")
    result = _check(str(older), os.environ["PATH"], ROOT)
    assert result.returncode == 1
    assert re.search(r"Python 3.11, 3.12 or 3.13 \('.*' is 3\.10;", result.stderr), result.stderr


def test_every_install_uses_the_pinned_constraints():
    makefile = (ROOT / "Makefile").read_text()
    installs = [line.strip() for line in makefile.splitlines() if "pip install" in line and "-e '." in line]
    assert installs, "no pip install of the project in the Makefile"
    unpinned = [line for line in installs if "-c $(CONSTRAINTS)" not in line and ".venv-lock" not in line]
    assert unpinned == []


def test_the_constraints_pin_every_installed_package_exactly():
    """Every dependency of pyproject.toml (and its extras) is pinned, and nothing is a range."""
    pins = {}
    for line in CONSTRAINTS.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version and re.fullmatch(r"[\w.+!-]+", version), line
            pins[re.sub(r"[-_.]+", "-", name).lower()] = version
    declared = re.findall(r'^\s+"([A-Za-z0-9_.-]+)==([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M)
    assert declared
    for name, version in declared:
        assert pins.get(re.sub(r"[-_.]+", "-", name).lower()) == version, f"{name}=={version} not pinned alike"
