"""An instructor's term, end to end, by the commands docs/instructors.md opens with (``TERM``):
a scratch course with one real assignment (01_gradient_descent), a Canvas section and a Moodle
section, their downloads holding on-time, late, extended, missing, renamed, unknown and doubled
submissions, collected with the LMS's submission times; graded by ``python -m course_grader``
with its defaults (sandbox and canary on); a due date moved in ``policy.toml`` and the penalties
recomputed without running a notebook; the feedback released through nbgrader's exchange and as
one zip per student; the Canvas and Moodle gradebook files compared cell by cell with
``expected/``.

One test, in order: each step needs the one before. Six notebooks and the canary's two are
graded once: about 40 s on a quiet 2-core machine, 18 s of it the canary (``--no-canary``:
about 24 s); the other steps take a few seconds."""
from __future__ import annotations

import copy
import csv
import os
import shlex
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
from term.term_course import make_course, make_zip, tree, write_roster

from course_grader.pipeline import scratch

ASSIGNMENT = "01_gradient_descent"
NOTEBOOK = "gradient_descent"
EXPECTED = Path(__file__).resolve().parent / "expected"
NESTEROV = "p -= self.lr * (g + self.momentum * v)"
NBGRADER = str(Path(sys.executable).parent / "nbgrader")

#: the term as docs/instructors.md opens with it, run from the repository root (here: the
#: scratch course's root; ``~/Downloads`` is its ``Downloads/``)
TERM = [
    (".venv/bin/python -m course_grader.term collect 01_gradient_descent"
     " --from ~/Downloads/canvas.zip --times ~/Downloads/canvas-times.csv"),
    (".venv/bin/python -m course_grader.term collect 01_gradient_descent"
     " --from ~/Downloads/moodle.zip --times ~/Downloads/moodle-times.csv --roster graders/roster-moodle.csv"),
    ".venv/bin/python -m course_grader",
    ".venv/bin/python -m course_grader.term deadlines",
    "cd graders && ../.venv/bin/nbgrader release_feedback 01_gradient_descent && cd ..",
    ".venv/bin/python -m course_grader.term release --to feedback-out --zip",
    ".venv/bin/python -m course_grader.term export --format canvas",
    ".venv/bin/python -m course_grader.term export --format moodle --roster graders/roster-moodle.csv",
]


def _student(student_id, name, lms_id, section):
    return {"student_id": student_id, "name": name, "email": f"{student_id}@example.org", "lms_id": lms_id,
            "section": section}


CANVAS_ROSTER = [_student("ada", "Ada Adams", "1001", "A"), _student("george", "George Boole", "1002", "A"),
                 _student("marie", "Marie Curie", "1003", "A"), _student("grace", "Grace Hopper", "1004", "A")]
MOODLE_ROSTER = [_student("leo", "Leo Euler", "2001", "M"), _student("paul", "Paul Dirac", "2002", "M"),
                 _student("carl", "Carl Gauss", "2003", "M"), _student("emmy", "Emmy Noether", "2004", "M")]

POLICY = """\
timezone = "Europe/Paris"
[due]
01_gradient_descent = "{due}"
[penalty]
rule = "per_day"
percent_per_day = 10
[extensions.marie]
01_gradient_descent = 3
[extensions.carl]
01_gradient_descent = "2026-10-09 23:59"
"""
DUE, MOVED_DUE = "2026-10-05 23:59", "2026-10-06 23:59"  # 21:59 UTC (summer time)

#: the LMS's submission times (``lms_id, submitted_at``), as the instructor exports them
CANVAS_TIMES = [("1001", "2026-10-05T20:00:00Z"),      # ada: on time
                ("1002", "2026-10-07T09:00:00Z"),      # george: 1 d 11 h late, then 11 h
                ("1003", "2026-10-07T12:00:00+02:00"),  # marie: late, but 3 days' extension
                ("9999", "2026-10-05T10:00:00Z")]      # not in the roster
MOODLE_TIMES = [("2001", "2026-10-05T21:00:00Z"),      # leo: on time
                ("2002", "2026-10-06T08:00:00Z"),      # paul: 10 h late, then on time
                ("2003", "2026-10-08T08:00:00Z")]      # carl: late, extended to 10-09


