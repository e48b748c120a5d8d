"""A term in small: a Canvas download collected, graded by ``python -m course_grader`` and
exported for Canvas, with the scores the notebooks earn (the probe assignment, no sandbox:
trusted code; two short runs)."""
from __future__ import annotations

import csv
import subprocess
import sys

from autograding import autograding_probe as probe
from term.term_course import make_zip, write_roster

from course_grader.pipeline import scratch
from course_grader.pipeline.batch import grade_course
from course_grader.pipeline.course import Course
from course_grader.term.__main__ import main

ROSTER = [{"student_id": s, "name": n, "email": f"{s}@example.org", "lms_id": i, "section": "A"}
          for s, n, i in [("ada", "Ada Adams", "11"), ("bob", "Bob Brown", "12"), ("cy", "Cy Cole", "13")]]


def test_collect_grade_export(tmp_path, capsys):
    root = tmp_path / "course"
    root.mkdir()
    (root / "nbgrader_config.py").write_text('c = get_config()\nc.CourseDirectory.source_directory = "source"\n')
    probe.write_source(root / "source")
    write_roster(root / "roster.csv", ROSTER)
    course = Course.from_directory(root)
    grade_course(course, probe.SETTINGS, jobs=1, log=lambda _: None)  # records the assignment
    _, release = scratch.release_notebook(course, probe.ASSIGNMENT)
    good = probe.with_solutions(release, probe.GOOD_DOUBLE, probe.GOOD_SQUARE)
    half = probe.with_solutions(release, "def double(x):\n    return 0", probe.GOOD_SQUARE)
    download = make_zip(tmp_path / "canvas.zip", {"adamsada_11_1_probe.ipynb": good,
                                              "brownbob_late_12_2_my_probe.ipynb": half,
                                              "colecy_13_3_probe.ipynb": release})
    assert main(["collect", "probe", "--from", str(download), "--course", str(root)]) == 0
    assert "3 collected" in capsys.readouterr().out
    graded = subprocess.run([sys.executable, "-m", "course_grader", "--course", str(root), "--no-sandbox",
                             "--jobs", "1", "--no-canary", "--progress", "none", "--timeout", "20"],
                            check=False, capture_output=True, text=True, timeout=600)
    assert graded.returncode == 0, graded.stdout + graded.stderr
    out = tmp_path / "canvas.csv"
    assert main(["export", "--format", "canvas", "--course", str(root), "--output", str(out)]) == 0
    rows = list(csv.reader(out.open()))
    assert rows[0][5:] == ["probe"] and rows[1][5:] == ["5.0"]
    assert [(r[0], r[1], r[5]) for r in rows[2:]] == [("Ada Adams", "11", "5.0"), ("Bob Brown", "12", "3.0"),
                                                      ("Cy Cole", "13", "0.0")]
