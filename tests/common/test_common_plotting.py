"""Plot helpers return labelled Figures and never call plt.show()."""
from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

import matplotlib.pyplot as plt
from course_lib import plotting
from course_lib.problems import himmelblau, quadratic, rosenbrock, six_hump_camel
from course_lib.training import TrainingHistory
from course_lib.trajectories import run_optimizer

pytestmark = pytest.mark.usefixtures("no_show")


def _legend_texts(ax):
    legend = ax.get_legend()
    assert legend is not None, "the axes has no legend"
    return [t.get_text() for t in legend.get_texts()]


def _only_axes(fig):
    assert isinstance(fig, Figure)
    (ax,) = fig.axes
    return ax


def test_plot_schedules():
    fig = plotting.plot_schedules({"constant": [0.1] * 10, "decay": [0.1 * 0.9**t for t in range(10)]}, log=True)
    ax = _only_axes(fig)
    assert len(ax.get_lines()) == 2
    assert _legend_texts(ax) == ["constant", "decay"]
    assert ax.get_xlabel() == "step" and ax.get_ylabel() == "learning rate" and ax.get_title()
    assert ax.get_yscale() == "log"
    np.testing.assert_allclose(ax.get_lines()[1].get_ydata(), [0.1 * 0.9**t for t in range(10)])
    assert tuple(fig.get_size_inches()) == pytest.approx(plotting.FIGSIZE)


def test_plot_loss_curves_uses_a_symmetric_log_axis_for_negative_values_and_draws_into_ax():
    fig, axes = plt.subplots(1, 2)
    returned = plotting.plot_loss_curves({"a": [3.0, 1.0, 0.1]}, ax=axes[0], title="positive")
    assert returned is fig
    plotting.plot_loss_curves({"a": [1.0, -0.5, -1.0], "b": [2.0, 0.0, -1.0]}, ax=axes[1])
    assert axes[0].get_yscale() == "log" and axes[1].get_yscale() == "symlog"
    assert axes[0].get_title() == "positive" and axes[1].get_ylabel() == "loss"
    assert len(axes[1].get_lines()) == 2
    linear = plotting.plot_loss_curves({"a": [3.0, 1.0]}, log=False, xlabel="epoch")
    assert _only_axes(linear).get_yscale() == "linear" and linear.axes[0].get_xlabel() == "epoch"


def test_plot_grad_norms_marks_the_clipping_threshold():
    fig = plotting.plot_grad_norms({"sgd": [5.0, 2.0, 1.0], "clipped": [1.0, 1.0, 0.5]}, clip_norm=1.0)
    ax = _only_axes(fig)
    lines = ax.get_lines()
    assert len(lines) == 3
    threshold = lines[-1]
    assert np.all(np.asarray(threshold.get_ydata()) == 1.0)
    assert _legend_texts(ax) == ["sgd", "clipped", "clip_norm = 1"]
    assert ax.get_ylabel() == "gradient norm"
    assert len(_only_axes(plotting.plot_grad_norms({"sgd": [1.0]})).get_lines()) == 1


@pytest.mark.parametrize("make_problem", [rosenbrock, quadratic, six_hump_camel, himmelblau])
def test_plot_trajectories(make_problem):
    problem = make_problem()
    adam = run_optimizer(lambda p: torch.optim.Adam(p, lr=0.05), problem, 40)
    far = np.array([problem.x0, [100.0, 100.0]])  # leaves the window: the view must stay on the bounds
    fig = plotting.plot_trajectories(problem, {"adam": adam, "array": far})
    ax = _only_axes(fig)
    paths = ax.get_lines()
    assert len(paths) == 2
    np.testing.assert_allclose(paths[0].get_xydata(), adam.points)
    assert ax.get_xlim() == problem.bounds[0] and ax.get_ylim() == problem.bounds[1]
    assert _legend_texts(ax) == ["adam", "array", "minimum"]
    assert ax.get_title() == problem.name and ax.get_xlabel() and ax.get_ylabel()
    # start and end markers per path, plus the minima, plus the contour set
    markers = [c for c in ax.collections if c.get_offsets().shape[0] in (1, len(problem.minima))]
    assert len(markers) >= 2 * 2 + 1
    contour_sets = [c for c in ax.collections if hasattr(c, "levels")]
    assert len(contour_sets) == 1
    levels = np.asarray(contour_sets[0].levels)
    if problem.log_levels:  # log-spaced: constant ratio between levels
        ratios = levels[1:] / levels[:-1]
        np.testing.assert_allclose(ratios, ratios[0], rtol=1e-6)
    no_minima = plotting.plot_trajectories(problem, {"adam": adam}, show_minima=False, title="custom")
    assert _legend_texts(no_minima.axes[0]) == ["adam"] and no_minima.axes[0].get_title() == "custom"


