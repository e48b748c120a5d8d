r"""What a batch shows while it grades: a progress bar, and a line per submission not graded.

After :math:`n` of :math:`N` submissions in :math:`t` seconds the figures are

.. math::

    \text{rate} = 60\,\frac{n}{t} \ \text{submissions/min}, \qquad
    \text{time left} = (N - n)\,\frac{t}{n},

the average since grading started (not a recent window: with several workers, results
arrive in bursts). Modes (``--progress``):

- ``bar``: a tqdm bar on the progress stream (stderr), redrawn in place;
- ``lines``: a plain line with the same figures every ``every_seconds`` seconds or every
  5 % of the batch, whichever comes first, and at the end: what a log file should hold
  (looked at when a result comes in: no line while one long submission is being graded);
- ``none``: no figures;
- ``auto`` (default): ``bar`` when the progress stream is a terminal, else ``lines``.

In every mode a submission whose status is not ``graded`` gets a line as soon as its result
is known (above the bar, on the output stream); ``verbose`` gives every submission its line.
"""
from __future__ import annotations

import math
import sys
import time
from typing import Callable, TextIO

from tqdm import tqdm

MODES = ("auto", "bar", "lines", "none")


def figures(count: int, total: int, seconds: float) -> tuple[float | None, float | None]:
    """``(submissions per minute, seconds left)`` after ``count`` of ``total`` in ``seconds``;
    ``None`` for a figure that cannot be known yet (nothing graded, no time elapsed)."""
    if count <= 0 or seconds <= 0:
        return None, None
    per_second = count / seconds
    return 60.0 * per_second, max(total - count, 0) / per_second


def duration(seconds: float) -> str:
    """``"42 s"``, ``"18 min 05 s"``, ``"2 h 05 min"``."""
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def describe(count: int, total: int, seconds: float) -> str:
    """``"40/1000 (4%) in 2 min 10 s, 18.5 submissions/min, about 52 min 00 s left"``."""
    rate, left = figures(count, total, seconds)
    percent = f" ({100 * count // total}%)" if total else ""
    speed = "rate not known yet" if rate is None else f"{rate:.1f} submissions/min"
    remaining = "" if left is None else (", done" if count >= total else f", about {duration(left)} left")
    return f"{count}/{total}{percent} in {duration(seconds)}, {speed}{remaining}"


def submission_line(result) -> str:
    """``"  ada/01_sgd: timeout (31.2 s) - cell 3 ran past 30 s"`` for a grading result."""
    took = f" ({result.seconds:.1f} s)" if result.seconds else ""
    why = f" - {result.reason}" if result.reason else ""
    return f"  {result.student}/{result.assignment}: {result.status}{took}{why}"


class _Bar(tqdm):
    """A tqdm bar whose ``{figures}`` field is set by :class:`Progress` (its clock, its rate)."""

    def __init__(self, *args, figures: str = "", **kwargs):
        self.figures = figures  # before tqdm's first frame, drawn by its __init__
        super().__init__(*args, **kwargs)

    @property
    def format_dict(self):
        return {**super().format_dict, "figures": self.figures}


class Progress:
    """The batch's log (call it with a line) and its progress over the submissions it grades.

    Args:
        mode: ``auto``, ``bar``, ``lines`` or ``none`` (see the module docstring).
        verbose: a line for every submission, graded ones included.
        out: where log lines and submission lines go (default ``sys.stdout``).
        stream: where the bar or the progress lines go (default ``sys.stderr``).
        clock: seconds, for the figures (default ``time.monotonic``).
        every_seconds: in ``lines`` mode, the longest wait between two progress lines.

    Raises:
        ValueError: for a mode not in :data:`MODES` or ``every_seconds`` <= 0.
    """

    def __init__(self, mode: str = "auto", verbose: bool = False, out: TextIO | None = None,
                 stream: TextIO | None = None, clock: Callable[[], float] = time.monotonic,
                 every_seconds: float = 60.0):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
        if not every_seconds > 0:
            raise ValueError(f"every_seconds must be > 0, got {every_seconds}")
        self.out = out if out is not None else sys.stdout
        self.stream = stream if stream is not None else sys.stderr
        if mode == "auto":
            mode = "bar" if getattr(self.stream, "isatty", lambda: False)() else "lines"
        self.mode, self.verbose, self.clock, self.every_seconds = mode, verbose, clock, every_seconds
        self.count = self.total = 0
        self.started = self.last_line_at = 0.0
        self.last_line_count = 0
        self.bar: _Bar | None = None

    def __call__(self, line: str) -> None:
        """Write a log line (above the bar, when there is one)."""
        if self.bar is not None:
            self.bar.write(line, file=self.out)
        else:
            print(line, file=self.out)
        self.out.flush()  # keeps the order of lines when both streams go to one log file

    def start(self, total: int) -> None:
        """Grading of ``total`` submissions begins."""
        self.close()
        self.count, self.total = 0, total
        self.started = self.last_line_at = self.clock()
        self.last_line_count = 0
        if self.mode == "bar" and total:
            self.bar = _Bar(total=total, file=self.stream, desc="grading", mininterval=0, dynamic_ncols=True,
                            bar_format="{desc} |{bar}| {figures}", figures=describe(0, total, 0.0))

    def result(self, result, counted: bool = True) -> None:
        """One submission's result; ``counted``: it is one of the ``total`` being graded (a
        submission refused before grading, such as a bad folder name, is not)."""
        if result.status != "graded" or self.verbose:
            self(submission_line(result))
        if not counted:
            return
        self.count += 1
        now = self.clock()
        text = describe(self.count, self.total, now - self.started)
        if self.bar is not None:
            self.bar.figures = text
            self.bar.update(1)
        elif self.mode == "lines":
            step = max(1, math.ceil(self.total / 20))
            if (self.count >= self.total or self.count - self.last_line_count >= step
                    or now - self.last_line_at >= self.every_seconds):
                print(f"progress: {text}", file=self.stream)
                self.stream.flush()
                self.last_line_at, self.last_line_count = now, self.count

    def close(self) -> None:
        """Leave the bar on screen at its last state (safe to call more than once)."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class PlainLog:
    """A plain ``log(line)`` callable seen as a :class:`Progress`: no figures, a line for every
    submission (what ``grade_course(..., log=print)`` has always printed)."""

    def __init__(self, log: Callable[[str], None]):
        self.log = log

    def __call__(self, line: str) -> None:
        self.log(line)

    def start(self, total: int) -> None:
        pass

    def result(self, result, counted: bool = True) -> None:
        self.log(submission_line(result))

    def close(self) -> None:
        pass


def as_progress(log: Callable[[str], None]) -> Progress | PlainLog:
    """``log`` itself when it is a :class:`Progress`, else a :class:`PlainLog` around it."""
    return log if isinstance(log, (Progress, PlainLog)) else PlainLog(log)
