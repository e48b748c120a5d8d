"""The course's late-work policy: due dates, a penalty rule and extensions (``<course>/policy.toml``).

A late penalty is a pure function of the raw score, the submission time and the policy, so
it is applied to the gradebook after grading (:func:`apply_policy`) and recomputed on every
run, and by ``python -m course_grader.term deadlines``, without running any notebook::

    timezone = "Europe/Paris"            # due dates written without an offset are in this zone

    [due]                                # one due date per assignment (others: never late)
    02_adam = "2026-10-12 23:59"         # or "2026-10-12T23:59:00+02:00"

    [penalty]
    rule = "per_day"                     # "none", "zero" or "per_day"
    percent_per_day = 10                 # per_day: per day (24 h) started after the due date
    cap_percent = 50                     # per_day: never more than this (default 100)

    [extensions.alice]                   # per student: a later due date ...
    02_adam = "2026-10-14 23:59"
    [extensions.bob]
    02_adam = 3                          # ... or whole days added to the assignment's

With ``late = timestamp - due`` (the student's due date, extension included):

- ``late <= 0``, or no submission time (no ``timestamp.txt``): on time, no penalty;
- ``none``: no penalty; ``zero``: the penalty is the whole raw score;
- ``per_day``: ``fraction = min(cap_percent, percent_per_day * ceil(late / 1 day)) / 100``;

and ``penalty = raw_score * fraction`` (per notebook), ``score = max(0, raw_score - penalty)``.
"""
from __future__ import annotations

import datetime as dt
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

RULES = ("none", "zero", "per_day")
TOP_KEYS = ("timezone", "due", "penalty", "extensions")
PENALTY_KEYS = ("rule", "percent_per_day", "cap_percent")
DAY = dt.timedelta(days=1)


class PolicyError(ValueError):
    """The policy file is wrong; the message names the key, its value and what is allowed."""


@dataclass(frozen=True)
class Penalty:
    """The share of the raw score taken off, and why (``""`` when on time)."""

    fraction: float = 0.0
    reason: str = ""


@dataclass(frozen=True)
class Policy:
    """Due dates (aware datetimes), the penalty rule and per-student due dates."""

    due: dict[str, dt.datetime] = field(default_factory=dict)
    rule: str = "none"
    percent_per_day: float = 0.0
    cap_percent: float = 100.0
    extensions: dict[tuple[str, str], dt.datetime] = field(default_factory=dict)

    def due_for(self, student: str, assignment: str) -> dt.datetime | None:
        """The student's due date for the assignment (extension included), or None."""
        return self.extensions.get((student, assignment), self.due.get(assignment))

    def penalty(self, student: str, assignment: str, timestamp: dt.datetime | None) -> Penalty:
        """The penalty of a submission made at ``timestamp`` (aware, or naive UTC as nbgrader stores)."""
        due = self.due_for(student, assignment)
        if due is None:
            return Penalty()
        if timestamp is None:
            return Penalty(0.0, "no submission time (timestamp.txt): counted on time")
        if timestamp.tzinfo is None:
            timestamp = timestamp.replace(tzinfo=dt.UTC)
        late = timestamp - due
        if late <= dt.timedelta(0) or self.rule == "none":
            return Penalty()
        if self.rule == "zero":
            fraction = 1.0
        else:
            fraction = min(self.cap_percent, self.percent_per_day * math.ceil(late / DAY)) / 100
        return Penalty(fraction, f"late {late_text(late)}: -{fraction * 100:g} %")


