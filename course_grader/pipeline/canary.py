"""The canary: before grading anyone, a run grades each assignment's reference and blank release.

A run that cannot grade correctly (a broken environment, a sandbox that hides the course's code,
a judge that cannot start) would otherwise hand every student a 0. So before any student is
graded, the run grades two submissions per assignment that has something to grade, in a scratch
course of its own beside the real one (its own SQLite gradebook), with the exact settings of the
run (sandbox, warm pools, judge, timeouts, the run's secret seed):

- ``canary-reference``: the student version with every solution cell taken from the source;
  it must get full marks;
- ``canary-blank``: the student version untouched; it must get 0.

Only autograded points count (:mod:`~course_grader.pipeline.manual_grades`): a written answer
is graded by hand, so the reference's model answer has no score until an instructor gives one.

Anything else stops the run before it writes to the course's gradebook or ``grades.csv``:
:class:`CanaryFailed` says which assignment, what was expected, what came back and the
first error the grader met. A pass is remembered in ``<state>/canary.json`` under a key of the
grading code, the settings (not the seed), the assignment's source and the Python environment,
so that an unchanged setup pays for it once.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.metadata
import json
import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

import nbformat

from course_grader.pipeline import scratch
from course_grader.pipeline.course import Course, hash_tree
from course_grader.pipeline.manual_grades import split_scores
from course_grader.pipeline.submission import Result, Settings

REFERENCE, BLANK = "canary-reference", "canary-blank"
#: bump when what the canary checks changes
CANARY_VERSION = "1"


class CanaryFailed(Exception):
    """The run cannot grade correctly: a reference lost points, or a blank release earned some.

    ``problems`` holds one line per failure (assignment, expected, got, first error).
    """

    def __init__(self, message: str, problems: list[str] | None = None):
        super().__init__(message)
        self.problems = list(problems or [message])


def environment_fingerprint() -> str:
    """The interpreter and every installed distribution with its version."""
    names = sorted(f"{d.metadata['Name']}=={d.version}" for d in importlib.metadata.distributions()
                   if d.metadata["Name"])
    text = "\n".join([sys.version, os.path.realpath(sys.prefix), *names])
    return hashlib.sha256(text.encode()).hexdigest()


def canary_key(course: Course, assignment: str, settings: Settings, grading_hash: str, environment: str) -> str:
    """What a cached pass stands for: code, settings (not the seed), source, place and environment."""
    plain = dataclasses.asdict(dataclasses.replace(settings, check_seed=None))
    parts = [CANARY_VERSION, grading_hash, environment, json.dumps(plain, sort_keys=True),
             hash_tree(course.source / assignment), str(course.root)]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def _cache_file(course: Course) -> Path:
    return course.state_dir / "canary.json"


def _load_cache(course: Course) -> dict:
    try:
        data = json.loads(_cache_file(course).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _save_cache(course: Course, cache: dict) -> None:
    path = _cache_file(course)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(cache, indent=1, sort_keys=True))
    tmp.replace(path)


def _canary_course(course: Course) -> Course:
    """A scratch course beside the real one: same sources, settings and course id, its own gradebook."""
    root = course.state_dir / "canary"
    scratch.reset(root)
    (root / "submitted").mkdir(parents=True)
    return dataclasses.replace(course, root=root.resolve(), db_url=f"sqlite:///{root.resolve() / 'gradebook.db'}")


def _first_error(course: Course, student: str, assignment: str) -> str:
    """The first error output of the graded notebook (what a check or a cell raised), or ''."""
    for path in sorted((course.autograded / student / assignment).glob("*.ipynb")):
        try:
            nb = nbformat.read(path, as_version=4)
        except Exception:  # noqa: BLE001 - a message, not a verdict
            continue
        for cell in nb.cells:
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error":
                    return f"{output.get('ename', '')}: {output.get('evalue', '')}"[:1500]
    return ""


def _verdict(course: Course, assignment: str, results: dict, rows: dict) -> list[str]:
    """What went wrong for one assignment (empty: the canary passed); ``rows`` hold autograded points."""
    problems = []
    for student, want in ((REFERENCE, "full marks"), (BLANK, "0 points")):
        result: Result | None = results.get(student)
        row = rows.get((student, assignment), {})
        score, max_score = row.get("score", ""), row.get("max_score", "")
        try:
            ok = float(score) == (float(max_score) if want == "full marks" else 0.0) and float(max_score) > 0
        except ValueError:
            ok = False
        if result is None or result.status != "graded" or not ok:
            got = f"status {result.status if result else 'missing'}, score {score or '?'}/{max_score or '?'}"
            why = "; ".join(filter(None, [result.reason if result else "", *(result.notes if result else []),
                                          _first_error(course, student, assignment)]))
            problems.append(f"{assignment}: the {'reference solution' if student == REFERENCE else 'blank release'} "
                            f"should get {want}, got {got}" + (f"\n    error: {why}" if why else ""))
            timed_out = (result and result.status == "timeout") or "Timeout" in why or "time limit" in why
            if timed_out and not any("ran out of time" in line for line in problems):
                problems.append(f"{assignment}: the canary ran out of time: is the machine busy, or --timeout "
                                "too short for it? (the same limits would have cut honest students' work)")
    return problems


def run_canary(course: Course, assignments: Iterable[str], settings: Settings, grading_hash: str,
               grade: Callable[[list[tuple]], Iterable[dict]], log: Callable[[str], None]) -> None:
    """Grade each assignment's reference and blank release; raise :class:`CanaryFailed` unless each
    gets full marks and 0. ``grade`` runs grading jobs exactly as the run will (a pool, inline)."""
    environment = environment_fingerprint()
    cache = _load_cache(course)
    keys = {a: canary_key(course, a, settings, grading_hash, environment) for a in sorted(set(assignments))}
    todo = [a for a, key in keys.items() if cache.get(a) != key]
    if not todo:
        if keys:
            log(f"canary: passed before for {', '.join(keys)} with this code, settings and environment")
        return
    log(f"canary: grading the reference solution and the blank release of {', '.join(todo)} first")
    from course_grader.pipeline.batch import prepare_gradebook  # (batch imports this module)
    from course_grader.pipeline.submission import generate_release

    canary = _canary_course(course)
    prepare_gradebook(canary.db_url, canary)
    jobs = []
    for assignment in todo:
        generate_release(canary, assignment, canary.db_url, settings)
        name, student_version = scratch.release_notebook(canary, assignment)
        source = scratch.source_notebook(canary, assignment, name)
        scratch.submit(canary, REFERENCE, assignment, scratch.filled(student_version, source), f"{name}.ipynb")
        scratch.submit(canary, BLANK, assignment, student_version, f"{name}.ipynb")
        jobs += [(canary, student, assignment, settings, canary.db_url) for student in (REFERENCE, BLANK)]
    results: dict[str, dict[str, Result]] = {}
    for raw in grade(jobs):
        result = Result(**raw)
        results.setdefault(result.assignment, {})[result.student] = result
    rows = {key: {"score": str(split.auto), "max_score": str(split.auto_max)}
            for key, split in split_scores(canary.db_url, canary.course_id).items()}
    problems = [p for a in todo for p in _verdict(canary, a, results.get(a, {}), rows)]
    if problems:
        raise CanaryFailed("the grader cannot grade correctly here: nothing was graded and nothing written "
                           "to the gradebook or grades.csv.\n  " + "\n  ".join(problems) +
                           f"\n  (the canary's graded notebooks and feedback are kept in {canary.root})", problems)
    for assignment in todo:
        cache[assignment] = keys[assignment]
    _save_cache(course, cache)
    scratch.reset(canary.root)
    log(f"canary: passed for {', '.join(todo)}")
