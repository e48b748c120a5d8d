"""The class report's figures; each function returns a :class:`matplotlib.figure.Figure`.

Figures are drawn with matplotlib's Agg backend (no display) and embedded in the pages as
``data:image/png`` URLs (:func:`png_data_url`), the only images the pages' Content-Security-Policy
lets load.
"""
from __future__ import annotations

import base64
import io
from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from course_grader.review.statistics import CheckSummary

#: figure width in inches; heights grow with the number of bars
WIDTH = 6.4
DPI = 90


def score_histogram(scores: Sequence[float], max_score: float, title: str = "") -> Figure:
    """Histogram of ``scores`` on ``[0, max_score]``: one bar per whole point up to 20 points, else 20 bins."""
    fig = Figure(figsize=(WIDTH, 3.0))
    ax = fig.add_subplot()
    top = max(float(max_score), max(scores, default=0.0), 1.0)
    if top <= 20:  # one bar per whole point, centred on it
        bins = np.arange(-0.5, np.ceil(top) + 1.0)
    else:
        bins = np.linspace(0.0, top, 21)
    ax.hist(np.asarray(scores, dtype=float), bins=bins, color="#4c72b0", edgecolor="white")
    ax.set_xlim(bins[0], bins[-1])
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("score")
    ax.set_ylabel("submissions")
    ax.set_title(title or f"scores ({len(scores)} submissions)")
    fig.tight_layout()
    return fig


def status_bars(counts: dict[str, int], title: str = "submissions by status") -> Figure:
    """Horizontal bars: how many submissions have each status."""
    fig = Figure(figsize=(WIDTH, 1.2 + 0.35 * max(1, len(counts))))
    ax = fig.add_subplot()
    names = list(counts)[::-1]
    ax.barh(names, [counts[name] for name in names], color="#55a868")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("submissions")
    ax.set_title(title)
    fig.tight_layout()
    return fig


def pass_share_bars(summaries: Sequence[CheckSummary], title: str = "share of the class that passes") -> Figure:
    """Horizontal bars: per check, the share of submissions that pass it (0 to 100 %)."""
    fig = Figure(figsize=(WIDTH, 0.8 + 0.3 * max(1, len(summaries))))
    ax = fig.add_subplot()
    names = [s.check for s in summaries][::-1]
    shares = [100.0 * s.pass_share for s in summaries][::-1]
    ax.barh(names, shares, color="#c44e52")
    ax.set_xlim(0.0, 100.0)
    ax.set_xlabel("% of submissions passing")
    ax.set_title(title)
    ax.tick_params(axis="y", labelsize=7)
    fig.tight_layout()
    return fig


def png_data_url(fig: Figure) -> str:
    """``data:image/png;base64,...`` of ``fig``."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
