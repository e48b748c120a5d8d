"""What a student sees: every chapter opened, run and validated in JupyterLab in a real browser.

One JupyterLab server (configured by ``course_lib.setup_jupyter`` exactly as ``make setup``
and Binder configure it) and one headless Chromium serve all chapters. For each chapter:

1. the student notebook is opened and every cell is run from the Run menu; the maths is
   typeset by MathJax, the plots are images, and every error a student meets is the
   exercise's ``NotImplementedError`` (or a check failing because of it);
2. a copy with the solution cells filled in from ``solutions/`` (hidden tests left out, as a
   student never sees them) runs without any error, and nbgrader's **Validate** button says
   "Success! Your notebook passes all the tests.".

Also: Run All on an untouched chapter stops no earlier than its first check (every demo
above the exercise has run) and fails nowhere before the exercise; the chapter opens
without an unsaved-changes mark; Validate on a wrong class shows the failing check's
message and hint at the top of its dialog; every chapter's slider redraws its figure (chapter
1's in the untouched student notebook, the others in the solved one, since chapters 6-9 draw
with the student's own classes).

Screenshots land in ``tests/artifacts/browser/`` (git-ignored). Chromium comes from the
system (Debian's ``chromium`` package; ``.ci/run`` installs it), else from Playwright
(``tests/student_experience/chromium.py``); without either the tests are skipped, and the
run ends with a line saying so (``tests/conftest.py``).
"""
from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest

from course_lib import setup_jupyter
from student_experience.chromium import CHROMIUM_ARGS, find_chromium

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts" / "browser"
CHAPTERS = [
    ("01_gradient_descent", "gradient_descent"),
    ("02_adam", "adam"),
    ("03_lr_schedules", "lr_schedules"),
    ("04_projected_gd", "projected_gd"),
    ("05_gradient_clipping", "gradient_clipping"),
    ("06_optimizer_zoo", "optimizer_zoo"),
    ("07_schedule_zoo", "schedule_zoo"),
    ("08_lr_finder", "lr_finder"),
    ("09_loss_landscapes", "loss_landscapes"),
    ("10_training_loop", "training_loop"),
]
#: What an untouched exercise may raise; anything else is a bug in the chapter.
EXPECTED_ERRORS = re.compile(r"NotImplementedError|CheckFailed")
VALIDATE_SUCCESS = "Success! Your notebook passes all the tests."
SOLUTION_MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION")

SERVER_START_S = 90
NOTEBOOK_OPEN_S = 90
RUN_S = 240
VALIDATE_S = 240

# The notebook panel on screen (one notebook is open at a time).
PANEL = "#jp-main-dock-panel .jp-NotebookPanel:not(.lm-mod-hidden)"

# State of the visible notebook, read in the page.
JS_STATE = """
() => {
  const panel = document.querySelector('%(panel)s');
  if (!panel) return null;
  const cells = [...panel.querySelectorAll('.jp-Notebook .jp-Cell')];
  const status = document.querySelector('#jp-main-statusbar');
  const tab = document.querySelector('#jp-main-dock-panel .lm-TabBar-tab.lm-mod-current .lm-TabBar-tabLabel');
  return {
    title: tab ? tab.textContent : '',
    cells: cells.length,
    kernel: (panel.querySelector('[data-jp-item-name="kernelName"]') || {}).textContent || '',
    idle: !!status && /\\| Idle/.test(status.textContent),
    prompts: cells.map(c => c.classList.contains('jp-CodeCell')
      ? (c.querySelector('.jp-InputArea-prompt') || {}).textContent || '' : null),
  };
}
""" % {"panel": PANEL}

# What the student sees after running: errors, maths, images, per cell.
JS_RENDERED = """
() => {
  const panel = document.querySelector('%(panel)s');
  const cells = [...panel.querySelectorAll('.jp-Notebook .jp-Cell')];
  return cells.map(c => ({
    rendered: !c.classList.contains('jp-MarkdownCell') || c.classList.contains('jp-mod-rendered'),
    maths: c.querySelectorAll('mjx-container').length,
    mathErrors: c.querySelectorAll('mjx-merror').length,
    stderr: [...c.querySelectorAll(
      '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')]
      .map(e => e.textContent),
    images: [...c.querySelectorAll('.jp-RenderedImage img')]
      .map(img => ({complete: img.complete, width: img.naturalWidth})),
  }));
}
""" % {"panel": PANEL}