def test_plot_trajectories_overlay_keeps_coinciding_paths_visible():
    problem = quadratic()
    path = run_optimizer(lambda p: torch.optim.SGD(p, lr=0.05), problem, 20)
    ax = _only_axes(plotting.plot_trajectories(problem, {"torch": path, "yours": path}, overlay=True))
    under, over = ax.get_lines()
    np.testing.assert_allclose(under.get_xydata(), over.get_xydata())
    assert under.get_linestyle() == "-" and over.get_linestyle() == "--"
    assert under.get_linewidth() > 2 * over.get_linewidth() and over.get_zorder() > under.get_zorder()
    assert under.get_marker() != over.get_marker()


def test_plot_trajectories_rejects_bad_paths():
    with pytest.raises(ValueError, match=r"shape \(n, 2\)"):
        plotting.plot_trajectories(quadratic(), {"bad": np.zeros((4, 3))})


def test_plot_landscape_1d_single_and_multiple_curves():
    alphas = np.linspace(-1, 1, 11)
    fig = plotting.plot_landscape_1d(alphas, alphas**2)
    ax = _only_axes(fig)
    assert len(ax.get_lines()) == 2  # the curve and the alpha = 0 marker
    assert _legend_texts(ax) == ["loss", "current weights"]
    fig = plotting.plot_landscape_1d(alphas, np.stack([alphas**2, 2 * alphas**2, np.abs(alphas)]),
                                     labels=["a", "b", "c"], title="three")
    ax = _only_axes(fig)
    assert len(ax.get_lines()) == 4 and _legend_texts(ax)[:3] == ["a", "b", "c"] and ax.get_title() == "three"
    assert ax.get_xlabel() and ax.get_ylabel() == "loss"
    with pytest.raises(ValueError, match="labels must have one entry per curve"):
        plotting.plot_landscape_1d(alphas, alphas**2, labels=["a", "b"])
    with pytest.raises(ValueError, match="losses must have 11 values per curve"):
        plotting.plot_landscape_1d(alphas, alphas[:5])


@pytest.mark.parametrize(("surface", "n_axes"), [(False, 2), (True, 3)])
def test_plot_landscape_2d(surface, n_axes):
    alphas, betas = np.linspace(-1, 1, 7), np.linspace(-2, 2, 5)
    values = betas[:, None] ** 2 + alphas[None, :] ** 2
    fig = plotting.plot_landscape_2d(alphas, betas, values, surface=surface, title="bowl")
    assert isinstance(fig, Figure) and len(fig.axes) == n_axes  # contour, colour bar (, 3-D surface)
    ax = fig.axes[0]
    assert ax.get_xlabel() and ax.get_ylabel() and fig.get_suptitle() == "bowl"
    assert ax.get_xlim() == (-1.0, 1.0) and ax.get_ylim() == (-2.0, 2.0)
    assert sum(a.name == "3d" for a in fig.axes) == int(surface)
    with pytest.raises(ValueError, match=r"values must have shape \(len\(betas\), len\(alphas\)\) = \(5, 7\)"):
        plotting.plot_landscape_2d(alphas, betas, values.T)


def test_plot_function_1d():
    x = np.linspace(-2, 2, 41)
    fns = {"identity": lambda v: v, "soft": lambda v: np.sign(v) * np.maximum(np.abs(v) - 1, 0)}
    fig = plotting.plot_function_1d(fns, x, title="thresholds", ylabel="output")
    ax = _only_axes(fig)
    labelled = [line for line in ax.get_lines() if not line.get_label().startswith("_")]
    assert [line.get_label() for line in labelled] == ["identity", "soft"]
    np.testing.assert_allclose(labelled[1].get_ydata(), fns["soft"](x))
    assert ax.get_title() == "thresholds" and ax.get_ylabel() == "output" and ax.get_xlabel()


