"""Command line of the batch: ``python -m course_grader [options]`` (``make autograde``).

Exit status:

- 0: every submission was graded, or refused for a reason of its own (no notebook, an
  invalid or unsafe one, a bad folder name: the student's, listed and marked in grades.csv);
- 2: a configuration error (no sources, no sandbox without ``--no-sandbox``, a gradebook that
  cannot be opened, a bad option);
- 3: another run is grading the same course (nothing was read or written; ``--wait`` queues
  behind it instead);
- 4: the canary failed (:mod:`course_grader.pipeline.canary`): the reference solution of an
  assignment lost points or its blank release earned some with this setup, so nobody was
  graded and nothing was written to the gradebook or grades.csv;
- 5: the batch ran, but at least one submission ended ``failed``: the grader's fault, not the
  student's (a crash, a judge that could not start). They are listed first; fix the cause and
  run again (failed submissions are always regraded).

``--scheduler tcp://HOST:8786`` grades each submission as a task of a Dask cluster whose
workers may be other machines (docs/instructors.md); the gradebook must then be PostgreSQL,
and the sandbox and the canary run on each worker: a worker that fails its canary is named
and given no submission; status 4 when none passes.
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path

from course_grader.pipeline import isolation, dask_cluster
from course_grader.pipeline.course import Course
from course_grader.pipeline.batch import ConfigurationError, CourseBusy, course_check_seed, course_lock, grade_course
from course_grader.pipeline.canary import CanaryFailed
from course_grader.pipeline.progress import MODES, Progress
from course_grader.pipeline.grades import failure_summary, grade_table
from course_grader.pipeline.submission import Settings, exit_cleanly_on_sigterm

GRADERS = Path(__file__).resolve().parents[2] / "graders"

NO_SANDBOX_BANNER = """
!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!
!! GRADING WITHOUT THE SANDBOX: student code runs with YOUR user's rights     !!
!! (files, network, processes). Only do this for trusted submissions.         !!
!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"""


def _positive(kind: type, name: str):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be a number, got {text!r}") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"{name} must be > 0, got {text}")
        return value
    return parse


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--check-seed must be a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"--check-seed must be >= 0, got {value}")
    return value


def _scheduler(text: str) -> str:
    try:
        return dask_cluster.check_address(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--scheduler must be a Dask scheduler address such as tcp://10.0.0.5:8786, got {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m course_grader", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--course", type=Path, default=GRADERS,
                        help="nbgrader course directory (default: graders/)")
    parser.add_argument("--jobs", type=_positive(int, "--jobs"), default=os.cpu_count() or 1,
                        help="submissions graded in parallel (default: the number of CPUs)")
    parser.add_argument("--timeout", type=_positive(int, "--timeout"), default=30,
                        help="seconds one cell may run before it is interrupted (default 30)")
    parser.add_argument("--no-sandbox", action="store_true",
                        default=os.environ.get("AUTOGRADE_NO_SANDBOX", "") not in ("", "0"),
                        help="grade without the sandbox (also AUTOGRADE_NO_SANDBOX=1); trusted code only")
    parser.add_argument("--notebook-timeout", type=_positive(float, "--notebook-timeout"), default=None,
                        help="seconds one notebook may run in total (default: 6 x --timeout)")
    parser.add_argument("--max-write-mb", type=_positive(int, "--max-write-mb"), default=Settings.max_write_mb,
                        help=f"MiB a kernel may write (default {Settings.max_write_mb})")
    parser.add_argument("--max-write-files", type=_positive(int, "--max-write-files"),
                        default=Settings.max_write_files,
                        help=f"files a kernel may create (default {Settings.max_write_files})")
    parser.add_argument("--max-notebook-mb", type=_positive(int, "--max-notebook-mb"),
                        default=Settings.max_notebook_mb,
                        help=f"largest submitted notebook read, MiB (default {Settings.max_notebook_mb})")
    parser.add_argument("--max-output-mb", type=_positive(int, "--max-output-mb"), default=Settings.max_output_mb,
                        help=f"outputs kept per graded notebook, MiB (default {Settings.max_output_mb})")
    parser.add_argument("--no-warm-pool", action="store_true",
                        help="start a fresh sandboxed Python (and torch) for each judge's worker instead of "
                             "forking it from the warm pool; slower, same grades")
    parser.add_argument("--force", action="store_true",
                        help="regrade every submission (every selected one), changed or not")
    parser.add_argument("--student", action="append", default=[], metavar="ID",
                        help="grade only this student's submissions (repeatable); the others' grades, "
                             "feedback and grades.csv rows stay as they are")
    parser.add_argument("--assignment", action="append", default=[], metavar="ID",
                        help="grade only submissions of this assignment (repeatable; with --student: both)")
    parser.add_argument("--no-canary", action="store_true",
                        help="skip the canary: grading each assignment's reference solution (full marks "
                             "expected) and blank release (0 expected) before any student; a pass is "
                             "cached, so leave it on unless you know why")
    seeds = parser.add_mutually_exclusive_group()
    seeds.add_argument("--check-seed", type=_seed, default=None, metavar="N",
                       help="draw the checks' secret inputs from seed N (default: the course's own, "
                            "created on its first grading and printed by every run)")
    seeds.add_argument("--new-check-seed", action="store_true",
                       help="replace the course's secret seed by a fresh one (regrades everything)")
    parser.add_argument("--scheduler", type=_scheduler, default=None, metavar="ADDRESS",
                        help="grade on the Dask cluster of this scheduler (tcp://host:8786), one task per "
                             "submission; needs a PostgreSQL gradebook (see docs/instructors.md)")
    parser.add_argument("--wait", action="store_true",
                        help="if another run is grading this course, wait for it instead of exiting (status 3)")
    parser.add_argument("--progress", choices=MODES, default="auto",
                        help="bar: a progress bar (count, submissions/min, time left) on stderr; lines: a "
                             "plain line with the same figures every minute or 5%% of the batch (for log "
                             "files); none: no figures; auto (default): bar on a terminal, else lines")
    parser.add_argument("--verbose", action="store_true",
                        help="a line for every graded submission (default: only for those not graded normally)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the batch; while it runs, SIGTERM unwinds like Ctrl-C (the warm pools' folders are removed)."""
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.getsignal(signal.SIGTERM) if main_thread else None
    exit_cleanly_on_sigterm()
    try:
        return _main(argv)
    finally:
        if main_thread:  # a caller's own handler (a test runner's, say) comes back
            signal.signal(signal.SIGTERM, previous)


