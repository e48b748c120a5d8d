"""The environment is pinned once and declared identically everywhere it is declared.

requirements.txt (local setup), environment.yml (conda) and binder/environment.yml
(Binder) must name the same packages at the same versions; constraints.txt (the full
lock) must agree with all of them. A drift here means students, CI and Binder run
different software.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^([A-Za-z0-9_.\-\[\]]+)==([^\s;#]+)$")


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins(lines) -> dict[str, str]:
    pins = {}
    for raw in lines:
        line = raw.split("#", 1)[0].strip()
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
    assert (ROOT / "binder/environment.yml").read_text() == (ROOT / "environment.yml").read_text()


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
