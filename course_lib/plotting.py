"""Figure helpers for the course notebooks.

Every helper returns a :class:`matplotlib.figure.Figure`, labels its axes,
sets a title and a legend where there is more than one thing to tell apart,
and never calls ``plt.show()``. Helpers that draw one panel accept ``ax=`` to
draw into an existing axes (the returned figure is then ``ax.figure``).

In a notebook, assign the result (``fig = plot_schedules(...)``) or end the
line with ``;``: the inline backend shows the figure once at the end of the
cell. Colours follow the Okabe-Ito palette, which stays distinguishable under
the common forms of colour blindness.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from course_lib.problems import Problem
from course_lib.trajectories import Trajectory

if TYPE_CHECKING:
    from course_lib.training import TrainingHistory

__all__ = [
    "PALETTE",
    "FIGSIZE",
    "color",
    "smooth",
    "plot_schedules",
    "plot_trajectories",
    "plot_loss_curves",
    "plot_grad_norms",
    "plot_landscape_1d",
    "plot_landscape_2d",
    "plot_function_1d",
    "plot_histories",
    "plot_sweeps",
    "plot_bars",
    "plot_lr_range_test",
]

#: Okabe-Ito colours (blue, vermillion, bluish green, reddish purple, orange,
#: sky blue, black, yellow).
PALETTE: tuple[str, ...] = (
    "#0072B2",
    "#D55E00",
    "#009E73",
    "#CC79A7",
    "#E69F00",
    "#56B4E9",
    "#000000",
    "#F0E442",
)
#: Default size of a one-panel figure, in inches.
FIGSIZE: tuple[float, float] = (7.0, 4.5)


def color(i: int) -> str:
    """The ``i``-th colour of :data:`PALETTE` (cycling)."""
    return PALETTE[i % len(PALETTE)]


def _figure_and_axes(
    ax: Axes | None, figsize: tuple[float, float] = FIGSIZE
) -> tuple[Figure, Axes]:
    if ax is not None:
        return ax.figure, ax
    fig, new_ax = plt.subplots(figsize=figsize, layout="constrained")
    return fig, new_ax


def _set_log_y(ax: Axes, values: Sequence[np.ndarray]) -> None:
    """Log y-axis when every finite value is positive, symmetric log otherwise."""
    finite = [v[np.isfinite(v)] for v in values]
    if all(np.all(v > 0) for v in finite):
        ax.set_yscale("log")
    else:
        ax.set_yscale("symlog", linthresh=1e-3)


def smooth(values: Sequence[float] | np.ndarray, window: int) -> np.ndarray:
    """Trailing moving average $\\bar v_t = \\frac{1}{k}\\sum_{s=t-k+1}^{t} v_s$.

    The window is $k = \\min(\\text{window}, t+1)$, so early points average what exists.

    Args:
        values: the series.
        window: number of points averaged, >= 1 (1 returns the series unchanged).

    Returns:
        A float64 array of the same length as ``values``.
    """
    if isinstance(window, bool) or not isinstance(window, int) or window < 1:
        raise ValueError(f"window must be an integer >= 1, got {window!r}")
    v = np.asarray(values, dtype=np.float64)
    cumulative = np.concatenate([[0.0], np.cumsum(v)])
    t = np.arange(len(v))
    start = np.maximum(0, t - window + 1)
    return (cumulative[t + 1] - cumulative[start]) / (t + 1 - start)


def _lines(
    series: Mapping[str, Sequence[float]],
    *,
    xlabel: str,
    ylabel: str,
    title: str,
    log: bool,
    ax: Axes | None,
) -> tuple[Figure, Axes]:
    if not series:
        raise ValueError("the mapping of curves must not be empty, got {}")
    fig, ax = _figure_and_axes(ax)
    arrays = []
    for i, (label, values) in enumerate(series.items()):
        y = np.asarray(values, dtype=np.float64)
        arrays.append(y)
        ax.plot(np.arange(len(y)), y, color=color(i), label=label, linewidth=1.6)
    if log:
        _set_log_y(ax, arrays)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend()
    return fig, ax


def plot_schedules(
    schedules: Mapping[str, Sequence[float]],
    *,
    title: str = "Learning-rate schedules",
    xlabel: str = "step",
    log: bool = False,
    ax: Axes | None = None,
) -> Figure:
    """Plot learning-rate schedules, one line per schedule.

    Args:
        schedules: name -> learning rate at steps $0, 1, \\dots$.
        title: axes title.
        xlabel: x-axis label.
        log: logarithmic y-axis.
        ax: draw into this axes instead of a new figure.

    Returns:
        The figure.
    """
    fig, _ = _lines(schedules, xlabel=xlabel, ylabel="learning rate", title=title, log=log, ax=ax)
    return fig


def plot_loss_curves(
    curves: Mapping[str, Sequence[float]],
    *,
    log: bool = True,
    xlabel: str = "step",
    ylabel: str = "loss",
    title: str = "Loss",
    ax: Axes | None = None,
) -> Figure:
    """Plot loss curves, one line per run (log y-axis by default).

    With ``log=True`` and non-positive values (e.g. $f$ of a problem whose
    minimum is negative) a symmetric-log axis is used; plotting
    $f(x_t) - f^\\star$ is usually more telling.

    Args:
        curves: name -> loss at steps $0, 1, \\dots$.
        log: logarithmic y-axis.
        xlabel: x-axis label.
        ylabel: y-axis label.
        title: axes title.
        ax: draw into this axes instead of a new figure.

    Returns:
        The figure.
    """
    fig, _ = _lines(curves, xlabel=xlabel, ylabel=ylabel, title=title, log=log, ax=ax)
    return fig


def plot_grad_norms(
    norms: Mapping[str, Sequence[float]],
    *,
    clip_norm: float | None = None,
    log: bool = True,
    title: str = "Gradient norm",
    ax: Axes | None = None,
) -> Figure:
    """Plot gradient norms $\\lVert g_t \\rVert_2$ per step, with the clipping threshold if given.

    Args:
        norms: name -> gradient norm at steps $0, 1, \\dots$.
        clip_norm: draw a dashed horizontal line at this threshold $c$.
        log: logarithmic y-axis.
        title: axes title.
        ax: draw into this axes instead of a new figure.

    Returns:
        The figure.
    """
    fig, ax = _lines(norms, xlabel="step", ylabel="gradient norm", title=title, log=log, ax=ax)
    if clip_norm is not None:
        ax.axhline(
            clip_norm, color="0.3", linestyle="--", lw=1.2, label=f"clip_norm = {clip_norm:g}"
        )
        ax.legend()
    return fig


def _trajectory_points(path: Trajectory | np.ndarray) -> np.ndarray:
    points = path.points if isinstance(path, Trajectory) else np.asarray(path, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(f"a trajectory must have shape (n, 2), got shape {points.shape}")
    return points


def plot_trajectories(
    problem: Problem,
    trajectories: Mapping[str, Trajectory | np.ndarray],
    *,
    levels: int = 30,
    title: str | None = None,
    show_minima: bool = True,
    overlay: bool = False,
    ax: Axes | None = None,
) -> Figure:
    """Optimizer paths over the contours of a 2-D problem.

    Contours cover ``problem.bounds``. When ``problem.log_levels`` is set they
    show $f - f^\\star$ at log-spaced levels, which resolves narrow valleys
    such as Rosenbrock's. Each path starts at a circle and ends at a square;
    known minima are stars. The view stays on ``problem.bounds`` even if a
    path leaves it.

    Args:
        problem: the problem whose contours are drawn.
        trajectories: name -> :class:`Trajectory` or an array of points ``(n, 2)``.
        levels: number of contour levels.
        title: axes title; the problem's name when None.
        show_minima: mark ``problem.minima``.
        overlay: for paths that should coincide: the first is drawn wide and pale, every later
            one dashed on top with its own markers, so that each stays visible where they agree.
        ax: draw into this axes instead of a new figure.

    Returns:
        The figure.
    """
    fig, ax = _figure_and_axes(ax, figsize=(6.5, 5.0))
    X, Y, Z = problem.grid(200)
    if problem.log_levels:
        gap = Z - problem.min_value
        positive = gap[gap > 0]
        low = max(float(positive.min()), 1e-12 * float(positive.max()))
        level_values = np.geomspace(low, float(positive.max()), levels)
        contour = ax.contour(
            X,
            Y,
            np.maximum(gap, low),
            levels=level_values,
            norm=LogNorm(),
            cmap="viridis",
            linewidths=0.8,
        )
    else:
        contour = ax.contour(X, Y, Z, levels=levels, cmap="viridis", linewidths=0.8)
    contour.set_alpha(0.7)

    for i, (label, path) in enumerate(trajectories.items()):
        points = _trajectory_points(path)
        c = color(i)
        every = max(1, len(points) // 40)  # markers stay apart on long paths
        if overlay and i == 0:
            style = dict(lw=5.0, alpha=0.45, marker="o", markersize=6, markevery=every, zorder=2)
        elif overlay:
            style = dict(lw=1.5, ls="--", marker="x", markersize=5, markevery=every, zorder=2.5)
        else:
            style = dict(lw=1.5, marker=".", markersize=3)
        ax.plot(points[:, 0], points[:, 1], color=c, label=label, **style)
        start, end = points[0], points[-1]
        ax.scatter([start[0]], [start[1]], color=c, marker="o", s=45, edgecolors="white", zorder=3)
        ax.scatter([end[0]], [end[1]], color=c, marker="s", s=45, edgecolors="white", zorder=3)
    if show_minima and problem.minima:
        minima = np.asarray(problem.minima, dtype=np.float64)
        ax.scatter(
            minima[:, 0],
            minima[:, 1],
            marker="*",
            s=160,
            color="#F0E442",
            edgecolors="black",
            zorder=4,
            label="minimum",
        )
    (x_min, x_max), (y_min, y_max) = problem.bounds
    ax.set_xlim(x_min, x_max)
    ax.set_ylim(y_min, y_max)
    ax.set_xlabel("$x$")
    ax.set_ylabel("$y$")
    ax.set_title(problem.name if title is None else title)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="best", fontsize="small")
    return fig


def plot_landscape_1d(
    alphas: Sequence[float] | np.ndarray,
    losses: Sequence[float] | Sequence[Sequence[float]] | np.ndarray,
    *,
    labels: Sequence[str] | None = None,
    title: str = "Loss along a direction",
    ax: Axes | None = None,
) -> Figure:
    """Plot one or several 1-D loss slices $L(\\theta + \\alpha d)$ against $\\alpha$.

    Args:
        alphas: the step sizes, shape ``(n,)``.
        losses: shape ``(n,)`` for one curve or ``(k, n)`` for ``k`` curves.
        labels: one label per curve; "direction 1", ... when None.
        title: axes title.
        ax: draw into this axes instead of a new figure.

    Returns:
        The figure; a dashed vertical line marks $\\alpha = 0$ (the current weights).
    """
    a = np.asarray(alphas, dtype=np.float64)
    curves = np.atleast_2d(np.asarray(losses, dtype=np.float64))
    if curves.shape[1] != len(a):
        raise ValueError(
            f"losses must have {len(a)} values per curve (one per alpha), got shape {curves.shape}"
        )
    if labels is not None and len(labels) != len(curves):
        raise ValueError(f"labels must have one entry per curve ({len(curves)}), got {len(labels)}")
    names = list(labels) if labels is not None else (
        ["loss"] if len(curves) == 1 else [f"direction {k + 1}" for k in range(len(curves))]
    )
    fig, ax = _figure_and_axes(ax)
    for i, (curve, name) in enumerate(zip(curves, names)):
        ax.plot(a, curve, color=color(i), label=name, linewidth=1.6)
    ax.axvline(0.0, color="0.4", linestyle="--", linewidth=1.0, label="current weights")
    ax.set_xlabel(r"$\alpha$")
    ax.set_ylabel("loss")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend()
    return fig


def plot_landscape_2d(
    alphas: Sequence[float] | np.ndarray,
    betas: Sequence[float] | np.ndarray,
    values: np.ndarray,
    *,
    levels: int = 30,
    title: str = "Loss landscape",
    surface: bool = False,
) -> Figure:
    """Contours (and optionally a 3-D surface) of $L(\\theta + \\alpha d_1 + \\beta d_2)$.

    Args:
        alphas: coefficients of the first direction, shape ``(n,)`` (x-axis).
        betas: coefficients of the second direction, shape ``(m,)`` (y-axis).
        values: losses of shape ``(m, n)``, as returned by
            :func:`course_lib.landscapes.landscape_2d`.
        levels: number of contour levels.
        title: figure title.
        surface: add a second panel with the 3-D surface.

    Returns:
        The figure: a contour panel with a colour bar (and a 3-D panel when ``surface``).
    """
    a = np.asarray(alphas, dtype=np.float64)
    b = np.asarray(betas, dtype=np.float64)
    Z = np.asarray(values, dtype=np.float64)
    if Z.shape != (len(b), len(a)):
        expected = (len(b), len(a))
        raise ValueError(
            f"values must have shape (len(betas), len(alphas)) = {expected}, got {Z.shape}"
        )
    A, B = np.meshgrid(a, b)
    if surface:
        fig = plt.figure(figsize=(12.0, 4.8), layout="constrained")
        ax = fig.add_subplot(1, 2, 1)
        ax3d = fig.add_subplot(1, 2, 2, projection="3d")
    else:
        fig, ax = plt.subplots(figsize=(6.0, 5.0), layout="constrained")
    filled = ax.contourf(A, B, Z, levels=levels, cmap="viridis")
    ax.contour(A, B, Z, levels=levels, colors="white", linewidths=0.4, alpha=0.5)
    fig.colorbar(filled, ax=ax, label="loss")
    ax.scatter(
        [0.0], [0.0], marker="*", s=150, color="#D55E00", edgecolors="k", label="current weights"
    )
    ax.set_xlabel(r"$\alpha$ (direction 1)")
    ax.set_ylabel(r"$\beta$ (direction 2)")
    ax.set_title("contours")
    ax.legend(loc="upper right", fontsize="small")
    if surface:
        ax3d.plot_surface(A, B, Z, cmap="viridis", linewidth=0, antialiased=True, alpha=0.9)
        # a 3-D axis is foreshortened: matplotlib's default ticks (every 0.25 on [-1, 1]) overlap
        for axis in (ax3d.xaxis, ax3d.yaxis, ax3d.zaxis):
            axis.set_major_locator(MaxNLocator(nbins=5, steps=[1, 2, 5, 10]))
        ax3d.set_xlabel(r"$\alpha$")
        ax3d.set_ylabel(r"$\beta$")
        ax3d.set_zlabel("loss", labelpad=8)
        ax3d.set_title("surface")
    fig.suptitle(title)
    return fig


def plot_function_1d(
    fns: Mapping[str, Callable[[np.ndarray], np.ndarray]],
    x: Sequence[float] | np.ndarray,
    *,
    title: str = "",
    ylabel: str = "f(x)",
    ax: Axes | None = None,
) -> Figure:
    """Plot scalar functions of one variable on the same axes (e.g. soft vs hard thresholding).

    Args:
        fns: name -> vectorised function of a NumPy array.
        x: the points to evaluate.
        title: axes title.
        ylabel: y-axis label.
        ax: draw into this axes instead of a new figure.

    Returns:
        The figure.
    """
    if not fns:
        raise ValueError("fns must not be empty, got {}")
    xs = np.asarray(x, dtype=np.float64)
    fig, ax = _figure_and_axes(ax)
    for i, (label, fn) in enumerate(fns.items()):
        ys = np.asarray(fn(xs), dtype=np.float64)
        ax.plot(xs, ys, color=color(i), label=label, linewidth=1.8)
    ax.axhline(0.0, color="0.7", linewidth=0.8)
    ax.axvline(0.0, color="0.7", linewidth=0.8)
    ax.set_xlabel("$x$")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend()
    return fig


# metric name -> (attribute of TrainingHistory, axis label, per step?, log scale?)
_METRICS: dict[str, tuple[str, str, bool, bool]] = {
    "loss": ("losses", "training loss (smoothed)", True, True),
    "lr": ("lrs", "learning rate", True, False),
    "grad_norm": ("grad_norms", "gradient norm", True, True),
    "train_accuracy": ("train_accuracy", "training accuracy", False, False),
    "test_accuracy": ("test_accuracy", "test accuracy", False, False),
    "test_loss": ("test_losses", "test loss", False, True),
}


def plot_histories(
    histories: Mapping[str, TrainingHistory],
    *,
    metrics: Sequence[str] = ("loss", "test_accuracy"),
    window: int | None = None,
) -> Figure:
    """Compare training runs, one panel per metric and one line per run.

    Args:
        histories: name -> :class:`course_lib.training.TrainingHistory`.
        metrics: any of ``"loss"``, ``"lr"``, ``"grad_norm"`` (per step) and
            ``"train_accuracy"``, ``"test_accuracy"``, ``"test_loss"`` (per epoch).
        window: moving-average window for the loss; one epoch of steps when None.

    Returns:
        The figure.
    """
    if not histories:
        raise ValueError("histories must not be empty, got {}")
    unknown = [m for m in metrics if m not in _METRICS]
    if unknown or not metrics:
        raise ValueError(
            f"metrics must be a non-empty selection of {list(_METRICS)}, got {list(metrics)}"
        )
    n = len(metrics)
    figsize = (min(4.8 * n, 15.0), 4.0)
    fig, axes = plt.subplots(1, n, figsize=figsize, layout="constrained", squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        attribute, label, per_step, log = _METRICS[metric]
        plotted = []
        for i, (name, history) in enumerate(histories.items()):
            values = np.asarray(getattr(history, attribute), dtype=np.float64)
            if metric == "loss":
                values = smooth(values, window or max(1, history.steps_per_epoch))
            x = np.arange(len(values)) if per_step else np.arange(1, len(values) + 1)
            marker = None if per_step else "o"
            ax.plot(x, values, color=color(i), label=name, linewidth=1.6, marker=marker)
            plotted.append(values)
        if log and any(len(v) for v in plotted):
            _set_log_y(ax, plotted)
        ax.set_xlabel("step" if per_step else "epoch")
        ax.set_ylabel(label)
        ax.set_title(label)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize="small")
    return fig


def plot_sweeps(
    x: Sequence[float] | None,
    curves: Mapping[str, Sequence[float] | tuple[Sequence[float], Sequence[float]]],
    *,
    xlabel: str,
    ylabel: str,
    title: str,
    log_x: bool = True,
    log_y: bool = True,
    ax: Axes | None = None,
) -> Figure:
    """One value per setting, one line with markers per method (a learning-rate or batch-size sweep).

    Curves may hold NaN (a run that diverged): the line breaks there.

    Args:
        x: the settings swept, shared by every curve and marked on the x-axis; None
            when every curve brings its own.
        curves: name -> one value per setting, or ``(x_values, y_values)``.
        xlabel: x-axis label.
        ylabel: y-axis label.
        title: axes title.
        log_x: logarithmic x-axis.
        log_y: logarithmic y-axis.
        ax: draw into this axes instead of a new figure.

    Returns:
        The figure.
    """
    if not curves:
        raise ValueError("curves must not be empty, got {}")
    fig, ax = _figure_and_axes(ax)
    arrays = []
    for i, (label, values) in enumerate(curves.items()):
        if isinstance(values, tuple) and len(values) == 2:
            xs, ys = np.asarray(values[0], dtype=np.float64), np.asarray(values[1], dtype=np.float64)
        else:
            ys = np.asarray(values, dtype=np.float64)
            xs = np.asarray(x, dtype=np.float64)[: len(ys)]
        arrays.append(ys)
        ax.plot(xs, ys, color=color(i), label=label, linewidth=1.6, marker="o")
    if log_x:
        ax.set_xscale("log")
    if x is not None:
        ax.set_xticks(list(x), [f"{value:g}" for value in x])
        ax.minorticks_off()
    if log_y and any(np.isfinite(a).any() for a in arrays):
        _set_log_y(ax, arrays)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, alpha=0.3, which="both")
    ax.legend(fontsize="small")
    return fig


def plot_bars(
    values: Mapping[str, float],
    *,
    ylabel: str,
    title: str,
    annotate: str = "{:.2f}",
    ax: Axes | None = None,
) -> Figure:
    """A bar per name, its value written above it (e.g. bytes of optimizer state per parameter).

    Args:
        values: name -> value.
        ylabel: y-axis label.
        title: axes title.
        annotate: format of the number written above each bar ("" writes none).
        ax: draw into this axes instead of a new figure.

    Returns:
        The figure.
    """
    if not values:
        raise ValueError("values must not be empty, got {}")
    fig, ax = _figure_and_axes(ax, figsize=(max(FIGSIZE[0], 1.1 * len(values)), FIGSIZE[1]))
    names = list(values)
    heights = [float(values[n]) for n in names]
    bars = ax.bar(range(len(names)), heights, color=[color(i) for i in range(len(names))])
    if annotate:
        for bar, height in zip(bars, heights):
            ax.annotate(annotate.format(height), (bar.get_x() + bar.get_width() / 2, height),
                        ha="center", va="bottom", fontsize="small", xytext=(0, 2), textcoords="offset points")
    ax.set_xticks(range(len(names)), names, rotation=20, ha="right")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, axis="y", alpha=0.3)
    ax.set_ylim(0, 1.15 * max(max(heights), 1e-12))
    return fig


def plot_lr_range_test(
    curves: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    *,
    marks: Mapping[str, tuple[float, str]] | None = None,
    skip_start: int = 0,
    skip_end: int = 0,
    title: str = "Learning-rate range test",
    ylabel: str = "smoothed training loss",
    ax: Axes | None = None,
) -> Figure:
    """Plot range-test curves: the (smoothed) loss against the learning rate, log x-axis.

    Args:
        curves: name -> ``(lrs, losses)`` as returned by a range test.
        marks: label -> ``(learning rate, curve name)``: a dot on that curve at that rate
            (e.g. the suggestion, or the minimum divided by ten) and a dotted vertical line.
        skip_start: points of each curve left out at the start (drawn faintly).
        skip_end: points of each curve left out at the end (drawn faintly).
        title: axes title.
        ylabel: y-axis label.
        ax: draw into this axes instead of a new figure.

    Returns:
        The figure.
    """
    if not curves:
        raise ValueError("curves must not be empty, got {}")
    if skip_start < 0 or skip_end < 0:
        raise ValueError(f"skip_start and skip_end must be >= 0, got {skip_start} and {skip_end}")
    fig, ax = _figure_and_axes(ax)
    names = list(curves)
    for i, name in enumerate(names):
        lrs = np.asarray(curves[name][0], dtype=np.float64)
        losses = np.asarray(curves[name][1], dtype=np.float64)
        end = len(lrs) - skip_end
        ax.plot(lrs, losses, color=color(i), alpha=0.3, linewidth=1.0)
        ax.plot(lrs[skip_start:end], losses[skip_start:end], color=color(i), linewidth=1.8, label=name)
    for j, (label, (lr, name)) in enumerate((marks or {}).items()):
        lrs = np.asarray(curves[name][0], dtype=np.float64)
        losses = np.asarray(curves[name][1], dtype=np.float64)
        k = int(np.argmin(np.abs(np.log(lrs) - np.log(lr))))
        mark_color = color(len(names) + j)
        ax.axvline(lr, color=mark_color, linestyle=":", linewidth=1.2)
        ax.plot([lrs[k]], [losses[k]], "o", color=mark_color, markersize=7, label=f"{label}: {lr:.2g}")
    ax.set_xscale("log")
    ax.set_xlabel("learning rate (log scale)")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    return fig
