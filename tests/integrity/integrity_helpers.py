"""Helpers shared by the grading-integrity tests (import as ``integrity.integrity_helpers``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import importlib.util
import json
import re

from bs4 import BeautifulSoup

from course_grader.sandbox.bwrap import SandboxConfig, command_prefix
from course_lib.checks import CheckFailed
from course_lib.checks.chapters import REGISTRY
from course_lib.checks.chapters._spec import secret_inputs
from course_grader.judge.trusted import find_checks
from course_lib.checks.subjects import LocalSubject
from course_lib.checks.messages import Trace

REPO = Path(__file__).resolve().parents[2]
#: the grading seed of the integrity batches: fixed, so that exact scores can be asserted,
#: and not the public inputs (no seed), so that the batches grade as a course does
GRADING_SEED = 20261129


def load_fixture_class(path: Path, class_name: str) -> type:
    """The class a fixture file defines (imported under a private module name)."""
    spec = importlib.util.spec_from_file_location(f"integrity_fixture_{path.parent.name}_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, class_name)


def failing_cells(assignment: str, fixture: Path, class_name: str, seed: int = GRADING_SEED) -> set[str]:
    """The graded cells of ``assignment`` whose check ``fixture``'s class fails with ``seed``.

    Computed in this process (the checks are the same functions the judge runs), so a
    batch test can assert a wrong student's exact score under that seed.
    """
    cls = load_fixture_class(fixture, class_name)
    failing = set()
    for path in (REPO / "solutions" / assignment).glob("*.ipynb"):
        for cell in json.loads(path.read_text())["cells"]:
            meta = cell["metadata"].get("nbgrader", {})
            if not (meta.get("grade") and meta.get("points")):
                continue
            for check_id, _ in find_checks("".join(cell["source"])):
                try:
                    with secret_inputs(seed):
                        REGISTRY[check_id].func(LocalSubject(cls, Trace(check_id)))
                except (CheckFailed, NotImplementedError):
                    failing.add(meta["grade_id"])
    return failing


def run_sandboxed(
    code: str,
    workdir: Path,
    config: SandboxConfig = SandboxConfig(),
    timeout: float = 60,
) -> subprocess.CompletedProcess[str]:
    """Run ``python -c code`` in the sandbox with ``workdir`` as its directory."""
    argv = command_prefix(workdir, config) + [sys.executable, "-c", code]
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)


# feedback pages ----------------------------------------------------------------------------------

#: attributes through which an element loads something when the page opens (``<a href>`` only on a click)
_LOADING_ATTRIBUTES = ("src", "srcset", "href", "xlink:href", "poster", "data", "background", "action",
                       "formaction", "content", "codebase", "cite", "longdesc", "lowsrc", "dynsrc", "manifest")
_REMOTE = re.compile(r"(^|[\s,(\'\"])(https?:|//)", re.IGNORECASE)
_CSS_URL = re.compile(r"url\(\s*['\"]?\s*([^'\")\s]+)|@import\s+['\"]([^'\"]+)", re.IGNORECASE)


def remote_loads(page: str) -> list[str]:
    """Every remote URL the parsed ``page`` would fetch on opening (links to click are not loads)."""
    soup = BeautifulSoup(page, "html.parser")
    found = []
    for element in soup.find_all(True):
        for name, value in element.attrs.items():
            value = " ".join(value) if isinstance(value, list) else str(value)
            if name == "style":
                found += [url for match in _CSS_URL.findall(value) for url in match if url and _REMOTE.search(url)]
            elif name.lower() in _LOADING_ATTRIBUTES and not (element.name == "a" and name == "href"):
                if _REMOTE.search(value):
                    found.append(f"<{element.name} {name}={value!r}>")
        if element.name == "style":
            css = element.get_text()
            found += [url for match in _CSS_URL.findall(css) for url in match if url and _REMOTE.search(url)]
    return found


def image_sources(page: str) -> list[str]:
    """The ``src`` of every ``<img>`` of ``page`` that has one."""
    soup = BeautifulSoup(page, "html.parser")
    return [img.get("src") for img in soup.find_all("img") if img.get("src")]
