"""Sliders that redraw a figure live, and the figure itself wherever widgets cannot run.

:func:`explore` shows one slider per control above the figure ``draw(**values)``. The figure
is a plain image output, so every reader of the notebook shows it at the starting values
(nbval, the autograder, a plain HTML export, GitHub's preview); where widgets run
(JupyterLab, Notebook 7, Binder) letting go of a slider redraws it in place.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable, Mapping

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

__all__ = ["explore"]

#: a control: (smallest value, largest value, step, starting value)
Control = tuple[float, float, float, float]


def _png(fig: Figure) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight", dpi=fig.dpi)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _check_controls(controls: Mapping[str, Control]) -> None:
    if not controls:
        raise ValueError("controls must name at least one slider, got none")
    for name, control in controls.items():
        if len(control) != 4:
            raise ValueError(f"control {name} must be (min, max, step, value), got {control!r}")
        low, high, step, value = control
        if not (low < high and step > 0 and low <= value <= high):
            raise ValueError(f"control {name} must satisfy min < max, step > 0 and min <= value <= max, "
                             f"got {control!r}")


def _slider(ipywidgets, name: str, control: Control):
    """A whole-number slider when the four numbers are ints (a count reads 21, not 21.0), else a float one."""
    low, high, step, value = control
    common = {"min": low, "max": high, "step": step, "value": value, "description": name,
              "continuous_update": False, "style": {"description_width": "initial"}}
    if all(isinstance(number, int) for number in control):
        return ipywidgets.IntSlider(**common)
    return ipywidgets.FloatSlider(readout_format=".3g", **common)


def explore(draw: Callable[..., Figure], **controls: Control) -> dict:
    """Display ``draw(**values)`` under a slider per control; redraw when a slider is let go.

    The figure is an ordinary image output (so every reader of the notebook shows it);
    moving a slider replaces it in place (``update_display_data``).

    Args:
        draw: returns a new Figure for keyword values named like the controls.
        **controls: ``name=(min, max, step, value)``, one slider each: whole numbers when all four
            are ints, else floats.

    Returns:
        The display bundle of the figure at the starting values (``image/png`` and a text
        line), already displayed; returned so that tests can inspect it.
    """
    from IPython.display import display

    _check_controls(controls)

    def bundle_for(values: Mapping[str, float]) -> dict:
        fig = draw(**values)
        try:
            return {"image/png": _png(fig),
                    "text/plain": "Figure for " + ", ".join(f"{k} = {v:g}" for k, v in values.items())}
        finally:
            plt.close(fig)

    start = {name: control[3] for name, control in controls.items()}
    first = bundle_for(start)
    try:
        import ipywidgets
    except ImportError:  # still the figure, without sliders
        display(first, raw=True)
        return first

    sliders = {name: _slider(ipywidgets, name, control) for name, control in controls.items()}
    display(ipywidgets.HBox(list(sliders.values())))
    handle = display(first, raw=True, display_id=True)

    def redraw(_change=None) -> None:
        handle.update(bundle_for({name: slider.value for name, slider in sliders.items()}), raw=True)

    for slider in sliders.values():
        slider.observe(redraw, names="value")
    return first
