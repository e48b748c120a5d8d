"""Code similarity between submissions, and with the course's own reference: for a person to look at.

For each assignment, every submission's *code* is its solution cells and the code cells the
student added (:func:`course_grader.pipeline.isolation.graded_sources`, what the judge runs).
The release's starter code (``notebooks/<assignment>/*.ipynb``, every code cell) is boilerplate:
what every student was given counts for nothing.

The comparison is copydetect's (Stanford MOSS's winnowing, Schleimer, Wilkerson and Aiken, 2003):
the code is tokenised with Pygments and every name, function name and string is replaced by one
letter (renaming variables changes nothing), its ``k``-grams are hashed and winnowed to a set of
fingerprints (their order does not matter: reordering methods changes little), the starter code's
fingerprints are removed, and the *similarity* of a document to another is the share of its
remaining tokens covered by fingerprints they share (``copydetect.compare_files``).

Listed, each with the two codes side by side and the shared parts highlighted:

- pairs of submissions whose similarity (the larger of the two shares) is at least ``threshold``;
- submissions whose share in common with a reference is at least ``threshold``: the references are
  the solution cells of ``solutions/<assignment>/*.ipynb`` and the ``course_lib`` modules that
  define a unit the assignment grades (``class Name`` / ``def name`` of its solution cells).

Nothing is decided: similar code is also what a short, formulaic exercise produces. The page is
safe to open (:mod:`course_grader.review.report_html`: CSP, everything escaped).
"""
from __future__ import annotations

import io
import itertools
import json
import re
from dataclasses import dataclass
from pathlib import Path

import nbformat
import numpy as np
from copydetect import CodeFingerprint, compare_files
from copydetect.utils import highlight_overlap

from course_grader.pipeline import isolation
from course_grader.pipeline.course import Course
from course_grader.review import report_html
from course_grader.sandbox import safefs

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "notebooks"
SOLUTIONS = REPO / "solutions"
COURSE_LIB = REPO / "course_lib"
#: copydetect's defaults: k-grams of 25 filtered characters, winnowing guarantee 30 (window 6)
NOISE, GUARANTEE = 25, 30
DEFAULT_THRESHOLD = 0.6
#: the largest submitted notebook read (the grading default, ``Settings.max_notebook_mb``)
MAX_NOTEBOOK_BYTES = 20 * 2**20
_UNIT = re.compile(r"^(?:class|def)\s+([A-Za-z_]\w*)", re.MULTILINE)
_MARKER = re.compile(r"^\s*###\s*(BEGIN|END) SOLUTION\s*$", re.MULTILINE)


@dataclass(frozen=True)
class Document:
    """Code to compare: a student's (``label`` is the student id) or a reference's (its path)."""

    label: str
    code: str
    reference: bool = False


@dataclass(frozen=True)
class Match:
    """Two documents of an assignment and how much of each the other covers."""

    assignment: str
    left: Document
    right: Document
    shares: tuple[float, float]
    slices: tuple[np.ndarray, np.ndarray]

    @property
    def similarity(self) -> float:
        """For two submissions the larger share; against a reference, the submission's share."""
        return self.shares[0] if self.right.reference else max(self.shares)


def _fingerprint(code: str, boilerplate: np.ndarray | list) -> CodeFingerprint:
    return CodeFingerprint("code.py", NOISE, GUARANTEE - NOISE + 1, boilerplate=boilerplate, fp=io.StringIO(code))


def boilerplate_hashes(starter: str) -> np.ndarray:
    """The fingerprints of the starter code (every window kept, as copydetect does for boilerplate)."""
    return np.array(list(CodeFingerprint("starter.py", NOISE, 1, fp=io.StringIO(starter)).hashes))


def compare(assignment: str, submissions: list[Document], references: list[Document], starter: str,
            threshold: float = DEFAULT_THRESHOLD) -> list[Match]:
    """The pairs at or above ``threshold`` (0 to 1), most similar first; references on the right."""
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be between 0 and 1, got {threshold!r}")
    boilerplate = boilerplate_hashes(starter)
    prints = {id(d): _fingerprint(d.code, boilerplate) for d in submissions + references}
    candidates = list(itertools.combinations(submissions, 2)) + list(itertools.product(submissions, references))
    found = []
    for left, right in candidates:
        _, shares, slices = compare_files(prints[id(left)], prints[id(right)])
        match = Match(assignment, left, right, (float(shares[0]), float(shares[1])), slices)
        if len(slices[0]) and match.similarity >= threshold:
            found.append(match)
    return sorted(found, key=lambda m: (-m.similarity, m.left.label, m.right.label))


def notebook_code(nb) -> str:
    """The solution cells and the cells a student added, in notebook order."""
    sources, _ = isolation.graded_sources(nb)
    return "\n\n".join(sources)


