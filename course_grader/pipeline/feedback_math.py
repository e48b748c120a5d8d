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
"""
from __future__ import annotations

import functools
import html
import re
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
_VALUE = re.compile(r"[\w .%#+-]{0,40}")

#: display formulas first, so that ``$$`` is never read as two ``$``
_MATH = re.compile(
    r"\$\$(?P<dd>.+?)\$\$"
    r"|\\\[(?P<db>.+?)\\\]"
    r"|(?P<env>\\begin\{(?P<name>[a-zA-Z]+\*?)\}.+?\\end\{(?P=name)\})"
    r"|\\\((?P<ip>.+?)\\\)"
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


def _replace(match: re.Match) -> str:
    display = match.lastgroup in ("dd", "db", "env", "name")
    tex = match.group("env") or match.group(match.lastgroup)
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
