"""Budgets per submission and safe feedback pages, graded end to end in one batch.

The probe assignment (2 + 3 points), sandbox on, 2 jobs, small budgets: 20 s per notebook,
5 MiB and 200 files written, 1 MiB per submitted notebook and per notebook's outputs. Next to
an honest correct and an honest wrong student:

- ``sleeper``: added cells that sleep 4 s each (under the 5 s cell limit) past the notebook's
  total time: the square exercise never runs (``time_budget``, 2 points);
- ``many_files`` / ``many_bytes`` / ``deep_folders``: the square cell writes 3000 files / 15 MB
  / folders 300 levels deep into the kernel's folder: the kernel is stopped there
  (``disk_budget``, 2 points);
- ``big_notebook``: a 1.5 MB notebook (``too_large``, not graded);
- ``big_outputs``: 1.8 MB of HTML output: cut, graded in full;
- ``html_injector``: scripts and event handlers in markdown, raw cells, every output type
  and the notebook metadata: graded in full, and none of it can run in the feedback page;
  remote images, style sheets and scripts (tracking pixels) in markdown and outputs: the
  page loads nothing from the network.
"""
from __future__ import annotations

import copy
import csv
import time
import types
from html.parser import HTMLParser

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_raw_cell

from autograding import autograding_probe as probe
from integrity.integrity_helpers import remote_loads
from course_grader.pipeline import isolation, scratch
from course_grader.pipeline.batch import grade_course
from course_grader.pipeline.preprocessors import TIME_BUDGET_ERROR, IsolatedVerdict
from course_grader.pipeline.submission import Settings

pytestmark = pytest.mark.usefixtures("sandbox_available")

SETTINGS = Settings(timeout=5, sandbox=True, notebook_timeout=20, max_write_mb=5, max_write_files=200,
                    max_notebook_mb=1, max_output_mb=1)
BAD_DOUBLE = "def double(x):\n    return 0"
MANY_FILES = "import os, time\nfor i in range(3000):\n    open(f'f{i}', 'w').close()\ntime.sleep(4)\n"
DEEP_FOLDERS = "import os, time\nfor i in range(300):\n    os.mkdir('d')\n    os.chdir('d')\ntime.sleep(4)\n"
MANY_BYTES = ("import time\nfor i in range(5):\n    with open(f'big{i}', 'wb') as fh:\n"
              "        fh.write(b'x' * 3_000_000)\ntime.sleep(4)\n")
INJECTED_MARKDOWN = """Look: <script>window.PWNED = 1</script><img src=x onerror="window.PWNED = 2">
<a href="javascript:window.PWNED = 3">click</a> [click](javascript:window.PWNED=4)
<iframe src="https://example.org"></iframe><svg onload="window.PWNED = 5"></svg>
<b onmouseover="window.PWNED = 6">hover</b><form action="https://example.org"><input></form>
![pixel](https://track.example/md.png) <img src="http://track.example/raw.png"> <img src=//track.example/p.png>"""
INJECTED_CODE = '''
from IPython.display import HTML, Javascript, SVG, Markdown, Latex, display
display(HTML('<script>window.PWNED = 7</script><img src=x onerror="window.PWNED = 8"><p>html output</p>'))
display(Javascript('window.PWNED = 9'))
display(SVG('<svg xmlns="http://www.w3.org/2000/svg" onload="window.PWNED = 10"><circle r="5"/></svg>'))
display(Markdown('<img src=x onerror="window.PWNED = 11"> [x](javascript:window.PWNED=12)'))
display(Latex('</div><script>window.PWNED = 13</script>'))
display({"image/png": '" onerror="window.PWNED = 14', "text/plain": "png"}, raw=True)
display({"text/html": '<a href="javascript:window.PWNED = 15">x</a>'}, raw=True,
        metadata={"image/png": {"width": '1" onload="window.PWNED = 16'}})
display({"application/vnd.jupyter.widget-view+json": {"model_id": "</script><script>window.PWNED=17</script>"}},
        raw=True)
display(HTML('<img src="https://track.example/h.png" srcset="https://track.example/2x.png 2x">'
             '<link rel="stylesheet" href="https://track.example/s.css"><script src="https://track.example/s.js">'
             '</script><p style="background: url(https://track.example/b.png)">tracked</p>'))
display(Markdown('![pixel](https://track.example/m.png) <img src="https://track.example/m2.png">'))
display(SVG('<svg xmlns="http://www.w3.org/2000/svg"><image href="https://track.example/svg.png"/></svg>'))
'''


