"""The environment is pinned once and declared identically everywhere it is declared.

requirements.txt (local setup), environment.yml (conda) and binder/environment.yml
(Binder) must name the same packages at the same versions; constraints.txt (the full
lock) must agree with all of them, hold every package they pull in, and be what all three
install. A drift here means students, CI and Binder run different software.
"""
from __future__ import annotations

import importlib.metadata
import re
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^([A-Za-z0-9_.\-\[\]]+)==([^\s;#]+)$")


def _norm(name: str) -> str:
    """A distribution's canonical name, without extras (``psycopg[binary]`` -> ``psycopg``)."""
    return re.sub(r"[-_.]+", "-", name.split("[", 1)[0]).lower()


def _pins(lines) -> dict[str, str]:
    pins = {}
    for raw in lines:
        line = raw.split("#", 1)[0].split(";", 1)[0].strip()  # environment markers aside
        if not line or line.startswith("-"):
            continue
        match = PIN.match(line)
        assert match, f"unpinned requirement {line!r}: pin it with =="
        pins[_norm(match.group(1))] = match.group(2)
    return pins


def _requirements(name: str) -> dict[str, str]:
    return _pins((ROOT / name).read_text().splitlines())


def _environment_yml(path: Path) -> tuple[list[str], dict[str, str]]:
    """(conda dependencies, pip pins) of an environment file, parsed without a YAML library."""
    conda, pip, in_pip = [], [], False
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].rstrip()
        if not line.strip().startswith("- "):
            in_pip = in_pip and line.startswith(" " * 6)
            continue
        item = line.strip()[2:].strip()
        indent = len(line) - len(line.lstrip())
        if item == "pip:":
            in_pip = True
        elif in_pip and indent >= 6:
            pip.append(item)
        else:
            in_pip = False
            conda.append(item)
    return conda, _pins(pip)


def test_requirements_are_pinned_and_torch_is_the_pinned_cpu_release():
    reqs = _requirements("requirements.txt")
    assert reqs["torch"] == "2.13.0"
    assert reqs["nbgrader"] == "0.9.6"
    assert reqs["jupyterlab"].startswith("4.")
    dev = _requirements("requirements-dev.txt")
    assert "-r requirements.txt" in (ROOT / "requirements-dev.txt").read_text()
    assert not set(dev) & set(reqs), "requirements-dev.txt repeats a pin of requirements.txt"


@pytest.mark.parametrize("env_file", ["environment.yml", "binder/environment.yml"])
def test_environment_files_pin_exactly_the_requirements(env_file):
    conda, pip = _environment_yml(ROOT / env_file)
    assert "python=3.11" in conda
    assert pip == _requirements("requirements.txt")
    text = (ROOT / env_file).read_text()
    assert "whl/cpu" in text, "torch must come from the CPU wheel index, not the CUDA default"


def test_binder_environment_is_a_copy_of_the_top_level_one():
    """Only the path of the lock differs: conda runs pip in the folder of the environment file."""
    top = (ROOT / "environment.yml").read_text()
    binder = (ROOT / "binder/environment.yml").read_text()
    assert binder == top.replace("- -c constraints.txt\n", "- -c ../constraints.txt\n")


@pytest.mark.parametrize("env_file", ["environment.yml", "binder/environment.yml"])
def test_environment_files_install_the_lock_of_local_setup(env_file):
    """The pip section is constrained by constraints.txt, the file `make setup` installs with."""
    path = ROOT / env_file
    constraints = [line.strip()[2:].strip() for line in path.read_text().splitlines()
                   if line.strip().startswith("- -c ")]
    assert len(constraints) == 1, f"{env_file} must constrain its pip section with one -c line"
    assert constraints[0].removeprefix("-c ").strip()
    assert (path.parent / constraints[0].removeprefix("-c ").strip()).resolve() == ROOT / "constraints.txt"
    assert "-c constraints.txt" in (ROOT / "Makefile").read_text()


def _closure(requirements: list[str]) -> set[str]:
    """Every distribution the requirements pull in on this platform, from the installed metadata."""
    seen: dict[str, set[str]] = {}  # name -> extras already followed
    todo = [(Requirement(line), {""}) for line in requirements]  # (requirement, extras of its parent)
    while todo:
        requirement, parent_extras = todo.pop()
        if requirement.marker and not any(requirement.marker.evaluate({"extra": e}) for e in parent_extras):
            continue
        name = _norm(requirement.name)
        extras = {""} | set(requirement.extras)
        if name in seen and extras <= seen[name]:
            continue
        seen[name] = seen.get(name, set()) | extras
        for line in importlib.metadata.distribution(name).requires or []:
            todo.append((Requirement(line), extras))
    return set(seen)


def _pinned_lines(name: str) -> list[str]:
    return [line.split("#", 1)[0].strip() for line in (ROOT / name).read_text().splitlines()
            if line.split("#", 1)[0].strip() and not line.strip().startswith("-")]


@pytest.mark.parametrize("name", ["requirements.txt", "requirements-dev.txt"])
def test_the_lock_holds_everything_the_requirements_pull_in_at_the_installed_version(name):
    """Nothing floats: every dependency of every pin (recursively) is locked, at what is installed.

    Binder (binder/environment.yml) installs requirements.txt under this lock; `make setup`
    installs requirements-dev.txt under it; the tests ran on the installed versions.
    """
    lines = _pinned_lines(name)
    if name == "requirements-dev.txt":
        lines += _pinned_lines("requirements.txt")
    lock = _requirements("constraints.txt")
    closure = _closure(lines)
    unlocked = sorted(n for n in closure if n not in lock)
    assert not unlocked, f"constraints.txt lacks {unlocked}: run `make lock`"
    installed = {n: importlib.metadata.version(n).split("+", 1)[0] for n in closure}
    drift = {n: (lock[n], v) for n, v in installed.items() if lock[n] != v}
    assert not drift, f"installed versions differ from constraints.txt (locked, installed): {drift}"


def test_binder_pip_section_resolves_to_the_tested_environment(tmp_path):
    """pip, given Binder's pip section and lock, finds nothing to change in this environment.

    Offline (``--no-index``): a pin or a lock entry that disagreed with the environment the tests
    run in would need a download and fail here.
    """
    lines = []
    for raw in (ROOT / "binder/environment.yml").read_text().splitlines():
        item = raw.split("#", 1)[0].strip()
        if raw.startswith(" " * 6) and item.startswith("- "):
            lines.append(item[2:].strip())
    # conda and mamba write the pip section to a file in the environment file's folder, and pip
    # reads a -c path relative to the file that names it: the same layout, in a scratch folder.
    (tmp_path / "binder").mkdir()
    (tmp_path / "constraints.txt").symlink_to(ROOT / "constraints.txt")
    requirements = tmp_path / "binder" / "condaenv.requirements.txt"
    requirements.write_text("\n".join(line for line in lines if not line.startswith("--extra-index-url")) + "\n")
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--no-index", "-r", str(requirements)],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Would install" not in result.stdout, result.stdout[-3000:]
    assert "Requirement already satisfied: torch==2.13.0" in result.stdout


def test_lock_agrees_with_every_direct_pin():
    lock = _requirements("constraints.txt")
    direct = {**_requirements("requirements.txt"), **_requirements("requirements-dev.txt")}
    drift = {name: (version, lock.get(name)) for name, version in direct.items() if lock.get(name) != version}
    assert not drift, f"constraints.txt disagrees with requirements (name: (wanted, locked)): {drift}"


def test_python_version_is_311_everywhere():
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'requires-python = ">=3.11,<3.12"' in pyproject


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci/run").read_text()
    assert "make test" in ci
    assert "make test" in (ROOT / "README.md").read_text()
