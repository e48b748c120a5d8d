"""``python -m course_grader.term collect ASSIGNMENT --from ZIP``: an LMS's submissions into
``submitted/``.

Reads the zip that Canvas ("Download Submissions") or Moodle ("Download all submissions")
gives for one assignment (formats: :mod:`course_grader.term.canvas`,
:mod:`course_grader.term.moodle`), matches each file to a student of the roster
(:mod:`course_grader.term.roster`) by the LMS id in its name, and writes each student's
notebook to ``submitted/<student_id>/<assignment>/<released name>.ipynb``, the name the
notebook has in the released ``notebooks/<assignment>/``.

Per student, the choice (:func:`choose_notebook`):

- one ``.ipynb``: collected; under another name than the released one it is still collected,
  with a note (Canvas's ``adam-1.ipynb`` for a resubmission gets its own note);
- several ``.ipynb``: the one with the released name if exactly one has it (the others are
  listed), otherwise none (``not_collected``: pick one by hand);
- a zip inside the zip, and other files: never unpacked or collected, listed;
- no file: ``missing``. Nothing in the roster's order is skipped silently: the report lists
  every roster student, then the submitters who are not in the roster (not collected), then
  entries that are no LMS file name, and entries refused as unsafe (:mod:`lms_zip`).

Nothing is written outside ``submitted/<student_id>/<assignment>/``, and nothing there is
written through a link. Neither download carries a submission time (a Canvas ``_late`` mark is
reported, but says neither when nor against which due date), so ``timestamp.txt``, the time
the late policy reads, comes from ``--times``: a CSV of the LMS's submission times
(:func:`read_times`), written in nbgrader's format for each collected student it names.
"""
from __future__ import annotations

import argparse
import csv
import datetime as dt
import os
import stat
import sys
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from course_grader.pipeline.course import Course
from course_grader.pipeline.exchange_files import TIMESTAMP_FORMAT
from course_grader.pipeline.spreadsheet_safe import safe_row
from course_grader.pipeline.submission import Settings
from course_grader.term import canvas, moodle
from course_grader.term.lms_zip import (
    DEFAULT_MAX_FILE_BYTES,
    Refused,
    Upload,
    read_entries,
    read_member,
)
from course_grader.term.roster import Roster, read_roster, roster_path

LMS = {canvas.NAME: canvas, moodle.NAME: moodle}
REPORT_COLUMNS = ["student_id", "lms_id", "name", "status", "collected_from", "notes"]
TIMES_COLUMNS = ("lms_id", "submitted_at")


@dataclass
class StudentOutcome:
    """What collection did for one submitter (a roster student, or an unknown one).

    ``status``: ``collected`` | ``not_collected`` (files came, none was taken: see notes) |
    ``missing`` (nothing submitted) | ``unknown_student`` (not in the roster: not collected).
    """

    student_id: str
    lms_id: str
    name: str
    status: str
    collected_from: str = ""
    notes: list[str] = field(default_factory=list)


@dataclass
class CollectReport:
    """The outcome of one collection, every submitter and every zip entry accounted for."""

    assignment: str
    lms: str
    students: list[StudentOutcome] = field(default_factory=list)
    unrecognised: list[str] = field(default_factory=list)
    refused: list[Refused] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for s in self.students if s.status == status)

    def lines(self) -> list[str]:
        """The report as text, one line per submitter (notes indented), then the odd entries."""
        out = [f"collect {self.assignment} from a {LMS[self.lms].TITLE} download:"]
        for s in self.students:
            who = f"{s.student_id or '(not in roster)'} [{s.lms_id}] {s.name}".strip()
            out.append(f"  {s.status:<15} {who}" + (f" <- {s.collected_from}" if s.collected_from else ""))
            out += [f"      {note}" for note in s.notes]
        out += [f"  not a {LMS[self.lms].TITLE} file name, ignored: {name}" for name in self.unrecognised]
        out += [f"  refused: {r.name}: {r.why}" for r in self.refused]
        out.append(f"{self.count('collected')} collected, {self.count('not_collected')} not collected (see notes), "
                   f"{self.count('missing')} missing, {self.count('unknown_student')} not in the roster")
        return out


