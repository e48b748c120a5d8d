"""Autograding throughput, paired: this course's pipeline and stock nbgrader on the same notebooks.

    python bench/autograde_throughput.py [--n 20] [--jobs CPUS] [--rounds 2] [--timeout 60]
                                         [--no-sandbox] [--no-stock]

Builds two scratch courses (graders/.scratch/bench) holding the same N submissions spread
over the chapters (every chapter's student version with its solution cells filled; every
other one with its solution cells left blank), then, ``--rounds`` times and alternating so
that both see the same machine load, grades every submission

- with the pipeline (``make autograde``: sandbox, isolated judge, feedback, grades.csv,
  ``--jobs`` worker processes),
- with the pipeline whose judge starts a cold worker per notebook (``--no-warm-pool``;
  skipped with ``--no-cold`` or without the sandbox), and
- with stock ``nbgrader autograde <assignment> --force``, one assignment after another
  (nbgrader's own configuration: the checks run in the notebook's kernel, no sandbox).

It prints, for each, notebooks per minute and CPU-seconds per notebook (this process and
every process it started, kernels, sandboxes and fork servers included: the benchmark moves
itself into a cgroup v2 of its own where it may, as root; elsewhere ``getrusage``, which
misses processes killed inside a sandbox), the best round of each, their ratios, and whether
the pipeline gave the filled submissions full marks and the blank ones 0. Not part of
``make test``; ``make bench`` runs it.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from course_grader.pipeline import isolation, scratch  # noqa: E402
from course_grader.pipeline.cli import GRADERS  # noqa: E402
from course_grader.pipeline.batch import grade_course  # noqa: E402
from course_grader.pipeline.submission import Settings  # noqa: E402

STOCK_CONFIG = """\
c = get_config()
c.CourseDirectory.root = {root!r}
c.CourseDirectory.course_id = "optim-course"
c.CourseDirectory.source_directory = {source!r}
c.CourseDirectory.release_directory = "release"
c.CourseDirectory.db_url = "sqlite:///{root}/gradebook.db"
c.ClearSolutions.code_stub = {{"python": "# YOUR CODE HERE\\nraise NotImplementedError()"}}
c.Execute.timeout = {timeout}
"""


def rusage_seconds() -> float:
    """CPU time of this process and of every child process waited for so far.

    A process that is killed rather than waited for (a sandbox's inner processes when the
    sandbox is stopped with SIGKILL) is missing from it: see :class:`CgroupMeter`.
    """
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


class CgroupMeter:
    """CPU time of this process and of all its descendants, however they end: a cgroup v2 of our own.

    Every process started from here (pool workers, sandboxes, kernels, fork servers) stays in
    the cgroup, and ``cpu.stat`` counts them all. Needs a writable cgroup v2 mount (root);
    :meth:`open` returns None where there is none.
    """

    def __init__(self, folder: Path, home: str) -> None:
        self.folder, self.home = folder, home

    @classmethod
    def open(cls) -> "CgroupMeter | None":
        try:
            mounts = Path("/proc/mounts").read_text().splitlines()
            roots = [line.split()[1] for line in mounts if line.split()[2] == "cgroup2"]
            current = next(line.split("::", 1)[1] for line in Path("/proc/self/cgroup").read_text().splitlines()
                           if line.startswith("0::"))
            for root in roots:
                home = Path(root) / current.lstrip("/")
                folder = home / f"course-bench-{os.getpid()}"
                try:
                    folder.mkdir()
                    (folder / "cgroup.procs").write_text(str(os.getpid()))
                    return cls(folder, str(home))
                except OSError:
                    if folder.exists():
                        folder.rmdir()
        except (OSError, StopIteration, IndexError):
            pass
        return None

    def seconds(self) -> float:
        for line in (self.folder / "cpu.stat").read_text().splitlines():
            if line.startswith("usage_usec "):
                return int(line.split()[1]) / 1e6
        raise OSError("cpu.stat has no usage_usec")

    def close(self) -> None:
        try:
            (Path(self.home) / "cgroup.procs").write_text(str(os.getpid()))
            time.sleep(0.2)
            self.folder.rmdir()
        except OSError:
            pass


METER: CgroupMeter | None = None


def cpu_seconds() -> float:
    """CPU seconds used so far by this process and everything it started (cgroup, or else rusage)."""
    return METER.seconds() if METER is not None else rusage_seconds()


def measured(run) -> tuple[float, float]:
    """``(wall seconds, CPU seconds)`` of ``run()``."""
    wall, cpu = time.perf_counter(), cpu_seconds()
    run()
    return time.perf_counter() - wall, cpu_seconds() - cpu


def nbgrader(root: Path, *args: str) -> None:
    env = dict(os.environ, PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    done = subprocess.run([sys.executable, "-m", "nbgrader", *args, "--log-level=ERROR"], cwd=root, env=env,
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"nbgrader {' '.join(args)} failed: {done.stderr[-2000:]}")


def stock_course(root: Path, chapters: list[str], timeout: int) -> Path:
    """A plain nbgrader course grading the same assignments, recorded in its own gradebook."""
    root.mkdir(parents=True)
    (root / "nbgrader_config.py").write_text(
        STOCK_CONFIG.format(root=str(root), source=str(scratch.SOLUTIONS), timeout=timeout))
    for assignment in chapters:
        nbgrader(root, "generate_assignment", assignment, "--force")
    return root


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=20, help="submissions to grade (default 20)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count(), help="pipeline worker processes (default: CPUs)")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds of each (default 2)")
    parser.add_argument("--timeout", type=int, default=60, help="seconds per cell")
    parser.add_argument("--no-sandbox", action="store_true", help="grade without the sandbox")
    parser.add_argument("--no-stock", action="store_true", help="skip stock nbgrader")
    parser.add_argument("--no-cold", action="store_true",
                        help="skip the pipeline with cold judge workers (--no-warm-pool)")
    parser.add_argument("--root", type=Path, default=GRADERS / ".scratch" / "bench")
    args = parser.parse_args()
    for name in ("n", "jobs", "rounds"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be >= 1, got {getattr(args, name)}")
    chapters = [a for a in scratch.chapters() if any((scratch.NOTEBOOKS / a).glob("*.ipynb"))]
    if not chapters:
        print("no chapter has a student version in notebooks/: run `make student` first")
        return 2
    sandbox = isolation.sandbox_status()[0] and not args.no_sandbox
    global METER
    METER = CgroupMeter.open()
    try:
        return run(args, chapters, sandbox)
    finally:
        if METER is not None:
            METER.close()


def run(args: argparse.Namespace, chapters: list[str], sandbox: bool) -> int:

    scratch.reset(args.root)
    course = scratch.new_course(args.root / "project")
    settings = Settings(timeout=args.timeout, sandbox=sandbox)
    grade_course(course, settings, jobs=1, log=lambda _: None)  # record the assignments (not timed)
    variants = {}
    for assignment in chapters:
        name, release = scratch.release_notebook(course, assignment)
        variants[assignment] = (name, scratch.filled(release, scratch.source_notebook(course, assignment, name)),
                                release)
    filled = set()
    for i in range(args.n):
        assignment = chapters[i % len(chapters)]
        name, full, blank = variants[assignment]
        student = f"student{i:03d}"
        if (i // len(chapters)) % 2 == 0:
            filled.add(student)
        scratch.submit(course, student, assignment, full if student in filled else blank, f"{name}.ipynb")
    stock = None
    if not args.no_stock:
        stock = stock_course(args.root / "stock", chapters, args.timeout)
        shutil.copytree(course.submitted, stock / "submitted")

    runs: dict[str, list[tuple[float, float]]] = {"pipeline": [], "pipeline, cold": [], "stock nbgrader": []}
    report = None
    for _ in range(args.rounds):
        def pipeline() -> None:
            nonlocal report
            report = grade_course(course, settings, jobs=args.jobs, force=True, log=lambda _: None)
        runs["pipeline"].append(measured(pipeline))
        if sandbox and not args.no_cold:
            cold = dataclasses.replace(settings, warm_pool=False)
            runs["pipeline, cold"].append(measured(
                lambda: grade_course(course, cold, jobs=args.jobs, force=True, log=lambda _: None)))
        if stock is not None:
            runs["stock nbgrader"].append(measured(
                lambda: [nbgrader(stock, "autograde", a, "--force") for a in chapters]))

    print(f"autograde throughput: {args.n} notebooks ({len(chapters)} chapters), pipeline jobs={args.jobs}, "
          f"sandbox={'on' if sandbox else 'off'}, cpus={os.cpu_count()}, rounds={args.rounds} (alternating); "
          + ("CPU from a cgroup of the benchmark's own (every process it started)" if METER is not None else
             "CPU from getrusage (no writable cgroup v2 here: processes killed inside a sandbox are missed)"))
    best = {}
    for tool, measures in runs.items():
        if not measures:
            continue
        wall, cpu = min(measures)
        best[tool] = 60 * args.n / wall
        print(f"  {tool:15s} {best[tool]:6.1f} notebooks/min  {cpu / args.n:5.2f} CPU-s/notebook  "
              f"(best of {len(measures)}; every round: "
              + ", ".join(f"{60 * args.n / w:.1f}/min {c / args.n:.2f} CPU-s" for w, c in measures) + ")")
    if "stock nbgrader" in best:
        print(f"  ratio           {best['pipeline'] / best['stock nbgrader']:6.2f} x stock nbgrader's rate")
    if "pipeline, cold" in best:
        print(f"  warm pool       {best['pipeline'] / best['pipeline, cold']:6.2f} x the rate with cold judge workers")
    submitted = {(f"student{i:03d}", chapters[i % len(chapters)]) for i in range(args.n)}
    rows = [r for r in report.rows if (r["student_id"], r["assignment"]) in submitted]
    full = sum(1 for r in rows if r["student_id"] in filled  # autograded points: written answers wait for a person
               and float(r["auto_score"]) == float(r["auto_max_score"]) > 0)
    zero = sum(1 for r in rows if r["student_id"] not in filled and float(r["score"]) == 0)
    print(f"  pipeline scores filled with full marks {full}/{len(filled)}, blank with 0 {zero}/{args.n - len(filled)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
