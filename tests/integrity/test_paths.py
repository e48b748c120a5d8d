"""Trusted code never follows a path a student controls (issue: links, special files, odd names).

One batch, sandbox on, 2 jobs, on the small probe assignment (two exercises, 2 + 3 points):
an honest correct and an honest wrong student, and one student per attack:

- the notebook itself a link to the instructor's source notebook, to a classmate's notebook,
  or a renamed notebook that is a link;
- a cell that plants links in the kernel's working folder (to the source notebook, the
  gradebook, a root-only file, and a file it wants chmodded), a FIFO and a linked folder;
- links to ``/proc/self/mem`` and ``/dev/zero``, a device node, a FIFO, a socket, a dangling
  link and a link to ``/`` next to a correct notebook;
- file names that are not UTF-8, hold a newline or are very long, and student folders named
  so; a student folder and an assignment folder that are links to a classmate's.

Every honest student keeps its exact score, every attack gets its own status and reason,
the run ends with its table and grades.csv, and no file outside the student's own folder
is read into an output, written or chmodded.
"""
from __future__ import annotations

import csv
import os
import socket
import stat
from pathlib import Path

import pytest

from autograding import autograding_probe as probe
from course_grader.sandbox import safefs
from course_grader.pipeline import scratch
from course_grader.pipeline.batch import grade_course
from course_grader.pipeline.submission import Settings
from nbgrader.api import Gradebook

pytestmark = pytest.mark.usefixtures("sandbox_available")

SECRET = "root-only secret 7f3a9c"
BAD_DOUBLE = "def double(x):\n    return 0"

KERNEL_LINKS = '''
import os
for name, target in {targets!r}.items():
    os.symlink(target, name)
os.mkfifo("pipe")
os.mkdir("sub")
os.symlink("/", "sub/root")
with open("notes.txt", "w") as fh:
    fh.write("a file of its own")
def double(x):
    return 2 * x
'''

EXPECTED = {  # student -> (score, status, words the reason contains)
    "honest_correct": (5.0, "graded", ""),
    "honest_wrong": (3.0, "graded", ""),
    "link_to_solutions": (0.0, "unsafe_notebook", "symbolic link"),
    "link_to_classmate": (0.0, "unsafe_notebook", "symbolic link"),
    "renamed_link": (0.0, "unsafe_notebook", "symbolic link"),
    "kernel_links": (5.0, "graded", ""),
    "special_files": (5.0, "unsafe_files", "FIFO"),
    "odd_names": (5.0, "unsafe_files", "not valid UTF-8"),
}


def _tree(root: Path) -> list[Path]:
    """Every path under ``root``, by lstat (never through a link)."""
    found = []
    for folder, dirs, files in os.walk(root):
        found += [Path(folder) / name for name in dirs + files]
    return found


def _fingerprint(path: Path) -> tuple:
    """Mode and owner; size and modification time too, except for the gradebook (grading writes it)."""
    st = os.lstat(path)
    if path.suffix == ".db":
        return stat.S_IMODE(st.st_mode), st.st_uid
    return stat.S_IMODE(st.st_mode), st.st_uid, st.st_size, st.st_mtime_ns


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    root = tmp_path_factory.mktemp("paths")
    course, release = probe.probe_course(root)
    good = probe.with_solutions(release, probe.GOOD_DOUBLE, probe.GOOD_SQUARE)
    source_notebook = course.source / probe.ASSIGNMENT / f"{probe.NOTEBOOK}.ipynb"
    gradebook = Path(course.db_url.removeprefix("sqlite:///"))
    secret = root / "secret.txt"
    secret.write_text(SECRET)
    secret.chmod(0o600)
    decoy = root / "decoy.bin"  # stands for /usr/bin/bwrap: must keep its mode
    decoy.write_text("not to be chmodded")
    decoy.chmod(0o751)
    targets = {"leak_solutions.ipynb": str(source_notebook), "leak_gradebook.db": str(gradebook),
               "leak_secret.txt": str(secret), "chmod_me.bin": str(decoy)}
    watched = [source_notebook, gradebook, secret, decoy]
    before = {path: _fingerprint(path) for path in watched}

    submit = scratch.submit
    submit(course, "honest_correct", probe.ASSIGNMENT, good, "probe.ipynb")
    submit(course, "honest_wrong", probe.ASSIGNMENT,
           probe.with_solutions(release, BAD_DOUBLE, probe.GOOD_SQUARE), "probe.ipynb")
    for student in ("link_to_solutions", "link_to_classmate", "renamed_link"):
        (course.submitted / student / probe.ASSIGNMENT).mkdir(parents=True)
    os.symlink(source_notebook, course.submitted / "link_to_solutions" / probe.ASSIGNMENT / "probe.ipynb")
    os.symlink("../../honest_correct/probe/probe.ipynb",
               course.submitted / "link_to_classmate" / probe.ASSIGNMENT / "probe.ipynb")
    os.symlink(source_notebook, course.submitted / "renamed_link" / probe.ASSIGNMENT / "probe (1).ipynb")
    submit(course, "kernel_links", probe.ASSIGNMENT,
           probe.with_solutions(release, KERNEL_LINKS.format(targets=targets), probe.GOOD_SQUARE), "probe.ipynb")

    special = submit(course, "special_files", probe.ASSIGNMENT, good, "probe.ipynb").parent
    os.symlink("/proc/self/mem", special / "mem")
    os.symlink("/dev/zero", special / "zero.npy")
    if os.geteuid() == 0:  # only root makes device nodes (a student's upload carries none otherwise)
        os.mknod(special / "null_device", stat.S_IFCHR | 0o666, os.makedev(1, 3))
    os.mkfifo(special / "pipe")
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(special / "sock"))
    os.symlink(special / "nowhere", special / "dangling")
    os.symlink("/", special / "root_link")
    os.symlink(secret, special / "data.csv")

    odd = submit(course, "odd_names", probe.ASSIGNMENT, good, "probe.ipynb").parent
    for name in (b"\xff\xfe-latin1.txt", b"new\nline.txt", b"x" * 250 + b".txt"):
        with open(os.path.join(os.fsencode(odd), name), "wb") as fh:
            fh.write(b"data")
    for student in (b"\xffstudent", b"new\nline"):
        folder = os.path.join(os.fsencode(course.submitted), student, b"probe")
        os.makedirs(folder)
        nbformat_text = (course.submitted / "honest_correct/probe/probe.ipynb").read_bytes()
        with open(os.path.join(folder, b"probe.ipynb"), "wb") as fh:
            fh.write(nbformat_text)

    (course.submitted / "linked_folder").mkdir()
    os.symlink("../honest_correct/probe", course.submitted / "linked_folder" / probe.ASSIGNMENT)
    os.symlink("honest_correct", course.submitted / "linked_student")

    settings = Settings(timeout=10, sandbox=True)
    report = grade_course(course, settings, jobs=2, log=lambda _: None)
    server.close()
    after = {path: _fingerprint(path) for path in watched}
    rows = {row["student_id"]: row for row in csv.DictReader(open(course.grades_csv, newline=""))}
    return course, report, rows, before, after