def detect_lms(names: list[str]) -> str:
    """``canvas`` or ``moodle``: the format that recognises more of ``names``."""
    counts = {lms: sum(1 for n in names if module.parse_entry(n)) for lms, module in LMS.items()}
    best = max(counts, key=counts.get)
    if counts[best] == 0:
        raise ValueError("--from: no entry of the zip is named as a Canvas or a Moodle submission file; "
                         "allowed: a zip from Canvas 'Download Submissions' or Moodle 'Download all submissions'")
    return best


def released_notebook(course: Course, assignment: str) -> str:
    """The notebook name of ``assignment`` in the release folder (``notebooks/<assignment>/``),
    or in the sources where the release folder does not have it.

    Raises:
        ValueError: the course has no such assignment, or it has several notebooks.
    """
    if assignment not in course.assignments():
        raise ValueError(f"assignment={assignment!r} is not an assignment of the course; "
                         f"allowed: {course.assignments()}")
    release = course.root / course.config.CourseDirectory.get("release_directory", "release")
    for folder in (release / assignment, course.source / assignment):
        names = sorted(p.name for p in folder.glob("*.ipynb")) if folder.is_dir() else []
        if len(names) == 1:
            return names[0]
        if len(names) > 1:
            raise ValueError(f"assignment={assignment!r} has {len(names)} notebooks {names}: "
                             "collect handles assignments of one notebook")
    raise ValueError(f"assignment={assignment!r} has no notebook in {release / assignment}")


def choose_notebook(uploads: list[Upload], released: str, lms_module) -> tuple[Upload | None, list[str]]:
    """The upload to collect as ``released`` (None: none), and the notes to report."""
    notes: list[str] = []
    base = {u.entry: PurePosixPath(u.filename).name for u in uploads}
    notebooks = [u for u in uploads if base[u.entry].lower().endswith(".ipynb") and ":" not in u.filename]
    # ("online:..." and "onlinetext:...": a text entry, not a file)
    for u in uploads:
        if u in notebooks:
            continue
        if base[u.entry].lower().endswith(".zip"):
            notes.append(f"a zip inside the zip, not unpacked: {u.filename}")
        else:
            notes.append(f"not a notebook, not collected: {u.filename}")
    exact = [u for u in notebooks if base[u.entry] == released]
    resubmitted = [u for u in notebooks if lms_module.released_stem_match(base[u.entry], released)]
    if len(notebooks) == 1:
        chosen = notebooks[0]
    elif len(exact) == 1 or (not exact and len(resubmitted) == 1):
        chosen = (exact or resubmitted)[0]
        others = ", ".join(u.filename for u in notebooks if u is not chosen)
        notes.append(f"{len(notebooks)} notebooks: took {chosen.filename}, not {others}")
    else:
        if notebooks:
            names = ", ".join(u.filename for u in notebooks)
            notes.append(f"{len(notebooks)} notebooks ({names}): none collected; copy the right one "
                         f"to its folder as {released} by hand")
        return None, notes
    name = base[chosen.entry]
    if name != released:
        if lms_module.released_stem_match(name, released):
            notes.append(f"{name} is the LMS's name for a resubmitted {released}: collected as {released}")
        else:
            notes.append(f"renamed notebook: {name} collected as {released}")
    return chosen, notes


