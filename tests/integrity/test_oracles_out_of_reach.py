"""The grader's own answers are out of reach: no file visible in the sandbox holds an oracle's code.

The checks' oracles (closed forms, torch-driven references) live in ``course_lib/checks/chapters/``
and the reference solutions in ``course_lib``'s top-level modules; the judge's trusted side alone
imports them. A program in the sandbox (a notebook's kernel, the judge's worker) reads every file
under the course's packages and reports any line of an oracle or a reference it finds.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from course_grader.judge.stubs import stub_overlays
from course_grader.sandbox import bwrap
from course_grader.sandbox.bwrap import SandboxConfig, command_prefix
from course_lib.checks.forbidden import LR_FINDER_IMPLEMENTATIONS, OPTIMIZER_IMPLEMENTATIONS
from integrity.integrity_helpers import REPO

pytestmark = pytest.mark.usefixtures("sandbox_available")

ORACLES = REPO / "course_lib" / "checks" / "chapters"
PACKAGES = (REPO / "course_lib", REPO / "course_grader")


def _lines(path: Path) -> set[str]:
    text = path.read_text(encoding="utf-8", errors="replace")
    return {line.strip() for line in text.splitlines()}


def _distinctive(line: str) -> bool:
    return len(line) >= 30 and not line.startswith(("#", "import ", "from ", '"""', "'''", "def __", "return self"))


def oracle_fingerprints() -> set[str]:
    """Lines of the oracles and reference solutions that no other module of the packages has."""
    secret = [p for p in ORACLES.rglob("*.py")]
    secret += [REPO / "course_lib" / name for name in bwrap.REFERENCE_MODULES]
    assert len(secret) > 20, secret
    others = [p for root in PACKAGES for p in root.rglob("*.py") if p not in secret and "__pycache__" not in p.parts]
    common = set().union(*(_lines(p) for p in others))
    return {line for p in secret for line in _lines(p) if _distinctive(line)} - common


READ_EVERYTHING = '''
import json, os, sys
fingerprints = set(json.load(open("fingerprints.json")))
found, files = [], 0
for root in {roots!r}:
    for folder, _, names in os.walk(root):
        for name in names:
            path = os.path.join(folder, name)
            try:
                text = open(path, "rb").read().decode("utf-8", "replace")
            except OSError:
                continue
            files += 1
            hits = fingerprints.intersection(line.strip() for line in text.splitlines())
            if hits:
                found.append([path, sorted(hits)[:3]])
try:
    from course_lib.checks.chapters import REGISTRY
    registry = len(REGISTRY)
except ImportError as error:
    registry = type(error).__name__
print(json.dumps({{"found": found, "files": files, "registry": registry}}))
'''


@pytest.mark.parametrize("overlays", [(), OPTIMIZER_IMPLEMENTATIONS, LR_FINDER_IMPLEMENTATIONS],
                         ids=["kernel", "judge-optimizers", "judge-lr-finder"])
def test_no_file_in_the_sandbox_holds_an_oracle(tmp_path, overlays):
    fingerprints = oracle_fingerprints()
    assert len(fingerprints) > 200  # the scan looks for something real
    (tmp_path / "fingerprints.json").write_text(json.dumps(sorted(fingerprints)))
    code = READ_EVERYTHING.format(roots=[str(p) for p in PACKAGES])
    argv_overlays = stub_overlays(overlays) if overlays else ()
    argv = command_prefix(tmp_path, SandboxConfig(), overlays=argv_overlays) + [sys.executable, "-c", code]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    got = json.loads(result.stdout.strip().splitlines()[-1])
    assert got["files"] > 30, got  # the packages themselves are visible
    assert got["found"] == [], got["found"]
    assert got["registry"] == "ImportError"


def test_the_scan_finds_an_oracle_where_one_is_visible(tmp_path):
    """Outside the sandbox the same scan finds the oracles: it is not blind."""
    fingerprints = oracle_fingerprints()
    (tmp_path / "fingerprints.json").write_text(json.dumps(sorted(fingerprints)))
    result = subprocess.run([sys.executable, "-c", READ_EVERYTHING.format(roots=[str(p) for p in PACKAGES])],
                            cwd=tmp_path, capture_output=True, text=True, timeout=120)
    got = json.loads(result.stdout.strip().splitlines()[-1])
    assert any("/checks/chapters/" in path for path, _ in got["found"])
    assert isinstance(got["registry"], int) and got["registry"] > 50