# ----------------------------------------------------------------------------- server


@dataclass
class LabServer:
    """A running JupyterLab: where it listens, its token and its folder."""

    url: str
    token: str
    root: Path
    log: Path

    def page_url(self, path: str) -> str:
        return f"{self.url}/{path}?token={self.token}&reset"

    def api(self, method: str, path: str):
        request = urllib.request.Request(
            f"{self.url}/api/{path}", method=method,
            headers={"Authorization": f"token {self.token}"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            body = response.read()
        return json.loads(body) if body else None

    def api_json(self, path: str):
        """GET a server page outside /api (nbgrader's handlers) as JSON."""
        request = urllib.request.Request(
            f"{self.url}/{path}", headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read())

    def shutdown_kernels(self) -> None:
        """Stop every kernel, so that chapters do not pile up processes."""
        for kernel in self.api("GET", "kernels"):
            self.api("DELETE", f"kernels/{kernel['id']}")

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _stop(process: subprocess.Popen, grace_s: float = 15) -> None:
    """Terminate ``process``; kill its whole process group if it outlives ``grace_s``."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=grace_s)


def _solved_copy(student: Path, source: Path, target: Path) -> None:
    """Write ``target``: the student notebook with each solution cell taken from the source.

    Cells are matched by nbgrader ``grade_id``; only solution cells are copied (the
    student's test cells, whose hidden tests are stripped, stay as the student has them).
    """
    nb = nbformat.read(student, as_version=4)
    answers = {
        cell.metadata["nbgrader"]["grade_id"]: cell.source
        for cell in nbformat.read(source, as_version=4).cells
        if cell.metadata.get("nbgrader", {}).get("solution")
    }
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution"):
            assert meta["grade_id"] in answers, (
                f"{student.name}: solution cell {meta['grade_id']!r} has no counterpart in {source}")
            answer = answers[meta["grade_id"]]
            cell.source = "\n".join(
                line for line in answer.splitlines() if line.strip() not in SOLUTION_MARKERS
            )
    nbformat.write(nb, target)


@pytest.fixture(scope="module")
def chromium() -> str:
    """The system's Chromium, else Playwright's (downloaded if it can be); skipped saying why not."""
    path, why = find_chromium()
    if not path:
        pytest.skip(f"browser test skipped: {why}")
    return path


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    """A scratch copy of the student notebooks (plus solved copies), as the server's folder."""
    root = tmp_path_factory.mktemp("course")
    shutil.copytree(ROOT / "notebooks", root / "notebooks")
    for chapter, name in CHAPTERS:
        student = root / "notebooks" / chapter / f"{name}.ipynb"
        source = ROOT / "solutions" / chapter / f"{name}.ipynb"
        if student.exists() and source.exists():
            _solved_copy(student, source, student.with_name(f"{name}_solved.ipynb"))
    return root


@pytest.fixture(scope="module")
def lab(course, chromium, tmp_path_factory) -> LabServer:
    """JupyterLab on 127.0.0.1, a free port and a random token, configured for students.

    The configuration is this environment's ``etc/jupyter`` with ``course_lib.setup_jupyter``
    applied, in a scratch folder given precedence (``JUPYTER_PREFER_ENV_PATH=0``) so that the
    test sees the student setup without changing the environment. HOME and Jupyter's data and
    runtime folders are scratch folders too.
    """
    scratch = tmp_path_factory.mktemp("jupyter")
    config = scratch / "config"
    shutil.copytree(Path(sys.prefix) / "etc" / "jupyter", config)
    setup_jupyter.configure(config)
    home = scratch / "home"
    home.mkdir()
    env = dict(
        os.environ,
        HOME=str(home),
        JUPYTER_CONFIG_DIR=str(config),
        JUPYTER_PREFER_ENV_PATH="0",
        JUPYTER_DATA_DIR=str(scratch / "data"),
        JUPYTER_RUNTIME_DIR=str(scratch / "runtime"),
        IPYTHONDIR=str(scratch / "ipython"),
        PYTHONDONTWRITEBYTECODE="1",
        # The chapters' tensors are tiny; one thread per kernel avoids oversubscribing a small CI box.
        OMP_NUM_THREADS="1",
    )
    env.pop("JUPYTER_PATH", None)
    port, token = _free_port(), secrets.token_hex(16)
    cmd = [
        sys.executable, "-m", "jupyterlab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={course}",
    ]
    if os.geteuid() == 0:
        cmd.append("--allow-root")
    log = scratch / "jupyterlab.log"
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            cmd, cwd=course, env=env, stdout=log_file, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = LabServer(f"http://127.0.0.1:{port}", token, course, log)
    try:
        deadline = time.monotonic() + SERVER_START_S
        while True:
            if process.poll() is not None:
                pytest.fail(f"jupyter lab exited with {process.returncode}:\n{server.log_tail()}")
            try:
                server.api("GET", "status")
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"jupyter lab did not answer in {SERVER_START_S} s:\n{server.log_tail()}")
                time.sleep(0.5)
        yield server
        try:
            server.shutdown_kernels()
        except OSError:
            pass  # the server is gone already; _stop says nothing more is left
    finally:
        _stop(process)


@pytest.fixture(scope="module")
def page(chromium, lab):
    """One headless Chromium page with JupyterLab loaded, shared by all chapters."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (requirements-dev.txt) is missing")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.set_default_timeout(30_000)
            page.goto(lab.page_url("lab"))
            page.locator(".jp-Launcher").wait_for(timeout=NOTEBOOK_OPEN_S * 1000)
            yield page
        finally:
            browser.close()


@pytest.fixture(scope="module")
def timings():
    """Seconds per step and chapter, written to tests/artifacts/browser/timings.json."""
    recorded: dict[str, float] = {}
    yield recorded
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "timings.json").write_text(json.dumps(recorded, indent=2) + "\n")


# ----------------------------------------------------------------------------- browser steps


def _wait(page, predicate, timeout_s: float, what: str, settle: int = 1):
    """Poll the page's state until ``predicate(state)`` holds ``settle`` times in a row."""
    deadline = time.monotonic() + timeout_s
    hits = 0
    state = None
    while time.monotonic() < deadline:
        state = page.evaluate(JS_STATE)
        hits = hits + 1 if state and predicate(state) else 0
        if hits >= settle:
            return state
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}; last state: {state}")


def _menu(page, menu: str, command: str) -> None:
    """Click ``menu`` in the menu bar, then its item bound to ``command``."""
    page.locator(".lm-MenuBar-item", has_text=re.compile(f"^{menu}$")).click()
    page.locator(f'.lm-Menu-item[data-command="{command}"]').click()


def _open_notebook(page, lab: LabServer, path: str) -> None:
    """File > Open from Path…; wait until all its cells are on screen and its kernel is idle."""
    n_cells = len(nbformat.read(lab.root / path, as_version=4).cells)
    _menu(page, "File", "filebrowser:open-path")
    dialog = page.locator(".jp-Dialog").filter(has_text="Open Path")
    dialog.locator("input").fill(path)
    dialog.locator(".jp-Dialog-button.jp-mod-accept").click()
    name = Path(path).name
    _wait(
        page,
        lambda s: s["title"] == name and s["cells"] == n_cells and "Python" in s["kernel"] and s["idle"],
        NOTEBOOK_OPEN_S,
        f"{path} to open with {n_cells} cells and an idle Python kernel",
        settle=2,
    )


def _close_notebook(page, lab: LabServer) -> None:
    """File > Close and Shut Down (the kernel goes too); start afresh if the page is stuck."""
    try:
        for _ in range(5):  # a dialog left open by a failed step
            if not page.locator(".jp-Dialog").count():
                break
            page.keyboard.press("Escape")
            time.sleep(0.2)
        _menu(page, "File", "filemenu:close-and-cleanup")
        dialog = page.locator(".jp-Dialog")
        dialog.locator(".jp-Dialog-button.jp-mod-accept").click(timeout=10_000)
        page.locator(PANEL).wait_for(state="detached", timeout=30_000)
    except Exception:  # noqa: BLE001  (any failure here must not spoil the next chapter)
        page.goto(lab.page_url("lab"))
        page.locator(".jp-Launcher").wait_for(timeout=NOTEBOOK_OPEN_S * 1000)
    finally:
        lab.shutdown_kernels()


def _finished(state) -> bool:
    prompts = [p for p in state["prompts"] if p is not None]
    return state["idle"] and not any("*" in p for p in prompts)


def _started(state) -> bool:
    return any(p is not None and re.search(r"\d", p) for p in state["prompts"])


def _unexecuted(state) -> list[int]:
    """Indices of code cells that never ran (their prompt is ``[ ]:``)."""
    return [i for i, p in enumerate(state["prompts"]) if p is not None and not re.search(r"\d", p)]


def _run_everything(page, after_first_run=None) -> int:
    """Run All Cells; where a failing cell stops the run, go on below it. Returns the number of runs.

    JupyterLab (like the kernel) stops a run at the first error, so a student whose exercise
    is not done yet sees the cells below it unexecuted and uses "Run Selected Cell and All
    Below" to go on; this does the same until every code cell has run. ``after_first_run``
    is called with the page state when the first Run All Cells has stopped.
    """
    _menu(page, "Run", "runmenu:run-all")
    state = _wait(page, lambda s: _finished(s) and _started(s), RUN_S, "Run All Cells to finish", settle=3)
    if after_first_run is not None:
        after_first_run(state)
    runs = 1
    while _unexecuted(state):
        index = _unexecuted(state)[0]
        assert runs <= len(state["prompts"]), f"cells keep stopping the run: {state}"
        page.locator(f"{PANEL} .jp-Notebook .jp-Cell").nth(index).locator(".jp-InputPrompt").click()
        _menu(page, "Run", "notebook:run-all-below")
        state = _wait(page, lambda s, i=index: _finished(s) and i not in _unexecuted(s), RUN_S,
                      f"Run Selected Cell and All Below from cell {index} to finish", settle=3)
        runs += 1
    return runs


def _screenshot(page, name: str, scroll_to: str | None = None) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    if scroll_to is not None and page.locator(scroll_to).count():
        page.locator(scroll_to).first.scroll_into_view_if_needed()
        time.sleep(0.3)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path


#: chapters whose first figure needs the student's code (the untouched copy shows none yet)
NO_FIGURE_BEFORE_THE_EXERCISE = {"notebooks/10_training_loop/training_loop.ipynb"}


def _check_maths_and_plots(cells: list[dict], nb, label: str) -> None:
    maths_sources = [
        i for i, cell in enumerate(nb.cells)
        if cell.cell_type == "markdown" and re.search(r"\$[^$]+\$", cell.source)
    ]
    assert all(c["rendered"] for c in cells), f"{label}: markdown cells left unrendered"
    untypeset = [i for i in maths_sources if cells[i]["maths"] == 0]
    assert not untypeset, f"{label}: maths not typeset by MathJax in cells {untypeset}"
    broken = [i for i, c in enumerate(cells) if c["mathErrors"]]
    assert not broken, f"{label}: MathJax reports LaTeX errors in cells {broken}"
    images = [img for c in cells for img in c["images"]]
    assert images or label in NO_FIGURE_BEFORE_THE_EXERCISE, f"{label}: no plot was shown as an image"
    assert all(img["complete"] and img["width"] > 0 for img in images), f"{label}: an image did not load"


def _chapter_paths(chapter: str, name: str) -> tuple[str, str]:
    student = f"notebooks/{chapter}/{name}.ipynb"
    if not (ROOT / student).exists():
        pytest.skip(f"{student} does not exist yet")
    return student, f"notebooks/{chapter}/{name}_solved.ipynb"


# ----------------------------------------------------------------------------- tests


def test_lab_is_set_up_for_students(lab, page):
    """Validate and the Assignment List are there; instructor tools and news pop-ups are not."""
    nbgrader_menu = page.locator(".lm-MenuBar-item", has_text=re.compile(r"^Nbgrader$"))
    nbgrader_menu.click()
    items = page.locator(".lm-Menu-item:visible .lm-Menu-itemLabel").all_inner_texts()
    assert [item for item in items if item] == ["Assignment List"], items
    page.locator(".lm-Menu-item:visible", has_text="Assignment List").click()
    page.locator(".nbgrader-mainarea-widget").wait_for()
    time.sleep(1)
    _screenshot(page, "00-assignment-list")
    assert "Unwritable directory" not in page.locator(".nbgrader-mainarea-widget").inner_text()
    _menu(page, "File", "application:close")

    courses = lab.api_json("courses")  # the Assignment List asks the exchange for courses
    assert courses["success"], courses
    for instructor_page in ("formgrader", "formgrader/api/assignments"):
        with pytest.raises(urllib.error.HTTPError) as missing:
            lab.api_json(instructor_page)
        assert missing.value.code == 404, instructor_page
    # No news or update announcements: no notification at all after start-up.
    assert page.locator(".Toastify__toast").count() == 0
    assert page.locator(".jp-Notification-Status").inner_text().strip() in ("", "0")


@pytest.mark.parametrize("chapter, name", CHAPTERS, ids=[c for c, _ in CHAPTERS])
def test_student_notebook_runs_to_the_exercise(chapter, name, lab, page, timings):
    student, _ = _chapter_paths(chapter, name)
    nb = nbformat.read(lab.root / student, as_version=4)
    start = time.monotonic()
    try:
        _open_notebook(page, lab, student)
        timings[f"{chapter} student: open"] = round(time.monotonic() - start, 1)
        _screenshot(page, f"{chapter}-student-opened")
        first_todo = next(i for i, c in enumerate(nb.cells)
                          if c.cell_type == "code" and "raise NotImplementedError()" in c.source)
        # the first test cell after the exercise: a check(...) cell, or a by-hand test (chapter 6)
        first_check = next(i for i, c in enumerate(nb.cells)
                           if i > first_todo and c.cell_type == "code"
                           and c.metadata.get("nbgrader", {}).get("grade"))

        def demos_ran(state):
            # Run All stops at the first test of the class: every cell above it has run
            stopped = _unexecuted(state)
            assert not stopped or stopped[0] > first_check, (
                f"{student}: Run All stopped at cell {stopped[0]}, before the first check ({first_check})")

        _run_everything(page, after_first_run=demos_ran)
        timings[f"{chapter} student: open + run"] = round(time.monotonic() - start, 1)
        cells = page.evaluate(JS_RENDERED)
        _screenshot(page, f"{chapter}-student-plot", scroll_to=f"{PANEL} .jp-RenderedImage")
        _screenshot(page, f"{chapter}-student-error",
                    scroll_to=f'{PANEL} .jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')
        _check_maths_and_plots(cells, nb, student)
        errors = [(i, text) for i, c in enumerate(cells) for text in c["stderr"]]
        assert errors, f"{student}: nothing failed, but the exercise is not done (is a solution left in?)"
        unexpected = [(i, text[-600:]) for i, text in errors if not EXPECTED_ERRORS.search(text)]
        assert not unexpected, (
            f"{student}: errors other than the exercise's NotImplementedError: {unexpected}")
        early = [i for i, _ in errors if i < first_todo]
        assert not early, f"{student}: cells {early} fail before the exercise (cell {first_todo})"
    finally:
        _close_notebook(page, lab)


@pytest.mark.parametrize("chapter, name", CHAPTERS, ids=[c for c, _ in CHAPTERS])
def test_solved_notebook_passes_and_validates(chapter, name, lab, page, timings):
    _, solved = _chapter_paths(chapter, name)
    if not (lab.root / solved).exists():
        pytest.skip(f"solutions/{chapter}/{name}.ipynb does not exist yet")
    nb = nbformat.read(lab.root / solved, as_version=4)
    start = time.monotonic()
    try:
        _open_notebook(page, lab, solved)
        runs = _run_everything(page)
        timings[f"{chapter} solved: open + run"] = round(time.monotonic() - start, 1)
        cells = page.evaluate(JS_RENDERED)
        _screenshot(page, f"{chapter}-solved-plot", scroll_to=f"{PANEL} .jp-RenderedImage >> nth=-1")
        errors = [(i, text[-600:]) for i, c in enumerate(cells) for text in c["stderr"]]
        assert not errors, f"{solved}: the solved notebook shows errors: {errors}"
        assert runs == 1, f"{solved}: Run All Cells stopped before the end"
        _check_maths_and_plots(cells, nb, solved)
        if chapter in SLIDER_MOVES and chapter != CHAPTERS[0][0]:
            # chapters 6-9's sliders draw with the student's own classes: they run once those are written
            _move_slider(page, nb, chapter)

        page.locator(f"{PANEL} .validate-button").click()
        dialog = page.locator(".jp-Dialog").filter(has_text="Validation Results")
        dialog.wait_for(timeout=VALIDATE_S * 1000)
        timings[f"{chapter} solved: open + run + validate"] = round(time.monotonic() - start, 1)
        _screenshot(page, f"{chapter}-solved-validate")
        body = dialog.locator(".jp-Dialog-body").inner_text()
        assert VALIDATE_SUCCESS in body, f"{solved}: Validate said:\n{body[:2000]}"
        dialog.locator(".jp-Dialog-button.jp-mod-accept").click()
    finally:
        _close_notebook(page, lab)


@pytest.mark.parametrize("chapter, name", CHAPTERS, ids=[c for c, _ in CHAPTERS])
def test_student_notebook_opens_without_unsaved_changes(chapter, name, lab, page):
    """Opening a chapter must not mark it modified: a student who closes it is not asked to save."""
    student, _ = _chapter_paths(chapter, name)
    try:
        _open_notebook(page, lab, student)
        time.sleep(2)  # JupyterLab rewrites metadata (kernel, language) just after the kernel starts
        dirty = page.evaluate(
            "() => document.querySelector('#jp-main-dock-panel .lm-TabBar-tab.lm-mod-current')"
            ".classList.contains('jp-mod-dirty')")
        if dirty:
            _screenshot(page, f"{chapter}-student-dirty")
        assert not dirty, f"{student} shows unsaved changes right after opening"
    finally:
        _close_notebook(page, lab)


def _with_fixture(lab: LabServer, chapter: str, name: str, fixture: str) -> str:
    """A solved copy of the chapter whose one graded unit is tests/fixtures/implementations/<chapter>/<fixture>.py.

    ``fixture`` is ``wrong_x`` for a chapter with one fixture folder, or ``<unit>/wrong_x`` for a chapter with a
    folder per graded unit (chapters 7-10). Every other unit keeps its correct solution, so the one failing
    check is the wrong unit's.
    """
    from course_grader.pipeline import scratch

    code = (ROOT / "tests" / "fixtures" / "implementations" / chapter / f"{fixture}.py").read_text()
    nb = nbformat.read(lab.root / "notebooks" / chapter / f"{name}_solved.ipynb", as_version=4)
    unit = fixture.split("/")[0] if "/" in fixture else None
    nb = scratch.with_implementation(nb, code, unit)
    path = f"notebooks/{chapter}/{name}_{fixture.replace('/', '_')}.ipynb"
    nbformat.write(nb, lab.root / path)
    return path


# The message of a failing check, measured in the Validate dialog: where it starts, relative
# to the dialog's scroll box, and whether the box has been scrolled.
JS_VALIDATE_MESSAGE = """
() => {
  const body = document.querySelector('.jp-Dialog #validation-message');
  const box = body.closest('.jp-Dialog-body') || body;
  const pres = [...body.querySelectorAll('pre')].filter(p => p.textContent.includes('CheckFailed: '));
  if (!pres.length) return null;
  const message = pres[0].getBoundingClientRect(), view = box.getBoundingClientRect();
  return {top: message.top - view.top, height: view.height, scrolled: box.scrollTop,
          text: pres[0].textContent};
}
"""

# One wrong fixture per chapter: each Validate runs the whole chapter.
WRONG = [("01_gradient_descent", "gradient_descent", "wrong_nesterov_is_heavy_ball", "gradient_descent.nesterov"),
         ("02_adam", "adam", "wrong_no_bias_correction", "adam.first_step"),
         ("03_lr_schedules", "lr_schedules", "wrong_true_division", "schedules.step_decay"),
         ("04_projected_gd", "projected_gd", "wrong_box_branch_missing", "projections.step_box"),
         ("05_gradient_clipping", "gradient_clipping", "wrong_always_rescale", "clipping.clip_by_norm"),
         ("06_optimizer_zoo", "optimizer_zoo", "wrong_adagrad_eps_inside_sqrt", "adagrad.matches_torch"),
         ("07_schedule_zoo", "schedule_zoo", "with_warmup/wrong_no_shift", "zoo.with_warmup"),
         ("08_lr_finder", "lr_finder", "suggest_lr/wrong_forward_difference", "lr_finder.suggest_matches_package"),
         ("09_loss_landscapes", "loss_landscapes", "loss_surface/wrong_axes_swapped", "landscapes.surface_values"),
         ("10_training_loop", "training_loop", "train_step/wrong_equal_weights", "training_loop.step_uneven")]


@pytest.mark.parametrize("chapter, name, fixture, check_id", WRONG, ids=[w[2] for w in WRONG])
def test_validate_shows_why_a_wrong_solution_fails(chapter, name, fixture, check_id, lab, page):
    """Validate on a wrong class says which check failed, with its hint, at the top of the dialog."""
    _chapter_paths(chapter, name)
    path = _with_fixture(lab, chapter, name, fixture)
    try:
        _open_notebook(page, lab, path)
        page.locator(f"{PANEL} .validate-button").click()
        dialog = page.locator(".jp-Dialog").filter(has_text="Validation Results")
        dialog.wait_for(timeout=VALIDATE_S * 1000)
        _screenshot(page, f"{chapter}-{fixture.replace('/', '_')}-validate")
        body = dialog.locator(".jp-Dialog-body").inner_text()
        assert VALIDATE_SUCCESS not in body and "The following cell failed" in body, body[:2000]
        shown = page.evaluate(JS_VALIDATE_MESSAGE)
        assert shown is not None, f"no CheckFailed message in the dialog:\n{body[:2000]}"
        assert f"{check_id} failed: " in shown["text"] and "Hint: " in shown["text"], shown["text"]
        assert "Traceback" not in body, "the dialog shows the grader's stack"
        assert shown["scrolled"] == 0 and 0 <= shown["top"] < shown["height"] - 40, (
            f"the failing message starts below what the dialog shows without scrolling: {shown}")
        dialog.locator(".jp-Dialog-button.jp-mod-accept").click()
    finally:
        _close_notebook(page, lab)


# A new value for the first slider of each chapter with one (``explore(...)`` in a code cell).
SLIDER_MOVES = {"01_gradient_descent": "0.03", "02_adam": "0.5", "03_lr_schedules": "200",
                "06_optimizer_zoo": "1", "07_schedule_zoo": "100", "08_lr_finder": "0.2",
                "09_loss_landscapes": "2"}


def _move_slider(page, nb, chapter: str) -> None:
    """Type the chapter's new value into its first slider's readout; its figure must be redrawn in place."""
    index = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code" and "explore(" in c.source)
    cell = page.locator(f"{PANEL} .jp-Notebook .jp-Cell").nth(index)
    cell.scroll_into_view_if_needed()
    image = cell.locator(".jp-RenderedImage img")
    image.wait_for()
    before = image.get_attribute("src")
    readout = cell.locator(".widget-readout").first
    readout.wait_for(timeout=30_000)
    readout.click()
    page.keyboard.press("Control+a")
    page.keyboard.type(SLIDER_MOVES[chapter])
    page.keyboard.press("Enter")
    deadline = time.monotonic() + 60
    while image.get_attribute("src") == before and time.monotonic() < deadline:
        time.sleep(0.25)
    image.scroll_into_view_if_needed()
    time.sleep(0.3)
    _screenshot(page, f"{chapter}-slider-moved")
    assert image.get_attribute("src") != before, f"{chapter}: the figure did not change after the slider moved"
    assert float(readout.inner_text().strip()) == float(SLIDER_MOVES[chapter])
    errors = cell.locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]').count()
    assert errors == 0, f"{chapter}: redrawing the figure raised an error"


def test_slider_redraws_the_figure(lab, page):
    """Chapter 1's learning-rate slider, in the untouched student notebook: a new value redraws the ravine."""
    chapter, name = CHAPTERS[0]
    student, _ = _chapter_paths(chapter, name)
    nb = nbformat.read(lab.root / student, as_version=4)
    try:
        _open_notebook(page, lab, student)
        _menu(page, "Run", "runmenu:run-all")
        _wait(page, lambda s: _finished(s) and _started(s), RUN_S, "Run All Cells to finish", settle=3)
        _move_slider(page, nb, chapter)
    finally:
        _close_notebook(page, lab)