def _insert_after(nb, grade_id, cells):
    nb = copy.deepcopy(nb)
    index = next(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)
    nb.cells[index + 1:index + 1] = cells
    return nb


class _Page(HTMLParser):
    """Every start tag with its attributes, and the scripts of a page."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.scripts: list[tuple[tuple, str]] = []
        self.text: list[str] = []
        self._in_script: tuple | None = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, attrs))
        if tag == "script":
            self._in_script = tuple(attrs)
            self.scripts.append((self._in_script, ""))

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = None

    def handle_data(self, data):
        if self._in_script is not None:
            attrs, text = self.scripts[-1]
            self.scripts[-1] = (attrs, text + data)
        else:
            self.text.append(data)


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    root = tmp_path_factory.mktemp("budgets")
    course, release = probe.probe_course(root)
    good = probe.with_solutions(release, probe.GOOD_DOUBLE, probe.GOOD_SQUARE)
    sleeper = _insert_after(good, "test_double", [new_code_cell("import time\ntime.sleep(4)") for _ in range(6)])
    big = copy.deepcopy(good)
    big.cells.append(new_markdown_cell("padding " * 200_000))
    big_outputs = _insert_after(good, "test_square", [new_code_cell(
        'from IPython.display import HTML, display\ndisplay(HTML("<p>" + "y" * 600_000 + "</p>"))')
        for _ in range(3)])
    injector = _insert_after(good, "test_square", [
        new_markdown_cell(INJECTED_MARKDOWN), new_code_cell(INJECTED_CODE),
        new_raw_cell('<script>window.PWNED = 18</script>', metadata={"raw_mimetype": "text/html"})])
    injector.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {
        "state": {}, "x": "</script><script>window.PWNED = 19</script>"}}
    submissions = {
        "honest_correct": good,
        "honest_wrong": probe.with_solutions(release, BAD_DOUBLE, probe.GOOD_SQUARE),
        "sleeper": sleeper,
        "many_files": probe.with_solutions(release, probe.GOOD_DOUBLE, MANY_FILES + probe.GOOD_SQUARE),
        "many_bytes": probe.with_solutions(release, probe.GOOD_DOUBLE, MANY_BYTES + probe.GOOD_SQUARE),
        "deep_folders": probe.with_solutions(release, probe.GOOD_DOUBLE, DEEP_FOLDERS + probe.GOOD_SQUARE),
        "big_notebook": big,
        "big_outputs": big_outputs,
        "html_injector": injector,
    }
    for student, nb in submissions.items():
        scratch.submit(course, student, probe.ASSIGNMENT, nb, "probe.ipynb")
    report = grade_course(course, SETTINGS, jobs=2, log=lambda _: None)
    rows = {row["student_id"]: row for row in csv.DictReader(open(course.grades_csv, newline=""))}
    return course, report, rows


EXPECTED = {  # student -> (score, status, words the reason contains)
    "honest_correct": (5.0, "graded", ""),
    "honest_wrong": (3.0, "graded", ""),
    "sleeper": (2.0, "time_budget", "total time budget"),
    "many_files": (2.0, "disk_budget", "more than 200 files"),
    "many_bytes": (2.0, "disk_budget", "MiB"),
    "deep_folders": (2.0, "disk_budget", "levels deep"),
    "big_notebook": (0.0, "too_large", "larger than 1 MiB"),
    "big_outputs": (5.0, "graded", "truncated"),
    "html_injector": (5.0, "graded", ""),
}


@pytest.mark.parametrize("student", sorted(EXPECTED))
def test_each_student_gets_exactly_its_score_and_status(batch, student):
    _, _, rows = batch
    score, status, words = EXPECTED[student]
    row = rows[student]
    assert (float(row["score"]), row["status"]) == (score, status), row
    assert words in row["reason"], row["reason"]


def test_the_time_budget_bounds_the_notebook(batch):
    _, report, _ = batch
    sleeper = next(r for r in report.results if r.student == "sleeper")
    assert sleeper.seconds < SETTINGS.notebook_seconds + 30, sleeper.seconds


def test_outputs_are_cut_to_the_budget(batch):
    course, _, _ = batch
    size = (course.autograded / "big_outputs" / probe.ASSIGNMENT / "probe.ipynb").stat().st_size
    assert size < 1.5 * 2**20


def test_no_student_script_or_handler_in_the_feedback_page(batch):
    course, _, _ = batch
    honest = _Page((course.feedback / "honest_correct" / probe.ASSIGNMENT / "probe.html").read_text())
    page = _Page((course.feedback / "html_injector" / probe.ASSIGNMENT / "probe.html").read_text())
    assert page.scripts == honest.scripts == []  # not even the template's own (MathJax came from a CDN)
    for tag, attrs in page.tags:
        assert tag not in {"iframe", "svg", "object", "embed", "form", "base", "frame"}, tag
        for name, value in attrs:
            assert not name.lower().startswith("on"), (tag, name, value)
            assert not (value or "").strip().lower().startswith(("javascript:", "data:text")), (tag, name, value)
    text = "".join(page.text)
    assert "window.PWNED = 1" in text  # shown as text, so the student sees what was refused
    assert "html output" in text and "Probe" in text


def test_the_feedback_pages_load_nothing_from_the_network(batch):
    """No tracking pixel: every page nbgrader wrote has no remote load and a policy that forbids them."""
    course, _, _ = batch
    pages = sorted(course.feedback.glob(f"*/{probe.ASSIGNMENT}/*.html"))
    assert any("html_injector" in str(path) for path in pages)
    for path in pages:
        text = path.read_text()
        assert remote_loads(text) == [], path
        assert "Content-Security-Policy" in text and "default-src 'none'" in text, path
    injected = (course.feedback / "html_injector" / probe.ASSIGNMENT / "probe.html").read_text()
    assert "tracked" in injected and "track.example/s.js" in injected  # shown as text, loaded by nothing


def test_the_courses_own_content_still_renders(batch):
    course, _, _ = batch
    page = _Page((course.feedback / "honest_correct" / probe.ASSIGNMENT / "probe.html").read_text())
    assert any(tag == "h1" for tag, _ in page.tags)  # the course's markdown, rendered
    assert not page.scripts  # nothing loads MathJax (a CDN script): formulas show as TeX source
    nb = nbformat.read(course.autograded / "honest_correct" / probe.ASSIGNMENT / "probe.ipynb", as_version=4)
    assert nb.cells  # graded from the notebook itself


def test_a_slow_judge_shares_the_notebooks_time_budget(monkeypatch):
    """A class that makes the judge slow (say a sleeping step()) earns nothing past the budget."""
    def slow_judge(sources, checks, **kw):
        time.sleep(4)
        return {"x.ok": types.SimpleNamespace(passed=True, message="fine")}
    monkeypatch.setattr(isolation, "load_judge", lambda: types.SimpleNamespace(judge=slow_judge))
    def check_cell():
        return new_code_cell('check("x.ok", Foo)', metadata={"nbgrader": {
            "grade": True, "solution": False, "locked": True, "grade_id": "t", "points": 1}})
    nb = nbformat.v4.new_notebook(cells=[check_cell()])
    started = time.monotonic()
    resources = {"autograding": {"deadline": started + 1}}
    nb, _ = IsolatedVerdict(use_sandbox=False).preprocess(nb, resources)
    assert time.monotonic() - started < 3
    assert [o.get("ename") for o in nb.cells[0].outputs] == [TIME_BUDGET_ERROR]
    resources = {"autograding": {"deadline": time.monotonic() + 30}}
    nb, _ = IsolatedVerdict(use_sandbox=False).preprocess(nbformat.v4.new_notebook(cells=[check_cell()]), resources)
    assert nb.cells[0].outputs[0].text == "✓ x.ok: passed\n"  # within the budget: judged as usual