@pytest.mark.parametrize("student", sorted(EXPECTED))
def test_each_student_gets_exactly_its_score_and_status(batch, student):
    _, _, rows, _, _ = batch
    score, status, words = EXPECTED[student]
    row = rows[student]
    assert (float(row["score"]), row["status"]) == (score, status), row
    assert words in row["reason"], row["reason"]


def test_links_to_notebooks_leave_no_grade_in_the_gradebook(batch):
    course, _, _, _, _ = batch
    with Gradebook(course.db_url, course.course_id) as gb:
        graded = {s.student.id for s in gb.find_assignment(probe.ASSIGNMENT).submissions}
    assert {"link_to_solutions", "link_to_classmate", "renamed_link"}.isdisjoint(graded)
    assert {"honest_correct", "honest_wrong", "kernel_links"} <= graded


def test_odd_or_linked_student_folders_are_refused_per_student(batch):
    _, _, rows, _, _ = batch
    refused = {sid: row for sid, row in rows.items() if row["status"] == "invalid_name"}
    assert set(refused) == {"\\xffstudent", "new\\nline", "linked_folder", "linked_student"}, rows.keys()
    assert all(row["reason"] and float(row["score"]) == 0 for row in refused.values())
    assert "symbolic link" in refused["linked_folder"]["reason"]
    assert "symbolic link" in refused["linked_student"]["reason"]


def test_no_file_outside_the_students_folder_changed(batch):
    _, _, _, before, after = batch
    assert after == before


def test_outputs_hold_no_link_and_nothing_from_outside(batch):
    course, _, _, _, _ = batch
    for base in (course.autograded, course.feedback, course.staging):
        for path in _tree(base):
            st = os.lstat(path)
            assert stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode), f"{path} is not a plain file"
            if stat.S_ISREG(st.st_mode):
                assert SECRET.encode() not in path.read_bytes(), f"{path} holds the root-only file"
    # the page or notebook, and the two files nbgrader's release_feedback reads (exchange_files.stamp)
    exchange = ["submission_secret.txt", "timestamp.txt"]
    assert sorted(p.name for p in (course.feedback / "kernel_links" / probe.ASSIGNMENT).iterdir()) == [
        "probe.html", *exchange]
    assert sorted(p.name for p in (course.autograded / "kernel_links" / probe.ASSIGNMENT).iterdir()) == [
        "probe.ipynb", *exchange]
    assert all(os.path.isdir(p) and not os.path.islink(p) for p in _tree(course.sandboxes))


def test_a_second_run_is_not_stopped_by_the_same_files(batch):
    course, _, rows, _, _ = batch
    report = grade_course(course, Settings(timeout=10, sandbox=True), jobs=2, log=lambda _: None)
    assert report.regraded == []
    again = {row["student_id"]: (row["score"], row["status"]) for row in report.rows}
    assert again == {sid: (row["score"], row["status"]) for sid, row in rows.items()}


def test_safe_walks_follow_no_link_and_survive_any_depth(tmp_path):
    """The helpers trusted code uses on sandbox folders: what a kernel can leave there."""
    target = tmp_path / "outside.txt"
    target.write_text(SECRET)
    target.chmod(0o640)
    tree = tmp_path / "tree"
    deep = tree
    for _ in range(600):  # deeper than the interpreter's recursion limit allows a recursive walk
        deep = deep / "d"
    deep.mkdir(parents=True)
    os.symlink(target, deep / "link")
    os.symlink(tmp_path, tree / "up")
    os.mkfifo(tree / "pipe")
    (tree / "closed").mkdir()
    (tree / "closed" / "f").write_text("x")
    (tree / "closed").chmod(0)
    files, _, problem = safefs.usage(tree, 10_000)
    # root reads the closed folder and meets the depth; another user meets the closed folder first
    assert problem and ("levels deep" in problem or (os.geteuid() != 0 and "unreadable" in problem)), problem
    assert safefs.hash_tree(tree) == safefs.hash_tree(tree)  # terminates, reads no FIFO
    with pytest.raises(safefs.UnsafeEntry):
        safefs.read_regular(deep / "link", 1000)
    with pytest.raises(safefs.UnsafeEntry):
        safefs.read_regular(tree / "pipe", 1000)
    safefs.remove_tree(tree)
    assert not tree.exists() and target.read_text() == SECRET and stat.S_IMODE(target.stat().st_mode) == 0o640