def starter_code(notebooks: Path, assignment: str) -> str:
    """Every code cell of the release of ``assignment``."""
    cells = []
    for path in sorted((notebooks / assignment).glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        cells += [c.source for c in nb.cells if c.cell_type == "code"]
    return "\n\n".join(cells)


def reference_documents(solutions: Path, assignment: str, course_lib: Path = COURSE_LIB) -> list[Document]:
    """The solution cells of the assignment's sources, and the course_lib modules defining its units."""
    found, units = [], set()
    for path in sorted((solutions / assignment).glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        code = "\n\n".join(_MARKER.sub("", c.source) for c in nb.cells
                           if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution") is True)
        units |= set(_UNIT.findall(code))
        found.append(Document(f"solutions/{assignment}/{path.name}", code, reference=True))
    for module in sorted(course_lib.glob("*.py")):
        text = module.read_text(encoding="utf-8")
        if units & set(_UNIT.findall(text)):
            found.append(Document(f"course_lib/{module.name}", text, reference=True))
    return found


def submitted_documents(course: Course, assignment: str) -> list[Document]:
    """Every readable submitted notebook of ``assignment`` (links and special files are not read)."""
    found = []
    for student, name in course.submissions():
        if name != assignment:
            continue
        folder = course.submitted / student / assignment
        codes = []
        for entry in safefs.entries(folder):
            if entry.name.endswith(".ipynb") and not entry.name.startswith("."):
                try:
                    data = safefs.read_regular(folder / entry.name, MAX_NOTEBOOK_BYTES)
                    codes.append(notebook_code(nbformat.reads(data.decode("utf-8"), as_version=4)))
                except (OSError, ValueError, safefs.UnsafeEntry, json.JSONDecodeError):
                    continue
        if codes:
            found.append(Document(student, "\n\n".join(codes)))
    return found


def _side(doc: Document, slices: np.ndarray) -> str:
    if len(slices) and slices.shape[1]:
        marked, _ = highlight_overlap(doc.code, slices, "<mark>", "</mark>", escape_html=True)
    else:
        marked = report_html.esc(doc.code)
    return f"<td><b>{report_html.esc(doc.label)}</b><pre>{marked}</pre></td>"


def match_html(match: Match) -> str:
    """One pair side by side, shared code highlighted (every code character escaped)."""
    left, right = match.shares
    return (f"<h3>{report_html.esc(match.left.label)} / {report_html.esc(match.right.label)}: "
            f"{100 * match.similarity:.0f}%</h3><p>{100 * left:.0f}% of {report_html.esc(match.left.label)} "
            f"is shared, {100 * right:.0f}% of {report_html.esc(match.right.label)}.</p>"
            f"<table class=\"pair\"><tr>{_side(match.left, match.slices[0])}{_side(match.right, match.slices[1])}"
            "</tr></table>")


def similarity_page(course_id: str, matches: dict[str, list[Match]], threshold: float) -> str:
    """The report: per assignment, the similar pairs, then the submissions close to a reference."""
    parts = [f"<h1>Code similarity: {report_html.esc(course_id)}</h1>",
             (f"<p>Pairs whose similarity is at least {100 * threshold:.0f}% (copydetect; starter code removed). "
              "Similar code is not proof of anything: read both sides before deciding.</p>")]
    for assignment, found in matches.items():
        pairs = [m for m in found if not m.right.reference]
        close = [m for m in found if m.right.reference]
        parts.append(f"<h2>{report_html.esc(assignment)}</h2>")
        parts.append(f"<p>{len(pairs)} similar pair(s) of submissions; {len(close)} submission(s) close to "
                     "the course's reference.</p>")
        parts += [match_html(m) for m in pairs]
        if close:
            parts.append("<h3>Close to the reference</h3>")
            parts += [match_html(m) for m in close]
    return report_html.page(f"{course_id}: code similarity", "\n".join(parts))


def write_similarity_report(course: Course, out: Path | None = None, threshold: float = DEFAULT_THRESHOLD,
                            notebooks: Path = NOTEBOOKS, solutions: Path = SOLUTIONS) -> Path:
    """Compare every assignment's submissions; write ``<out>/similarity.html`` (default
    ``<course>/reports``) and return its path."""
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be between 0 and 1, got {threshold!r}")
    out = Path(out) if out is not None else course.root / "reports"
    out.mkdir(parents=True, exist_ok=True)
    assignments = sorted({a for _, a in course.submissions()})
    matches = {a: compare(a, submitted_documents(course, a), reference_documents(solutions, a),
                          starter_code(notebooks, a), threshold) for a in assignments}
    path = out / "similarity.html"
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(similarity_page(course.course_id, matches, threshold), encoding="utf-8")
    tmp.replace(path)
    return path