def _main(argv: list[str] | None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exit_:
        return 2 if exit_.code else 0
    if args.scheduler is not None:  # the workers grade: each checks its own sandbox
        sandbox_ok, why = True, ""
    else:
        sandbox_ok, why = isolation.sandbox_status()
    if not sandbox_ok and not args.no_sandbox:
        print(f"error: the sandbox cannot run here: {why}\n"
              "Fix that, or pass --no-sandbox (AUTOGRADE_NO_SANDBOX=1) to grade trusted submissions "
              "without it.", file=sys.stderr)
        return 2
    sandbox = sandbox_ok and not args.no_sandbox
    if not sandbox:
        print(NO_SANDBOX_BANNER + (f"\n(sandbox unavailable: {why})" if not sandbox_ok else ""))
    if isolation.load_judge() is None:
        print("warning: course_grader.judge.trusted is not installed: verdicts come from the kernel only")
    try:
        course = Course.from_directory(args.course)
        seed = args.check_seed
        if args.new_check_seed:
            with course_lock(course, wait=args.wait):
                seed = course_check_seed(course, new=True)
        settings = Settings(timeout=args.timeout, sandbox=sandbox, notebook_timeout=args.notebook_timeout,
                            max_write_mb=args.max_write_mb, max_write_files=args.max_write_files,
                            max_notebook_mb=args.max_notebook_mb, max_output_mb=args.max_output_mb,
                            check_seed=seed, warm_pool=not args.no_warm_pool)
        progress = Progress(args.progress, verbose=args.verbose)
        try:
            report = grade_course(course, settings, jobs=args.jobs, force=args.force, log=progress,
                                  wait=args.wait, scheduler=args.scheduler, canary=not args.no_canary,
                                  students=tuple(args.student), assignments=tuple(args.assignment))
        finally:
            progress.close()
    except CourseBusy as error:
        print(f"error: {error}", file=sys.stderr)
        return 3
    except ConfigurationError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except CanaryFailed as error:
        print(f"error: {error}", file=sys.stderr)
        return 4
    failed = failed_to_grade(report)
    if failed:
        print(f"\n{len(failed)} submission(s) FAILED to grade (the grader's fault, not the student's):")
        print("\n".join(f"  {r.student}/{r.assignment}: {r.reason}" for r in failed))
    if report.excluded_workers:
        from course_grader.pipeline.dask_canary import describe

        print(f"\n{len(report.excluded_workers)} Dask worker(s) failed the canary and were given no submission:")
        print(describe(report.excluded_workers))
    print()
    print(grade_table(report.rows))
    print("\n" + run_summary(report) + f" (in {report.seconds:.1f} s); grades: {course.grades_csv}; "
          f"feedback: {course.feedback}")
    summary = failure_summary(report.rows)
    if summary:
        print("\n" + summary)
    if not sandbox:
        print(NO_SANDBOX_BANNER)
    return 5 if failed else 0


def _graded_now(report) -> list:  # noqa: ANN001 - a BatchReport
    """The results of the submissions this run graded (not the unchanged ones it skipped)."""
    regraded = set(report.regraded)
    return [r for r in report.results if (r.student, r.assignment) in regraded]


def failed_to_grade(report) -> list:  # noqa: ANN001 - a BatchReport
    """The submissions this run could not grade through no fault of the student's."""
    return [r for r in _graded_now(report) if r.status == "failed"]


def run_summary(report) -> str:  # noqa: ANN001 - a BatchReport
    """``12 graded, 1 failed (the grader's), 2 not graded (the submission's), 3 unchanged``, and on a
    Dask cluster the workers lost: ``; 1 Dask worker lost (tcp://...), 3 tasks resubmitted; grades
    unaffected``."""
    statuses = [r.status for r in _graded_now(report)]
    graded, failed = statuses.count("graded"), statuses.count("failed")
    parts = [f"{graded} graded"]
    if failed:
        parts.append(f"{failed} failed (the grader's fault)")
    if len(statuses) - graded - failed:
        parts.append(f"{len(statuses) - graded - failed} not graded (a problem of the submission)")
    parts.append(f"{len(report.skipped)} unchanged (skipped)")
    return ", ".join(parts) + (f"; {report.cluster_losses}" if getattr(report, "cluster_losses", "") else "")
