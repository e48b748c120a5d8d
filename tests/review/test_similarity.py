"""The similarity report flags copies, renamed and reordered, and pasted reference code, not
independent solutions.

Five submissions of chapter 2 (tests/fixtures/implementations/02_adam): ``alice`` hands in
``correct_in_place.py``; ``bob`` the same code with every name changed and ``zero_grad`` moved
before ``step``; ``dave`` pastes the course's own ``course_lib/adam.py`` Adam; ``carol`` and
``erin`` hand in two other, independently written correct solutions.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from course_grader.pipeline import scratch
from course_grader.review import report_html, similarity

ROOT = Path(__file__).resolve().parents[2]
ASSIGNMENT = "02_adam"
FIXTURES = ROOT / "tests" / "fixtures" / "implementations" / ASSIGNMENT
RENAMES = {"params": "weights", "lr": "step_size", "beta1": "decay_one", "beta2": "decay_two", "eps": "tiny",
           "t": "count", "m": "first", "v": "second", "p": "w", "g": "grad_w", "m_hat": "first_hat",
           "v_hat": "second_hat", "param": "weight"}


def disguised(code: str) -> str:
    """``code`` with every name of :data:`RENAMES` changed and its last method moved first."""
    for old, new in RENAMES.items():
        code = re.sub(rf"(?<![\w.]){old}\b|(?<=self\.){old}\b", new, code)
    head, *methods = re.split(r"\n(?=    (?:@|def ))", code)
    step = next(i for i, m in enumerate(methods) if "def step" in m or "@torch.no_grad" in m)
    last = methods.pop()  # zero_grad
    methods.insert(step, last.rstrip() + "\n")
    return "\n".join([head] + methods)


def pasted_reference() -> str:
    """``course_lib/adam.py`` up to its AdamW: what a student copying the course's Adam hands in."""
    text = (ROOT / "course_lib" / "adam.py").read_text()
    return text[text.index("def _check_betas"):text.index("class AdamWOptimizer")]


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    course = scratch.new_course(tmp_path_factory.mktemp("similarity"))
    name, release = scratch.release_notebook(course, ASSIGNMENT)
    original = (FIXTURES / "correct_in_place.py").read_text()
    codes = {"alice": original, "bob": disguised(original),
             "carol": (FIXTURES / "correct_lazy_math.py").read_text(),
             "dave": pasted_reference(),
             "erin": (FIXTURES / "correct_helper_in_added_cell.py").read_text()}
    for student, code in codes.items():
        scratch.submit(course, student, ASSIGNMENT, scratch.with_implementation(release, code, "AdamOptimizer"),
                       f"{name}.ipynb")
    documents = similarity.submitted_documents(course, ASSIGNMENT)
    matches = similarity.compare(ASSIGNMENT, documents, similarity.reference_documents(similarity.SOLUTIONS, ASSIGNMENT),
                                 similarity.starter_code(similarity.NOTEBOOKS, ASSIGNMENT))
    return codes, matches, similarity.write_similarity_report(course)


def test_the_disguised_copy_really_is_disguised(report):
    codes, _, _ = report
    assert "step_size" in codes["bob"] and "self.lr" not in codes["bob"]
    assert codes["bob"].index("def zero_grad") < codes["bob"].index("def step")


def test_copies_and_the_pasted_reference_are_flagged_and_independent_solutions_are_not(report):
    _, matches, _ = report
    pairs = {(m.left.label, m.right.label) for m in matches if not m.right.reference}
    assert pairs == {("alice", "bob")}
    close = {(m.left.label, m.right.label) for m in matches if m.right.reference}
    assert ("dave", "course_lib/adam.py") in close
    assert not {student for student, _ in close} & {"alice", "bob", "carol", "erin"}


def test_the_report_shows_both_sides_escaped_and_offline(report):
    _, _, path = report
    page = path.read_text()
    assert f'content="{report_html.CSP}"' in page
    assert "<b>alice</b>" in page and "<b>bob</b>" in page and "<mark>" in page
    assert "carol" not in page and "erin" not in page


def test_code_is_shown_as_text():
    code = "class A:\n    def f(self):\n        return '</pre><script>alert(1)</script>' * 3 + self.value\n" * 3
    left, right = similarity.Document("a<b>", code), similarity.Document("c", code)
    (match,) = similarity.compare(ASSIGNMENT, [left, right], [], "")
    html = similarity.match_html(match)
    assert "<script>" not in html and "a<b>" not in html and "&lt;script&gt;" in html and "<mark>" in html


def test_threshold_outside_zero_to_one_is_refused():
    with pytest.raises(ValueError, match="threshold must be between 0 and 1, got 1.5"):
        similarity.compare(ASSIGNMENT, [], [], "", threshold=1.5)