def _history(offset: float) -> TrainingHistory:
    steps = 20
    return TrainingHistory(
        losses=list(offset + np.linspace(2.0, 0.5, steps)), lrs=[0.1] * steps, grad_norms=[1.0] * steps,
        train_accuracy=[0.5, 0.7, 0.8, 0.9], test_accuracy=[0.4, 0.6, 0.75, 0.8], test_losses=[1.0, 0.8, 0.7, 0.6],
        steps_per_epoch=5,
    )


@pytest.mark.parametrize("metrics", [("loss", "test_accuracy"), ("loss", "lr", "grad_norm", "train_accuracy", "test_loss")])
def test_plot_histories(metrics):
    fig = plotting.plot_histories({"sgd": _history(0.0), "adam": _history(0.3)}, metrics=metrics)
    assert isinstance(fig, Figure) and len(fig.axes) == len(metrics)
    for ax in fig.axes:
        assert len(ax.get_lines()) == 2 and _legend_texts(ax) == ["sgd", "adam"]
        assert ax.get_xlabel() in ("step", "epoch") and ax.get_ylabel() and ax.get_title()
    loss_line = fig.axes[0].get_lines()[0]
    np.testing.assert_allclose(loss_line.get_ydata(), plotting.smooth(_history(0.0).losses, 5))
    with pytest.raises(ValueError, match="metrics must be a non-empty selection"):
        plotting.plot_histories({"sgd": _history(0.0)}, metrics=("accuracy",))


def test_smooth_is_a_trailing_moving_average():
    values = np.array([1.0, 3.0, 2.0, 6.0, 4.0])
    expected = [np.mean(values[max(0, t - 2): t + 1]) for t in range(len(values))]
    np.testing.assert_allclose(plotting.smooth(values, 3), expected)
    np.testing.assert_array_equal(plotting.smooth(values, 1), values)
    with pytest.raises(ValueError, match="window must be an integer >= 1, got 0"):
        plotting.smooth(values, 0)


def test_palette_is_distinct_and_cycles():
    assert len(set(plotting.PALETTE)) == len(plotting.PALETTE)
    assert plotting.color(len(plotting.PALETTE)) == plotting.color(0)


def test_the_module_never_selects_a_backend_or_shows_a_figure():
    """Notebooks use the inline backend: plotting.py must not call matplotlib.use or plt.show."""
    tree = ast.parse(Path(plotting.__file__).read_text())
    called = {
        node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
    }
    assert not called & {"use", "show", "switch_backend", "ion"}


def test_plot_sweeps_shared_and_own_x_values():
    fig = plotting.plot_sweeps([32, 128, 512], {"a": [0.1, 0.2, 0.4], "b": [0.1, np.nan, 0.3]},
                               xlabel="batch size", ylabel="loss", title="sweep", log_y=False)
    ax = _only_axes(fig)
    assert _legend_texts(ax) == ["a", "b"]
    assert ax.get_xscale() == "log" and ax.get_yscale() == "linear"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["32", "128", "512"]
    np.testing.assert_allclose(ax.get_lines()[0].get_xdata(), [32, 128, 512])
    own = plotting.plot_sweeps(None, {"a": ([1e-3, 1e-2], [0.5, 0.05]), "b": ([0.1, 0.3], [0.2, 0.02])},
                               xlabel="learning rate", ylabel="loss", title="lr")
    ax = _only_axes(own)
    np.testing.assert_allclose(ax.get_lines()[1].get_xdata(), [0.1, 0.3])
    assert ax.get_yscale() == "log"
    with pytest.raises(ValueError, match="curves must not be empty"):
        plotting.plot_sweeps([1], {}, xlabel="x", ylabel="y", title="t")


def test_plot_bars_writes_each_value_above_its_bar():
    fig = plotting.plot_bars({"SGD": 0.0, "Adam": 8.0, "Lion": 4.0}, ylabel="bytes", title="state")
    ax = _only_axes(fig)
    assert [round(p.get_height(), 6) for p in ax.patches] == [0.0, 8.0, 4.0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["SGD", "Adam", "Lion"]
    assert [t.get_text() for t in ax.texts] == ["0.00", "8.00", "4.00"]
    assert ax.get_ylabel() == "bytes" and ax.get_title() == "state"
    with pytest.raises(ValueError, match="values must not be empty"):
        plotting.plot_bars({}, ylabel="y", title="t")