def _plain_dir(path: Path) -> None:
    """Make ``path`` a folder (not following a link); ValueError if it is a link or a file."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        path.mkdir()
        return
    if not stat.S_ISDIR(mode):
        raise ValueError(f"{path} is a link or not a folder: not written through")


def write_submission(course: Course, student_id: str, assignment: str, released: str, data: bytes) -> str | None:
    """Write ``data`` as ``submitted/<student_id>/<assignment>/<released>``, replacing an earlier
    collection; a note if it replaced a different notebook (None otherwise)."""
    folder = course.submitted
    for part in (None, student_id, assignment):
        folder = folder if part is None else folder / part
        _plain_dir(folder)
    target = folder / released
    note = None
    if os.path.lexists(target):
        if not stat.S_ISREG(os.lstat(target).st_mode):
            raise ValueError(f"{target} is a link or not a file: not replaced")
        if target.read_bytes() != data:
            note = "replaced a different notebook collected before"
    tmp = folder / f".{released}.collect-tmp"
    if os.path.lexists(tmp):
        os.unlink(tmp)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, target)
    return note


def read_times(path: str | Path) -> dict[str, dt.datetime]:
    """``{lms_id: submission time (UTC)}`` from a CSV with a header holding the columns
    ``lms_id`` (as in the roster) and ``submitted_at``: ISO 8601 with its UTC offset, e.g.
    ``2026-10-13T08:15:00+02:00`` or ``2026-10-13 06:15Z``. Other columns are ignored; a row
    with an empty ``submitted_at`` gives no time.

    Raises:
        ValueError: a missing column, a time without an offset or not ISO 8601, an ``lms_id``
            given twice (naming ``--times``, the line and the value).
    """
    times: dict[str, dt.datetime] = {}
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in TIMES_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"--times={str(path)!r} lacks the columns {missing}; allowed: a CSV with the "
                             f"columns {', '.join(TIMES_COLUMNS)}")
        for row in reader:
            lms_id, text = (row["lms_id"] or "").strip(), (row["submitted_at"] or "").strip()
            where = f"--times={str(path)!r} line {reader.line_num}"
            if not lms_id or not text:
                continue
            if lms_id in times:
                raise ValueError(f"{where}: lms_id={lms_id!r} is given twice; allowed: one time per lms_id")
            try:
                when = dt.datetime.fromisoformat(text)
            except ValueError:
                when = None
            if when is None or when.tzinfo is None:
                raise ValueError(f"{where}: submitted_at={text!r} is not allowed; allowed: ISO 8601 with a UTC "
                                 "offset, e.g. 2026-10-13T08:15:00+02:00 or 2026-10-13T06:15:00Z")
            times[lms_id] = when.astimezone(dt.UTC)
    return times


def collect(course: Course, roster: Roster, assignment: str, zip_path: str | Path, lms: str = "auto",
            max_bytes: int = DEFAULT_MAX_FILE_BYTES, times: dict[str, dt.datetime] | None = None) -> CollectReport:
    """Collect ``assignment`` from the LMS download ``zip_path`` into ``course.submitted``;
    with ``times`` (:func:`read_times`), each collected student's time as ``timestamp.txt``.

    Raises:
        ValueError: a bad ``lms``, ``assignment`` or zip (the message says which and why).
    """
    if lms not in ("auto", *LMS):
        raise ValueError(f"lms={lms!r} is not allowed; allowed: 'auto', {', '.join(map(repr, LMS))}")
    released = released_notebook(course, assignment)
    entries, refused = read_entries(zip_path, max_bytes)
    lms = detect_lms([e.name for e in entries] + [r.name for r in refused]) if lms == "auto" else lms
    module = LMS[lms]
    report = CollectReport(assignment, lms)
    by_id: dict[str, list[Upload]] = {}
    refused_by_id: dict[str, list[Refused]] = {}
    for entry in entries:
        upload = module.parse_entry(entry.name)
        if upload is None:
            report.unrecognised.append(entry.name)
        else:
            by_id.setdefault(upload.lms_id, []).append(upload)
    for item in refused:
        upload = module.parse_entry(item.name)
        if upload is None:
            report.refused.append(item)
        else:
            refused_by_id.setdefault(upload.lms_id, []).append(Refused(upload.filename, item.why))
    for student in roster.students:
        uploads = by_id.pop(student.lms_id, []) if student.lms_id else []
        bad = refused_by_id.pop(student.lms_id, []) if student.lms_id else []
        outcome = StudentOutcome(student.student_id, student.lms_id, student.name, "missing")
        outcome.notes += [f"refused: {r.name}: {r.why}" for r in bad]
        if not student.lms_id:
            outcome.notes.append("no lms_id in the roster: cannot be matched to a download")
        if uploads or bad:
            outcome.status = "not_collected"
        if uploads:
            _collect_one(course, assignment, released, zip_path, max_bytes, module, uploads, outcome)
        if outcome.status == "collected" and times is not None:
            _write_time(course, assignment, times.get(student.lms_id), outcome)
        report.students.append(outcome)
    for lms_id in sorted(set(by_id) | set(refused_by_id)):
        uploads = by_id.get(lms_id, [])
        files = [u.filename for u in uploads] + [r.name for r in refused_by_id.get(lms_id, [])]
        name = uploads[0].lms_name if uploads else ""
        report.students.append(StudentOutcome("", lms_id, name, "unknown_student",
                                              notes=[f"not in the roster, not collected: {', '.join(files)}"]))
    return report


def _collect_one(course: Course, assignment: str, released: str, zip_path, max_bytes: int, module,
                 uploads: list[Upload], outcome: StudentOutcome) -> None:
    chosen, notes = choose_notebook(uploads, released, module)
    outcome.notes += notes
    if any(u.late for u in uploads):
        outcome.notes.append("marked late by the LMS")
    if chosen is None:
        return
    try:
        data = read_member(zip_path, chosen.entry, max_bytes)
        note = write_submission(course, outcome.student_id, assignment, released, data)
    except ValueError as error:
        outcome.notes.append(f"not collected: {error}")
        return
    outcome.status, outcome.collected_from = "collected", chosen.entry
    if note:
        outcome.notes.append(note)


def _write_time(course: Course, assignment: str, when: dt.datetime | None, outcome: StudentOutcome) -> None:
    """``when`` as ``timestamp.txt`` next to the collected notebook; without a time, an older
    ``timestamp.txt`` (of an earlier collection) is removed: the submission counts as on time."""
    folder = course.submitted / outcome.student_id / assignment
    if when is None:
        try:
            if os.path.lexists(folder / "timestamp.txt"):
                os.unlink(folder / "timestamp.txt")
        except OSError as error:
            outcome.notes.append(f"an older timestamp.txt could not be removed: {error}")
        outcome.notes.append("no submission time in --times: counted on time")
        return
    try:
        write_submission(course, outcome.student_id, assignment, "timestamp.txt",
                         when.strftime(TIMESTAMP_FORMAT).encode())
    except ValueError as error:
        outcome.notes.append(f"submission time not written: {error}")
        return
    outcome.notes.append(f"submitted at {when:%Y-%m-%d %H:%M} UTC")


def write_report_csv(report: CollectReport, path: str | Path) -> None:
    """The per-student report as CSV (columns ``REPORT_COLUMNS``), every cell spreadsheet-safe."""
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=REPORT_COLUMNS, lineterminator="\n")
        writer.writeheader()
        for s in report.students:
            writer.writerow(safe_row({"student_id": s.student_id, "lms_id": s.lms_id, "name": s.name,
                                      "status": s.status, "collected_from": s.collected_from,
                                      "notes": "; ".join(s.notes)}))


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("collect", help="an LMS's submissions download into submitted/",
                                   description=__doc__.split("\n\n")[0])
    parser.add_argument("assignment", help="the assignment id, e.g. 02_adam")
    parser.add_argument("--from", dest="zip", required=True, help="the zip downloaded from Canvas or Moodle")
    parser.add_argument("--lms", default="auto", choices=["auto", *LMS], help="the zip's format (default: auto)")
    parser.add_argument("--course", default="graders", help="the nbgrader course folder (default: graders)")
    parser.add_argument("--roster", default=None, help="the roster CSV (default: <course>/roster.csv)")
    parser.add_argument("--report", default=None, help="also write the report as CSV to this file")
    parser.add_argument("--times", default=None, metavar="CSV",
                        help="the LMS's submission times: a CSV with the columns lms_id and submitted_at "
                             "(ISO 8601 with its offset), written as each collected notebook's timestamp.txt")
    parser.add_argument("--max-notebook-mb", type=float, default=Settings.max_notebook_mb,
                        help="notebooks larger than this (MiB) are refused, as the grader refuses them "
                             "(default: %(default)g)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        if not args.max_notebook_mb > 0:
            raise ValueError(f"--max-notebook-mb={args.max_notebook_mb:g} is not allowed: it must be more than 0")
        course = Course.from_directory(args.course)
        roster = read_roster(args.roster or roster_path(course.root))
        times = read_times(args.times) if args.times else None
        report = collect(course, roster, args.assignment, args.zip, args.lms,
                         int(args.max_notebook_mb * 1024**2), times)
    except (ValueError, FileNotFoundError) as error:
        print(f"collect: {error}", file=sys.stderr)
        return 2
    print("\n".join(report.lines()))
    if args.report:
        write_report_csv(report, args.report)
    return 0
