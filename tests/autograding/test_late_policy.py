"""The late-work policy file: parsing errors and penalty arithmetic (no grading)."""
from __future__ import annotations

import datetime as dt

import pytest

from course_grader.pipeline.late_policy import PolicyError, load_policy, parse_policy

DUE = "2026-10-12 23:59"
PARIS_DUE = dt.datetime(2026, 10, 12, 21, 59, tzinfo=dt.UTC)  # 23:59 in Paris (UTC+2)


def policy(rule="per_day", **penalty):
    return parse_policy({"timezone": "Europe/Paris", "due": {"a": DUE},
                         "penalty": {"rule": rule, **penalty}, "extensions": {"bob": {"a": 2}, "eve": {"a": "2026-10-20 12:00"}}})


@pytest.mark.parametrize("data, message", [
    ({"penalty": {"rule": "daily"}}, "penalty.rule must be one of 'none', 'zero', 'per_day', got 'daily'"),
    ({"penalty": {"rule": "per_day"}}, "penalty.percent_per_day must be set"),
    ({"penalty": {"rule": "per_day", "percent_per_day": 150}}, "penalty.percent_per_day must be a percentage between 0 and 100, got 150"),
    ({"penalty": {"rule": "zero", "cap": 5}}, "unknown key penalty.cap; the keys allowed in penalty are rule, percent_per_day, cap_percent"),
    ({"deadline": {}}, "unknown key deadline"),
    ({"timezone": "Mars/Olympus"}, "timezone must be an IANA time zone name"),
    ({"due": {"a": "next friday"}}, "due.a must be a date and time such as '2026-10-12 23:59'"),
    ({"due": {"zz": DUE}}, "due.zz must be the due date of an assignment of the course (a)"),
    ({"due": {"a": DUE}, "extensions": {"bob": {"b": 1}}}, "extensions.bob.b must be an extension of an assignment with a due date (a)"),
    ({"due": {"a": DUE}, "extensions": {"bob": {"a": -1}}}, "extensions.bob.a must be a number of days >= 0"),
])
def test_bad_policy_names_key_value_and_allowed(data, message):
    with pytest.raises(PolicyError, match="policy.toml: ") as error:
        parse_policy(data, assignments=["a"])
    assert message in str(error.value)


def test_policy_file_is_read_and_a_missing_one_means_no_due_dates(tmp_path):
    assert load_policy(tmp_path / "policy.toml").due == {}
    (tmp_path / "policy.toml").write_text('[due]\na = "2026-10-12T23:59:00+02:00"\n[penalty\n')
    with pytest.raises(PolicyError, match="not a valid TOML file"):
        load_policy(tmp_path / "policy.toml")
    (tmp_path / "policy.toml").write_text('timezone = "Europe/Paris"\n[due]\na = "2026-10-12 23:59"\n')
    assert load_policy(tmp_path / "policy.toml").due["a"] == PARIS_DUE


def test_per_day_started_with_cap():
    rule = policy(percent_per_day=10, cap_percent=25)
    assert rule.penalty("x", "a", PARIS_DUE) .fraction == 0  # exactly on time
    one_minute = rule.penalty("x", "a", PARIS_DUE + dt.timedelta(minutes=1))
    assert (one_minute.fraction, one_minute.reason) == (0.1, "late 1 min: -10 %")
    late = rule.penalty("x", "a", (PARIS_DUE + dt.timedelta(days=1, hours=3)).replace(tzinfo=None))  # naive UTC
    assert (late.fraction, late.reason) == (0.2, "late 1 d 3 h: -20 %")
    assert rule.penalty("x", "a", PARIS_DUE + dt.timedelta(days=9)).fraction == 0.25  # capped


def test_zero_none_extension_and_no_timestamp():
    assert policy("zero").penalty("x", "a", PARIS_DUE + dt.timedelta(hours=5)).reason == "late 5 h: -100 %"
    assert policy("none").penalty("x", "a", PARIS_DUE + dt.timedelta(days=3)).fraction == 0
    per_day = policy(percent_per_day=10)
    assert per_day.penalty("bob", "a", PARIS_DUE + dt.timedelta(days=2)).fraction == 0  # 2 days more
    assert per_day.penalty("bob", "a", PARIS_DUE + dt.timedelta(days=2, hours=1)).fraction == 0.1
    assert per_day.penalty("eve", "a", PARIS_DUE + dt.timedelta(days=7)).fraction == 0  # a new due date
    assert per_day.penalty("x", "b", PARIS_DUE + dt.timedelta(days=7)).fraction == 0  # no due date
    missing = per_day.penalty("x", "a", None)
    assert missing.fraction == 0 and "counted on time" in missing.reason
