"""Maths on the feedback page as MathML, rendered on the grading machine: no script, no network.

A feedback page loads nothing (its Content-Security-Policy forbids scripts and remote loads),
so MathJax cannot typeset it. Instead the TeX of markdown cells (``$...$``, ``$$...$$``,
``\\(...\\)``, ``\\[...\\]``, ``\\begin{env}...\\end{env}``) and of ``text/latex`` outputs is
converted here with ``latex2mathml`` (pure Python, pinned in requirements.txt) into MathML,
which browsers render natively (Chromium 109+, Firefox, Safari).

The TeX is a student's text, and latex2mathml passes some of it into attributes (``\\href``
gives ``href``, ``\\style`` gives ``style``). Its output is therefore parsed and rebuilt from an
allow-list (:data:`MATHML_TAGS`, :data:`MATHML_ATTRIBUTES`); other attributes are dropped, and
a formula holding any other element, or that latex2mathml cannot convert, stays as its
escaped TeX source. Conversion runs on HTML already cleaned by
:func:`~course_grader.pipeline.feedback_html.clean_html`, outside ``<pre>`` and ``<code>``.
Formulas are cached (the same ones recur in every student's page).

Conversion costs the grading process about 0.05 ms of CPU per character of TeX, outside every
budget of the submission, and a notebook may hold 20 MiB of markdown: without a bound, one page
of many distinct formulas would cost minutes. So a formula longer than
:data:`MAX_FORMULA_CHARS`, and every formula once a page has converted :data:`MAX_PAGE_TEX_CHARS`
characters of TeX (:func:`start_page` opens a page's budget), stays as its escaped source. The
course's own notebooks hold at most about 4,300 characters of TeX, none over 450 in one formula.
"""
from __future__ import annotations

import functools
import html
import re
import threading
import xml.etree.ElementTree as ET

from latex2mathml.converter import convert

MATHML_NS = "http://www.w3.org/1998/Math/MathML"
MATHML_TAGS = frozenset({
    "math", "mrow", "mi", "mn", "mo", "ms", "mtext", "mspace", "msup", "msub", "msubsup", "mfrac", "msqrt",
    "mroot", "mstyle", "mpadded", "mphantom", "menclose", "munder", "mover", "munderover", "mtable", "mtr",
    "mtd", "mmultiscripts", "mprescripts", "none", "merror",
})
MATHML_ATTRIBUTES = frozenset({
    "display", "mathvariant", "stretchy", "fence", "separator", "lspace", "rspace", "accent", "accentunder",
    "movablelimits", "columnalign", "rowalign", "columnspacing", "rowspacing", "columnlines", "rowlines",
    "frame", "framespacing", "width", "height", "depth", "minsize", "maxsize", "symmetric", "linethickness",
    "notation", "scriptlevel", "displaystyle", "mathsize", "largeop", "form", "align", "equalrows",
    "equalcolumns", "columnspan", "rowspan",
})
#: the longest formula converted; a longer one stays as its escaped TeX source
MAX_FORMULA_CHARS = 2_000
#: the TeX characters converted per page; past them, formulas stay as their escaped source
MAX_PAGE_TEX_CHARS = 20_000
_VALUE = re.compile(r"[\w .%#+-]{0,40}")

#: the LaTeX environments converted outside ``$$``: a fixed list, so that scanning stays linear
MATH_ENVIRONMENTS = ("align*", "align", "aligned", "equation*", "equation", "gather*", "gather", "split",
                     "cases", "array", "matrix", "pmatrix", "bmatrix", "Bmatrix", "vmatrix", "Vmatrix",
                     "smallmatrix")
#: display formulas first, so that ``$$`` is never read as two ``$``. A formula holds no opening
#: delimiter of its own kind (``\[`` inside ``\[...\]``): each delimiter's scan then stops at
#: the next opening one, so the scan is linear in the page (an unclosed ``\[`` repeated 40,000
#: times cost minutes when every one of them scanned to the end of the text)
_MATH = re.compile(
    r"\$\$(?P<dd>(?:(?!\$\$).)+?)\$\$"
    r"|\\\[(?P<db>(?:(?!\\\[).)+?)\\\]"
    r"|(?P<env>\\begin\{(?P<name>" + "|".join(re.escape(name) for name in MATH_ENVIRONMENTS) + r")\}"
    r"(?:(?!\\begin\{(?P=name)\}).)+?\\end\{(?P=name)\})"
    r"|\\\((?P<ip>(?:(?!\\\().)+?)\\\)"
    r"|(?<![\\$\w])\$(?=\S)(?P<id>[^$<]+?)(?<=\S)\$(?![\w$])",
    re.DOTALL)
_BARE_AMPERSAND = re.compile(r"&(?!#?\w+;)")
_CODE = re.compile(r"(<(pre|code)\b.*?</\2\s*>)", re.DOTALL | re.IGNORECASE)


@functools.lru_cache(maxsize=4096)
def tex_to_mathml(tex: str, display: bool) -> str | None:
    """``<math>`` markup of a TeX formula, rebuilt from the allow-list; None if it cannot be."""
    tex = tex.replace("{aligned}", "{align*}")  # the same layout; latex2mathml knows only the latter
    try:
        markup = convert(tex, display="block" if display else "inline")
        root = ET.fromstring(_BARE_AMPERSAND.sub("&amp;", markup))
    except Exception:  # noqa: BLE001 - latex2mathml raises many kinds on TeX it does not know
        return None
    for element in root.iter():
        tag = element.tag.rpartition("}")[2]
        if tag not in MATHML_TAGS:
            return None
        element.tag = tag
        for name in list(element.attrib):
            if name not in MATHML_ATTRIBUTES or not _VALUE.fullmatch(element.attrib[name]):
                del element.attrib[name]
    root.set("xmlns", MATHML_NS)
    return ET.tostring(root, encoding="unicode", short_empty_elements=False)


class _PageBudget(threading.local):
    """TeX characters the page being rendered in this thread may still convert."""

    left = MAX_PAGE_TEX_CHARS


_budget = _PageBudget()


def start_page() -> None:
    """Open a fresh page's budget of :data:`MAX_PAGE_TEX_CHARS` (before rendering a page)."""
    _budget.left = MAX_PAGE_TEX_CHARS


def _spend(tex: str) -> bool:
    """Whether ``tex`` may be converted (within both limits); counts it against the page's budget."""
    if len(tex) > MAX_FORMULA_CHARS or len(tex) > _budget.left:
        return False
    _budget.left -= len(tex)
    return True


def _replace(match: re.Match) -> str:
    display = match.lastgroup in ("dd", "db", "env", "name")
    tex = match.group("env") or match.group(match.lastgroup)
    if not _spend(tex):
        return match.group(0)
    mathml = tex_to_mathml(html.unescape(tex).strip(), display)
    return match.group(0) if mathml is None else mathml


def render_math(cleaned_html: str) -> str:
    """``cleaned_html`` with its formulas (outside ``<pre>``/``<code>``) as MathML."""
    parts = _CODE.split(str(cleaned_html))
    out = []
    index = 0
    while index < len(parts):
        out.append(_MATH.sub(_replace, parts[index]))
        if index + 1 < len(parts):
            out.append(parts[index + 1])  # a <pre> or <code> element, as it is
        index += 3
    return "".join(out)


def latex_output(tex: str) -> str:
    """A ``text/latex`` output as HTML: escaped, its formulas as MathML."""
    return render_math(html.escape(str(tex), quote=False))
