"""A feedback page in a real browser: the maths is laid out as MathML, nothing is wider than the
window (a narrow one, 720 px) and nothing scrolls sideways, long hints included. Chromium as in test_browser.py (skipped
without one)."""
from __future__ import annotations

import pytest
from integrity.test_feedback_html import maths_notebook, render_feedback
from student_experience.chromium import launched_browser

WIDTH = 720
#: elements wider than the window or scrolling sideways, and <math> elements with no layout box
PROBE = """() => {
  const wide = [...document.querySelectorAll('body *')]
    .filter(e => e.getBoundingClientRect().width > window.innerWidth + 1)
    .map(e => e.tagName + '.' + e.className);
  const scrolls = [...document.querySelectorAll('body *')]
    .filter(e => e.scrollWidth > e.clientWidth + 1 && ['auto', 'scroll'].includes(getComputedStyle(e).overflowX))
    .map(e => e.tagName + '.' + e.className);
  const maths = [...document.querySelectorAll('math')].map(m => m.getBoundingClientRect());
  return {wide, scrolls, scroll: document.documentElement.scrollWidth, maths: maths.length,
          flat: maths.filter(r => r.width < 2 || r.height < 2).length};
}"""


@pytest.fixture(scope="module")
def browser():
    yield from launched_browser()


def test_feedback_page_renders_maths_and_fits_the_window(tmp_path, browser):
    page_file = tmp_path / "feedback.html"
    page_file.write_text(render_feedback(maths_notebook(hint="a_very_long_hint_" * 60)))
    page = browser.new_page(viewport={"width": WIDTH, "height": 900})
    try:
        page.goto(page_file.as_uri())
        found = page.evaluate(PROBE)
    finally:
        page.close()
    assert found["maths"] == 4 and found["flat"] == 0, found
    assert found["wide"] == [] and found["scrolls"] == [] and found["scroll"] <= WIDTH, found