CANVAS_REPORT = """\
collect 01_gradient_descent from a Canvas download:
  collected       ada [1001] Ada Adams <- adamsada_1001_5001_gradient_descent.ipynb
      submitted at 2026-10-05 20:00 UTC
  collected       george [1002] George Boole <- boolegeorge_late_1002_5002_my_gd_final.ipynb
      renamed notebook: my_gd_final.ipynb collected as gradient_descent.ipynb
      marked late by the LMS
      submitted at 2026-10-07 09:00 UTC
  collected       marie [1003] Marie Curie <- curiemarie_late_1003_5003_gradient_descent.ipynb
      2 notebooks: took gradient_descent.ipynb, not gradient_descent_old.ipynb
      marked late by the LMS
      submitted at 2026-10-07 10:00 UTC
  missing         grace [1004] Grace Hopper
  unknown_student (not in roster) [9999] hackerjoe
      not in the roster, not collected: gradient_descent.ipynb
3 collected, 0 not collected (see notes), 1 missing, 1 not in the roster"""
MOODLE_REPORT = """\
collect 01_gradient_descent from a Moodle download:
  collected       leo [2001] Leo Euler <- Leo Euler_2001_assignsubmission_file/gradient_descent.ipynb
      submitted at 2026-10-05 21:00 UTC
  collected       paul [2002] Paul Dirac <- Paul Dirac_2002_assignsubmission_file/Gradient descent (1).ipynb
      renamed notebook: Gradient descent (1).ipynb collected as gradient_descent.ipynb
      submitted at 2026-10-06 08:00 UTC
  collected       carl [2003] Carl Gauss <- Carl Gauss_2003_assignsubmission_file/gradient_descent.ipynb
      2 notebooks: took gradient_descent.ipynb, not old/draft.ipynb
      submitted at 2026-10-08 08:00 UTC
  missing         emmy [2004] Emmy Noether
  unknown_student (not in roster) [2999] Joe Hacker
      not in the roster, not collected: gradient_descent.ipynb
3 collected, 0 not collected (see notes), 1 missing, 1 not in the roster"""


def _submissions(course_root: Path) -> dict[str, nbformat.NotebookNode]:
    """The release (blank: 0 points), the reference (full marks) and the reference with heavy-ball
    momentum where Nesterov's is asked for (the 3 + 2 points of its two checks with Nesterov momentum lost)."""
    release = nbformat.read(course_root / "notebooks" / ASSIGNMENT / f"{NOTEBOOK}.ipynb", as_version=4)
    source = nbformat.read(course_root / "solutions" / ASSIGNMENT / f"{NOTEBOOK}.ipynb", as_version=4)
    full = scratch.filled(release, source)
    partial = copy.deepcopy(full)
    [cell] = [c for c in partial.cells if NESTEROV in c.source]
    cell.source = cell.source.replace(NESTEROV, "p -= self.lr * v")
    return {"blank": release, "full": full, "partial": partial}


def _downloads(tmp: Path, notebooks: dict) -> None:
    downloads = tmp / "Downloads"
    downloads.mkdir()
    blank, full, partial = notebooks["blank"], notebooks["full"], notebooks["partial"]
    make_zip(downloads / "canvas.zip", {
        "adamsada_1001_5001_gradient_descent.ipynb": full,              # on time
        "boolegeorge_late_1002_5002_my_gd_final.ipynb": full,           # late, renamed
        "curiemarie_late_1003_5003_gradient_descent.ipynb": partial,    # extended, doubled:
        "curiemarie_late_1003_5004_gradient_descent_old.ipynb": blank,  # the released name is taken
        "hackerjoe_9999_5005_gradient_descent.ipynb": full,             # unknown; grace: missing
    })
    make_zip(downloads / "moodle.zip", {
        "Leo Euler_2001_assignsubmission_file/gradient_descent.ipynb": partial,   # on time
        "Paul Dirac_2002_assignsubmission_file/Gradient descent (1).ipynb": full,  # late, renamed
        "Carl Gauss_2003_assignsubmission_file/gradient_descent.ipynb": full,      # extended, doubled
        "Carl Gauss_2003_assignsubmission_file/old/draft.ipynb": blank,
        "Joe Hacker_2999_assignsubmission_file/gradient_descent.ipynb": full,      # unknown; emmy: missing
    })
    for name, rows in (("canvas-times.csv", CANVAS_TIMES), ("moodle-times.csv", MOODLE_TIMES)):
        with open(downloads / name, "w", newline="") as fh:
            csv.writer(fh).writerows([("lms_id", "submitted_at"), *rows])