def late_text(late: dt.timedelta) -> str:
    """``2 d 3 h``, ``5 h``, ``12 min`` (whole units, rounded down; at least ``1 min``)."""
    minutes = int(late.total_seconds() // 60)
    days, hours, minutes = minutes // 1440, minutes // 60 % 24, minutes % 60
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h"
    return f"{max(minutes, 1)} min"


def load_policy(path: Path, assignments: list[str] | None = None) -> Policy:
    """Read and check ``path``; no file means no due dates (nothing is ever late).

    Raises:
        PolicyError: a key that is unknown, of the wrong type or out of range, naming it.
    """
    path = Path(path)
    if not path.exists():
        return Policy()
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise PolicyError(f"{path}: not a valid TOML file: {error}") from None
    return parse_policy(data, str(path), assignments)


def parse_policy(data: dict, where: str = "policy.toml", assignments: list[str] | None = None) -> Policy:
    """The :class:`Policy` of a parsed TOML document (see the module's docstring)."""
    def fail(key: str, value, allowed: str):
        raise PolicyError(f"{where}: {key} must be {allowed}, got {value!r}")

    _known(data, TOP_KEYS, "", where)
    zone_name = data.get("timezone", "UTC")
    try:
        zone = ZoneInfo(zone_name) if isinstance(zone_name, str) else fail("timezone", zone_name, "a string")
    except (ZoneInfoNotFoundError, ValueError):
        fail("timezone", zone_name, "an IANA time zone name such as 'Europe/Paris' or 'UTC'")
    due_table = _table(data, "due", fail)
    due = {}
    for name, value in due_table.items():
        if assignments is not None and name not in assignments:
            fail(f"due.{name}", value, f"the due date of an assignment of the course ({', '.join(assignments)})")
        due[name] = _when(value, zone, f"due.{name}", fail)
    penalty = _table(data, "penalty", fail)
    _known(penalty, PENALTY_KEYS, "penalty.", where)
    rule = penalty.get("rule", "none")
    if rule not in RULES:
        fail("penalty.rule", rule, f"one of {', '.join(map(repr, RULES))}")
    per_day = _percent(penalty, "percent_per_day", 0.0 if rule != "per_day" else None, fail)
    cap = _percent(penalty, "cap_percent", 100.0, fail)
    extensions = {}
    for student, table in _table(data, "extensions", fail).items():
        if not isinstance(table, dict):
            fail(f"extensions.{student}", table, "a table of assignment = due date or days")
        for name, value in table.items():
            key = f"extensions.{student}.{name}"
            if name not in due:
                fail(key, value, f"an extension of an assignment with a due date ({', '.join(due) or 'none set'})")
            if isinstance(value, int) and not isinstance(value, bool):
                if value < 0:
                    fail(key, value, "a number of days >= 0 or a due date")
                extensions[(student, name)] = due[name] + value * DAY
            else:
                extensions[(student, name)] = _when(value, zone, key, fail)
    return Policy(due, rule, per_day, cap, extensions)


def _known(table: dict, allowed: tuple[str, ...], prefix: str, where: str) -> None:
    for key in table:
        if key not in allowed:
            raise PolicyError(f"{where}: unknown key {prefix}{key!s}; the keys allowed in "
                              f"{prefix.rstrip('.') or 'the file'} are {', '.join(allowed)}")


def _table(data: dict, key: str, fail) -> dict:
    value = data.get(key, {})
    return value if isinstance(value, dict) else fail(key, value, "a table")


def _percent(table: dict, key: str, default: float | None, fail) -> float:
    if key not in table:
        if default is None:
            fail(f"penalty.{key}", None, "set (a percentage between 0 and 100) when rule is 'per_day'")
        return default
    value = table[key]
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 100:
        fail(f"penalty.{key}", value, "a percentage between 0 and 100")
    return float(value)


def _when(value, zone: ZoneInfo, key: str, fail) -> dt.datetime:
    """An aware datetime from a TOML datetime or a ``YYYY-MM-DD HH:MM[:SS][+HH:MM]`` string."""
    if isinstance(value, dt.datetime):
        when = value
    elif isinstance(value, str):
        try:
            when = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            when = None
        if when is None:
            fail(key, value, "a date and time such as '2026-10-12 23:59' or '2026-10-12T23:59:00+02:00'")
    else:
        fail(key, value, "a date and time such as '2026-10-12 23:59' or '2026-10-12T23:59:00+02:00'")
    return when if when.tzinfo is not None else when.replace(tzinfo=zone)


def apply_policy(policy: Policy, db_url: str, course_id: str) -> dict[tuple[str, str], Penalty]:
    """Write the policy into the gradebook; the penalty of every submission, by ``(student, assignment)``.

    Each assignment's ``duedate`` (naive UTC, as nbgrader stores it), each submission's
    ``extension`` and each submitted notebook's ``late_submission_penalty`` are set, so that the
    gradebook (``nbgrader export``, the formgrader) and grades.csv agree: ``score = raw_score -
    late_submission_penalty``. Nothing is executed: only the stored scores and times are read.
    """
    from nbgrader.api import Gradebook  # the gradebook's ORM is heavy; only here

    penalties = {}
    with Gradebook(db_url, course_id) as gb:
        for assignment in gb.assignments:
            due = policy.due.get(assignment.name)
            assignment.duedate = _naive_utc(due)
            for submission in assignment.submissions:
                student = submission.student.id
                mine = policy.due_for(student, assignment.name)
                submission.extension = mine - due if due is not None and mine != due else None
                penalty = policy.penalty(student, assignment.name, submission.timestamp)
                for notebook in submission.notebooks:
                    notebook.late_submission_penalty = round(notebook.score * penalty.fraction, 6)
                penalties[(student, assignment.name)] = penalty
        gb.db.commit()
    return penalties


def _naive_utc(when: dt.datetime | None) -> dt.datetime | None:
    return None if when is None else when.astimezone(dt.UTC).replace(tzinfo=None)
