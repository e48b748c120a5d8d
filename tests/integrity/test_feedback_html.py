"""The feedback sanitiser: it removes what could run in a browser and keeps the course's own page.

(The end-to-end injection, graded through nbgrader, is ``test_budgets.py::html_injector``.)
"""
from __future__ import annotations

import html
import re
from pathlib import Path

import nbformat
import pytest
from nbconvert.filters import markdown2html
from nbformat.v4 import new_code_cell, new_notebook, new_output

from course_grader.pipeline.feedback_html import clean_html
from course_grader.pipeline.preprocessors import SanitizeFeedback

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*/*.ipynb"))


def _text(fragment: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", fragment))


@pytest.mark.parametrize("markup", [
    "<script>alert(1)</script>",
    '<img src=x onerror="alert(1)">',
    '<a href="javascript:alert(1)">x</a>',
    '<a href=" JaVaScRiPt:alert(1)">x</a>',
    '<svg onload="alert(1)"></svg>',
    '<iframe src="https://example.org"></iframe>',
    '<div style="background:url(javascript:alert(1))">x</div>',
    '<img src="data:image/svg+xml;base64,PHN2Zy8+">',
    '<a href="data:text/html,<script>alert(1)</script>">x</a>',
    '<form action="https://example.org"><button formaction="javascript:alert(1)">x</button></form>',
])
def test_clean_html_leaves_nothing_that_runs(markup):
    cleaned = clean_html(markup)
    tags = re.findall(r"<\s*([a-zA-Z]+)([^>]*)>", cleaned)
    for tag, attrs in tags:
        assert tag.lower() not in {"script", "svg", "iframe", "form", "button"}, cleaned
        assert not re.search(r"\bon\w+\s*=", attrs, re.I), cleaned
        assert "javascript:" not in attrs.lower() and "style" not in attrs.lower(), cleaned
        assert "data:text" not in attrs.lower() and "svg+xml" not in attrs.lower(), cleaned


@pytest.mark.skipif(not NOTEBOOKS, reason="no student notebooks")
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.parent.name)
def test_the_courses_markdown_renders_unchanged(path):
    """Every markdown cell of the course: same text (formulas included) and same elements after cleaning."""
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        rendered = markdown2html(cell.source)
        cleaned = clean_html(rendered)
        assert _text(cleaned) == _text(rendered), cell.source[:200]
        assert re.findall(r"<([a-z0-9]+)", cleaned) == re.findall(r"<([a-z0-9]+)", rendered), cell.source[:200]


def test_sanitize_feedback_keeps_verdicts_and_drops_active_outputs():
    cell = new_code_cell("check('adam.first_step', AdamOptimizer)", metadata={
        "nbgrader": {"grade": True, "grade_id": "hidden_first_step", "points": 2}, "tags": ["x"]})
    cell.outputs = [
        new_output("stream", name="stdout", text="✓ adam.first_step: passed\n"),
        new_output("error", ename="IsolatedCheckFailed", evalue="step 2: expected 1.0", traceback=["x"]),
        new_output("display_data", data={"application/javascript": "alert(1)", "text/plain": "js"}),
        new_output("display_data", data={"image/svg+xml": "<svg onload='alert(1)'/>"}),
        new_output("display_data", data={"image/png": '" onerror="alert(1)', "text/html": "<b onclick=x>b</b>"}),
    ]
    forged = new_code_cell("x", metadata={"nbgrader": {"grade": True, "grade_id": '"><script>alert(1)</script>'}})
    kernelspec = {"name": "python3", "display_name": "Python 3"}
    nb = new_notebook(cells=[cell, forged], metadata={"widgets": {"x": "</script>"}, "kernelspec": kernelspec})
    nb, _ = SanitizeFeedback().preprocess(nb, {})
    outputs = nb.cells[0].outputs
    assert outputs[0].text == "✓ adam.first_step: passed\n"
    assert outputs[1].ename == "IsolatedCheckFailed" and outputs[1].evalue == "step 2: expected 1.0"
    assert [o.get("data") for o in outputs[2:]] == [{"text/plain": "js"}, {"text/html": "<b>b</b>"}]
    assert nb.cells[0].metadata == {"nbgrader": cell.metadata["nbgrader"]}
    assert nb.cells[1].metadata == {} and set(nb.metadata) == {"kernelspec"}


@pytest.mark.skipif(not NOTEBOOKS, reason="no student notebooks")
def test_sanitized_course_notebooks_stay_valid_notebooks():
    """Jupyter's own kernelspec ("Python 3 (ipykernel)") survives; an unplain one goes as a whole.

    nbconvert refuses an invalid notebook, and the submission then gets no feedback page.
    """
    nb = nbformat.read(NOTEBOOKS[0], as_version=4)
    kernelspec = dict(nb.metadata["kernelspec"])
    nb, _ = SanitizeFeedback().preprocess(nb, {})
    nbformat.validate(nb)
    assert nb.metadata["kernelspec"] == kernelspec
    forged = new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "<script>x</script>"},
                                    "language_info": {"name": "python", "version": "<b>3</b>"}})
    forged, _ = SanitizeFeedback().preprocess(forged, {})
    nbformat.validate(forged)
    assert "kernelspec" not in forged.metadata and forged.metadata["language_info"] == {"name": "python"}