def _run(line: str, tmp: Path, env: dict) -> subprocess.CompletedProcess:
    """One documented line, from the scratch course's root, on its ``graders/``."""
    cwd = tmp
    for part in line.split(" && "):
        words = [w.replace("~/Downloads/", f"{tmp / 'Downloads'}/") for w in shlex.split(part)]
        if words[0] == "cd":
            cwd = cwd / words[1]
            continue
        if words[0].endswith("/nbgrader"):
            words[0] = NBGRADER
        else:
            assert words[:2] == [".venv/bin/python", "-m"], line
            words = [sys.executable, *words[1:], "--course", str(tmp / "graders")]
        done = subprocess.run(words, cwd=cwd, env=env, check=False, capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, f"{line}\n{done.stdout}\n{done.stderr}"
    return done


def _grades(graders: Path) -> dict[str, dict]:
    with open(graders / "grades.csv", newline="") as fh:
        return {row["student_id"]: row for row in csv.DictReader(fh)}


def _cells(path: Path) -> list[list[str]]:
    with open(path, newline="") as fh:
        return list(csv.reader(fh))


def test_a_term(tmp_path):
    tmp = tmp_path
    graders = make_course(tmp, CANVAS_ROSTER, from_repo=(ASSIGNMENT,))
    write_roster(graders / "roster-moodle.csv", MOODLE_ROSTER)
    (graders / "policy.toml").write_text(POLICY.format(due=DUE))
    _downloads(tmp, _submissions(tmp))
    jupyter = tmp / "jupyter_config"  # nbgrader's exchange and cache of this course alone
    jupyter.mkdir()
    (jupyter / "nbgrader_config.py").write_text(
        f"c = get_config()\nc.Exchange.root = {str(tmp / 'exchange')!r}\nc.Exchange.cache = {str(tmp / 'cache')!r}\n")
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(jupyter), "NBGRADER_EXCHANGE": str(tmp / "exchange")}
    collect_canvas, collect_moodle, grade, deadlines, release_feedback, release, export_canvas, export_moodle = TERM

    # collect: every roster student and every odd file accounted for; times from the LMS
    assert _run(collect_canvas, tmp, env).stdout.rstrip("\n") == CANVAS_REPORT
    assert _run(collect_moodle, tmp, env).stdout.rstrip("\n") == MOODLE_REPORT
    submitted = tree(graders / "submitted")
    assert sorted(submitted) == sorted(f"{s}/{ASSIGNMENT}/{name}" for s in ("ada", "george", "marie", "leo", "paul",
                                                                             "carl")
                                      for name in (f"{NOTEBOOK}.ipynb", "timestamp.txt"))
    assert submitted[f"george/{ASSIGNMENT}/timestamp.txt"] == b"2026-10-07 09:00:00.000000 UTC"
    assert submitted[f"marie/{ASSIGNMENT}/timestamp.txt"] == b"2026-10-07 10:00:00.000000 UTC"

    # grade, with the policy applied
    _run(grade, tmp, env)
    grades = _grades(graders)
    assert {s: (r["status"], r["raw_score"], r["late_submission_penalty"], r["score"]) for s, r in grades.items()} == {
        "ada": ("graded", "10.0", "0.0", "10.0"), "george": ("graded", "10.0", "2.0", "8.0"),
        "marie": ("graded", "5.0", "0.0", "5.0"), "leo": ("graded", "5.0", "0.0", "5.0"),
        "paul": ("graded", "10.0", "1.0", "9.0"), "carl": ("graded", "10.0", "0.0", "10.0")}
    assert (grades["george"]["penalty_reason"], grades["paul"]["penalty_reason"]) == (
        "late 1 d 11 h: -20 %", "late 10 h: -10 %")

    # a due date moved a day: only the penalties change, no notebook runs
    graded_files = tree(graders / "autograded"), tree(graders / "feedback")
    (graders / "policy.toml").write_text(POLICY.format(due=MOVED_DUE))
    out = _run(deadlines, tmp, env).stdout
    assert "1 submission(s) with a late penalty" in out
    moved = _grades(graders)
    assert {s: (r["raw_score"], r["late_submission_penalty"], r["score"]) for s, r in moved.items()} == {
        "ada": ("10.0", "0.0", "10.0"), "george": ("10.0", "1.0", "9.0"), "marie": ("5.0", "0.0", "5.0"),
        "leo": ("5.0", "0.0", "5.0"), "paul": ("10.0", "0.0", "10.0"), "carl": ("10.0", "0.0", "10.0")}
    assert moved["george"]["penalty_reason"] == "late 11 h: -10 %" and not moved["paul"]["penalty_reason"]
    assert (tree(graders / "autograded"), tree(graders / "feedback")) == graded_files

    # feedback: through nbgrader's exchange, and one zip per student
    _run(release_feedback, tmp, env)
    released = sorted((tmp / "exchange" / "optim-course" / "feedback").iterdir())
    assert len(released) == 6 and all(p.suffix == ".html" for p in released)
    pages = sorted(page.read_bytes() for page in (graders / "feedback").glob(f"*/{ASSIGNMENT}/{NOTEBOOK}.html"))
    assert sorted(page.read_bytes() for page in released) == pages
    _run(release, tmp, env)
    zips = sorted((tmp / "feedback-out").iterdir())
    assert [p.name for p in zips] == [f"{s}.zip" for s in sorted(["ada", "george", "marie", "leo", "paul", "carl"])]
    for path in zips:
        with zipfile.ZipFile(path) as archive:
            assert archive.namelist() == [f"{ASSIGNMENT}/{NOTEBOOK}.html"]
            page = archive.read(archive.namelist()[0])
        assert page == (graders / "feedback" / path.stem / ASSIGNMENT / f"{NOTEBOOK}.html").read_bytes()

    # the gradebooks' import files, cell by cell
    for line, fmt in ((export_canvas, "canvas"), (export_moodle, "moodle")):
        _run(line, tmp, env)
        got, expected = _cells(graders / "export" / f"{fmt}.csv"), _cells(EXPECTED / f"walkthrough_{fmt}.csv")
        assert len(got) == len(expected), got
        for row, (got_row, expected_row) in enumerate(zip(got, expected)):
            assert got_row == expected_row, f"{fmt}.csv row {row}"
