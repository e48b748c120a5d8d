"""The feedback sanitiser: it removes what could run in a browser and keeps the course's own page.

(The end-to-end injection, graded through nbgrader, is ``test_budgets.py::html_injector``.)
"""
from __future__ import annotations

import copy
import html
import re
from pathlib import Path

import nbformat
import nbgrader
import pytest
from bs4 import BeautifulSoup
from nbconvert import HTMLExporter
from nbconvert.filters import markdown2html
from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output, new_raw_cell
from traitlets.config import Config

from course_grader.pipeline import feedback_html
from course_grader.pipeline.feedback_html import clean_html
from course_grader.pipeline.feedback_math import MATHML_ATTRIBUTES
from course_grader.pipeline.preprocessors import SanitizeFeedback
from integrity.integrity_helpers import image_sources, remote_loads

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


# --- nothing loads from the network -------------------------------------------------------------------

PIXEL = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
REMOTE_MARKDOWN = {
    "markdown image http": "![pixel](http://track.example/p.png?who=me)",
    "markdown image https": "![pixel](https://track.example/p.png)",
    "markdown image //host": "![pixel](//track.example/p.png)",
    "reference image": "![pixel][ref]\n\n[ref]: https://track.example/r.png",
    "raw img": "<img src=https://track.example/raw.png>",
    "raw img quoted, upper case": '<IMG SRC="HTTPS://track.example/raw.png" alt="x">',
    "raw img //host": "<img src='//track.example/raw.png'>",
    "raw img relative": "<img src='../../../track.png'>",
    "img srcset": '<img src="data:image/png;base64,AAAA" srcset="https://track.example/2x.png 2x">',
    "picture source": '<picture><source srcset="https://track.example/s.png"><img></picture>',
    "link stylesheet": '<link rel="stylesheet" href="https://track.example/s.css">',
    "style import": "<style>@import url(https://track.example/s.css); p {background: url(//track.example/b.png)}</style>",
    "style attribute": '<p style="background-image: url(https://track.example/b.png)">x</p>',
    "script src": '<script src="https://track.example/s.js"></script>',
    "video poster": '<video poster="https://track.example/p.png" src="https://track.example/v.mp4"></video>',
    "audio": '<audio src="https://track.example/a.mp3" autoplay></audio>',
    "object": '<object data="https://track.example/o.svg"></object>',
    "embed": '<embed src="https://track.example/e.svg">',
    "iframe": '<iframe src="https://track.example/f.html"></iframe>',
    "table background": '<table background="https://track.example/t.png"><tr><td>x</td></tr></table>',
    "svg image": '<svg><image href="https://track.example/i.png"/><use xlink:href="https://track.example/u.svg#a"/></svg>',
    "base": '<base href="https://track.example/">',
    "meta refresh": '<meta http-equiv="refresh" content="0; url=https://track.example/">',
}
@pytest.mark.parametrize("markup", list(REMOTE_MARKDOWN.values()), ids=list(REMOTE_MARKDOWN))
def test_clean_html_keeps_no_remote_load(markup):
    cleaned = clean_html(markdown2html(markup))
    assert remote_loads(cleaned) == [], cleaned
    assert all(src.startswith("data:image/") for src in image_sources(cleaned)), cleaned


def test_inline_images_and_remote_links_stay():
    """PNG outputs and data: images still show; a link to a page stays a link (it loads nothing until clicked)."""
    cleaned = clean_html(f'<img src="{PIXEL}" alt="plot"> <a href="https://pytorch.org/docs">docs</a>')
    soup = BeautifulSoup(cleaned, "html.parser")
    assert soup.img["src"] == PIXEL and soup.a["href"] == "https://pytorch.org/docs"


def _hostile_notebook():
    """Remote loads through every route a student controls: markdown, raw cells and outputs of every type."""
    markdown = "\n\n".join(["# Answer", "$x^2$", *REMOTE_MARKDOWN.values()])
    html_output = "".join(REMOTE_MARKDOWN.values())
    svg = ('<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink">'
           '<image href="https://track.example/svg.png"/><use xlink:href="https://track.example/u.svg#a"/></svg>')
    outputs = [
        new_output("display_data", data={"text/html": html_output, "text/plain": "html"}),
        new_output("display_data", data={"text/markdown": markdown, "text/plain": "md"}),
        new_output("display_data", data={"image/svg+xml": svg, "text/plain": "svg"}),
        new_output("execute_result", data={"text/html": '<img src="https://track.example/result.png">'},
                   execution_count=1),
        new_output("display_data", data={"image/png": PIXEL.split(",", 1)[1]}),
        new_output("display_data", data={"text/latex": r"$\href{https://track.example/}{x}$"}),
    ]
    grade = {"nbgrader": {"grade": True, "solution": True, "grade_id": "answer", "points": 1, "score": 1.0}}
    cells = [new_markdown_cell(markdown), new_markdown_cell(markdown, metadata=grade),
             new_raw_cell(html_output, metadata={"raw_mimetype": "text/html"}),
             new_code_cell("show()", outputs=outputs)]
    return new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3"}})


