"""Fixtures for the tests of course_lib's shared modules (problems, plots, training)."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg", force=True)

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture
def no_show(monkeypatch):
    """Make plt.show raise, and close every figure the test opened."""

    def forbidden(*args, **kwargs):
        raise AssertionError("a plot helper called plt.show()")

    monkeypatch.setattr(plt, "show", forbidden)
    yield
    plt.close("all")
