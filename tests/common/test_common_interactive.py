"""course_lib.interactive.explore: the figure always, sliders that redraw it where widgets run."""
from __future__ import annotations

import IPython.display
import ipywidgets
import matplotlib.pyplot as plt
import pytest

from course_lib import interactive


class FakeHandle:
    def __init__(self):
        self.updates = []

    def update(self, obj, raw=False):
        self.updates.append(obj)


@pytest.fixture
def shown(monkeypatch):
    """What explore displays: (object, keyword arguments) pairs; display_id=True gets a FakeHandle."""
    calls, handle = [], FakeHandle()

    def fake_display(obj, **kwargs):
        calls.append((obj, kwargs))
        return handle if kwargs.get("display_id") else None

    monkeypatch.setattr(IPython.display, "display", fake_display)
    return calls, handle


def draw_line(slope: float, offset: float):
    fig, ax = plt.subplots(figsize=(2, 2))
    ax.plot([0, 1], [offset, offset + slope])
    ax.set_ylim(-2, 2)
    return fig


def test_figure_is_a_plain_image_and_sliders_redraw_it(shown):
    calls, handle = shown
    before = set(plt.get_fignums())  # figures other tests left open are not explore's
    first = interactive.explore(draw_line, slope=(-1.0, 1.0, 0.1, 0.5), offset=(-1.0, 1.0, 0.1, 0.0))
    (box, _), (image, kwargs) = calls
    assert isinstance(box, ipywidgets.HBox) and [s.description for s in box.children] == ["slope", "offset"]
    assert image is first and kwargs == {"raw": True, "display_id": True}
    assert set(first) == {"image/png", "text/plain"} and "slope = 0.5" in first["text/plain"]
    box.children[0].value = -0.5
    (update,) = handle.updates
    assert update["image/png"] != first["image/png"] and "slope = -0.5" in update["text/plain"]
    assert set(plt.get_fignums()) <= before, "explore leaves no figure open"


@pytest.mark.parametrize("controls", [{}, {"a": (1.0, 0.0, 0.1, 0.5)}, {"a": (0.0, 1.0, 0.1, 2.0)},
                                      {"a": (0.0, 1.0, 0.0, 0.5)}, {"a": (0.0, 1.0)}])
def test_bad_controls_are_refused(controls, shown):
    with pytest.raises(ValueError, match="control"):
        interactive.explore(draw_line, **controls)


def test_whole_number_controls_get_whole_number_sliders(shown):
    calls, _ = shown
    interactive.explore(draw_line, slope=(-1, 1, 1, 0), offset=(-1.0, 1.0, 0.5, 0.0))
    (box, _), _ = calls
    count, real = box.children
    assert isinstance(count, ipywidgets.IntSlider) and count.value == 0
    assert isinstance(real, ipywidgets.FloatSlider) and real.readout_format == ".3g"