def render_feedback(nb) -> str:
    """The feedback page nbgrader's GenerateFeedback writes with the course's settings (submission.py):
    SanitizeFeedback and the inlined CSS, the course's template and filters, nbgrader's style sheets."""
    config = Config()
    feedback_html.configure(config)
    css = Path(nbgrader.__file__).parent / "server_extensions/formgrader/static/node_modules/bootstrap/dist/css"
    config.HTMLExporter.extra_template_paths = [str(css), str(feedback_html.NBGRADER_TEMPLATES)]
    nb, resources = SanitizeFeedback().preprocess(nb, {})
    exporter = feedback_html.CourseHTMLExporter(config=config)
    exporter.register_preprocessor(CSSHTMLHeaderPreprocessor(enabled=True), enabled=True)
    resources["nbgrader"] = {"score": 1.0, "max_score": 1.0, "notebook": "probe", "late_penalty": 0.0}
    page, _ = exporter.from_notebook_node(nb, resources=resources)
    return page


def test_the_feedback_page_loads_nothing_from_the_network():
    page = render_feedback(_hostile_notebook())
    assert remote_loads(page) == []
    assert image_sources(page) and all(src.startswith("data:image/png") for src in image_sources(page))
    soup = BeautifulSoup(page, "html.parser")
    assert soup.find_all("script") == [] and soup.find_all("link") == [] and soup.find_all("svg") == []
    assert "Answer" in soup.get_text() and "x^2" in soup.get_text()  # the student's text is still there


def test_the_feedback_page_declares_a_content_security_policy_that_forbidsremote_loads():
    page = render_feedback(_hostile_notebook())
    head = BeautifulSoup(page, "html.parser").head
    first = head.find(True)
    assert first.name == "meta" and first.get("http-equiv") == "Content-Security-Policy", head
    policy = {part.split()[0]: part.split()[1:] for part in first["content"].split(";") if part.strip()}
    assert policy["default-src"] == ["'none'"] and policy["img-src"] == ["data:"]
    assert policy["style-src"] == ["'unsafe-inline'"]  # the page's own <style> elements
    assert "script-src" not in policy and "connect-src" not in policy and "font-src" not in policy
    assert head.find_all("style"), "the page's own styles are inline, which the policy allows"


def maths_notebook(hint: str = "x" * 400):
    """A graded page with maths in prose, in a text/latex output, a student's TeX that tries to
    smuggle attributes in, a zero-point check above a graded one, and a long hint."""
    def check(grade_id, points, outputs=()):
        meta = {"nbgrader": {"grade": True, "solution": False, "locked": True, "grade_id": grade_id,
                             "points": points, "score": 0.0}}
        return new_code_cell(f"check('{grade_id}')", metadata=meta, outputs=list(outputs))
    hint_output = new_output("error", ename="AssertionError", evalue=hint, traceback=[f"AssertionError: {hint}"])
    cells = [
        new_markdown_cell("Adam: $\\theta_{t+1} = \\theta_t - \\eta\\,\\hat m_t$ and\n\n"
                          "$$\\begin{aligned} m_t &= \\beta_1 m_{t-1} \\\\ v_t &= \\beta_2 v_{t-1} \\end{aligned}$$\n\n"
                          "`$not maths$` and $\\href{javascript:alert(1)}{x}\\style{color:red}{y}$"),
        check("visible_check", 0, [hint_output]),
        check("hidden_graded", 2),
        new_code_cell("show()", outputs=[new_output("display_data", data={"text/latex": "$\\beta_1^t$"})]),
    ]
    return new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3"}})


def test_the_feedback_page_shows_maths_as_mathml_with_no_student_attribute():
    soup = BeautifulSoup(render_feedback(maths_notebook()), "html.parser")
    maths = soup.find_all("math")
    assert len(maths) == 4, [m.get_text() for m in maths]  # two in prose, the aligned block, the output
    assert maths[1]["display"] == "block" and maths[1].find("mtable")
    attributes = {name for m in maths for e in [m, *m.find_all(True)] for name in e.attrs}
    assert attributes <= MATHML_ATTRIBUTES | {"xmlns"} and not attributes & {"href", "style", "mathcolor"}
    assert soup.find("code").get_text() == "$not maths$"  # code stays code
    assert "javascript" not in str(soup.find_all("math")) and "θ" in maths[0].get_text()


def test_the_feedback_page_wraps_long_lines_and_lists_graded_checks_first():
    page = render_feedback(maths_notebook())
    assert "white-space: pre-wrap" in page and "overflow-wrap: anywhere" in page
    toc = [a["href"] for a in BeautifulSoup(page, "html.parser").select("#toc li a")]
    assert toc == ["#hidden_graded", "#visible_check"]


def test_a_huge_student_cell_is_cut_with_a_note_so_that_its_page_renders_in_bounded_time():
    from course_grader.pipeline.preprocessors import FEEDBACK_TEXT_CHARS

    bomb = "\\[a " * 80_000  # unclosed display maths: rendering cost grows faster than its size
    latex = new_output("display_data", data={"text/latex": bomb, "text/plain": "x"})
    nb = new_notebook(cells=[new_markdown_cell(bomb + "TAIL"), new_code_cell("show()", outputs=[latex])],
                      metadata={"kernelspec": {"name": "python3", "display_name": "Python 3"}})
    sanitized, _ = SanitizeFeedback().preprocess(copy.deepcopy(nb), {})
    markdown, code = sanitized.cells
    left_out = len(bomb) + 4 - FEEDBACK_TEXT_CHARS
    assert markdown.source.startswith("\\[a ") and "TAIL" not in markdown.source
    assert f"[{left_out} more characters not shown in the feedback page]" in markdown.source
    assert len(code.outputs[0].data["text/latex"]) < FEEDBACK_TEXT_CHARS + 100
    page = render_feedback(nb)
    assert f"{left_out} more characters not shown" in page and "TAIL" not in page
