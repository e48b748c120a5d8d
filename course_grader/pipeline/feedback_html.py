"""Feedback pages that are safe to open: no student HTML runs a script in a reader's browser.

A feedback page shows what a student's notebook produced, and students control all of it:
markdown cells (raw HTML passes through markdown), ``text/html`` / ``text/markdown`` /
``image/svg+xml`` / ``application/javascript`` outputs, widget state in the notebook
metadata, raw cells, cell attachments. The page is built in three layers:

1. :class:`~course_grader.pipeline.preprocessors.SanitizeFeedback` keeps only the output
   types the page renders safely (plain text, LaTeX, PNG/JPEG as checked base64, HTML and
   markdown, both cleaned below), drops the notebook metadata but the kernel's, cell
   attachments and non-course cell metadata;
2. nbconvert's own sanitising (``HTMLExporter.sanitize_html``): outputs go through the
   ``clean_html`` filter, JavaScript and widget outputs are not emitted;
3. the course's template (``templates/course_feedback``: nbgrader's feedback page) runs the
   rendered markdown cells through ``clean_html`` too.

``clean_html`` here is bleach's ``Cleaner`` (bleach is nbconvert's own sanitizer) with an
allow-list wide enough for the course's prose (headings, tables, images, code, links), no
``on*`` handler or ``style`` attribute, no ``<script>``, ``<iframe>``, ``<svg>``, ``<form>``
and links only to ``http``/``https``/``mailto`` or the page itself; images only as
PNG/JPEG/GIF/WebP ``data:`` URLs. What it refuses is shown escaped, as text.

The page loads nothing from the network, whatever a student put in it: an image with a
remote (or relative) ``src`` loses its ``src``; ``<link>``, ``<style>``, ``<script>``, ``srcset``,
``style`` and SVG outputs are not kept; the template loads no script or style sheet from a
CDN; and its Content-Security-Policy (``default-src 'none'``, images only from ``data:``,
the page's own inline styles) forbids any remote load a later change might let through.
Links (``<a href>``) to remote pages stay: they load nothing until a reader clicks them.
Formulas are MathML made on the grading machine (:mod:`course_grader.pipeline.feedback_math`:
MathJax would be a remote script).

Cost: a page is rendered by :class:`CourseHTMLExporter`, nbconvert's ``HTMLExporter`` with
three savings that change nothing on the page but the ``tabindex`` of the lab template's cells
(this template has none): compiled templates are kept in memory for the process's later pages
(a Jinja bytecode cache), highlighted code is cached by source (the instructor's cells recur in
every page), and the whole page is not parsed again with BeautifulSoup to add ``alt`` texts
(added with a regular expression on ``<img`` tags instead). ``bench/feedback_render.py`` measures it.
"""
from __future__ import annotations

import functools
import re
from pathlib import Path

import jinja2
import nbgrader
from bleach.sanitizer import Cleaner
from nbconvert.exporters import Exporter, HTMLExporter, TemplateExporter
from nbconvert.filters.highlight import Highlight2HTML
from nbconvert.filters.widgetsdatatypefilter import WidgetsDataTypeFilter
from nbgrader.converters import GenerateFeedback
from traitlets import Type
from traitlets.config import Config

from course_grader.pipeline.feedback_math import latex_output, render_math

TEMPLATES = Path(__file__).resolve().parent / "templates"
#: nbgrader's own templates (the ``feedback`` page the course's template extends)
NBGRADER_TEMPLATES = Path(nbgrader.__file__).resolve().parent / "server_extensions" / "formgrader" / "templates"
TEMPLATE_NAME = "course_feedback"

ALLOWED_TAGS = frozenset({
    "a", "abbr", "b", "blockquote", "br", "caption", "cite", "code", "col", "colgroup", "dd", "del",
    "details", "dfn", "div", "dl", "dt", "em", "figcaption", "figure", "h1", "h2", "h3", "h4", "h5", "h6",
    "hr", "i", "img", "ins", "kbd", "li", "mark", "ol", "p", "pre", "q", "s", "samp", "small", "span",
    "strike", "strong", "sub", "summary", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr",
    "u", "ul", "var",
})
_COMMON_ATTRIBUTES = {"class", "id", "title", "align", "lang", "dir"}
_TAG_ATTRIBUTES = {
    "a": {"href", "name", "rel", "target"},
    "img": {"src", "alt", "width", "height"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan", "scope"},
    "col": {"span"},
    "colgroup": {"span"},
    "ol": {"start", "type"},
    "details": {"open"},
}
_SAFE_LINK = re.compile(r"^(https?://|mailto:|#|[^:/?#]*([/?#]|$))", re.IGNORECASE)
#: the only images a page may show: inline PNG/JPEG/GIF/WebP. A remote image (``http(s)://``, ``//host``) is
#: a tracking pixel that tells its owner when and from where the page was opened; a relative one
#: loads from wherever the page is served.
_SAFE_IMAGE = re.compile(r"^data:image/(png|jpeg|gif|webp);base64,[A-Za-z0-9+/=\s]*$", re.IGNORECASE)


def _attribute_allowed(tag: str, name: str, value: str) -> bool:
    if name not in _COMMON_ATTRIBUTES and name not in _TAG_ATTRIBUTES.get(tag, ()):
        return False
    if name == "href":
        return bool(_SAFE_LINK.match(value.strip()))
    if name == "src":
        return bool(_SAFE_IMAGE.match(value.strip()))
    if name == "target":
        return value == "_blank"
    return True


CLEANER = Cleaner(
    tags=ALLOWED_TAGS,
    attributes=_attribute_allowed,
    protocols={"http", "https", "mailto", "data"},
    strip=False,
    strip_comments=True,
)


def clean_html(html: str | bytes) -> str:
    """``html`` with every element, attribute and URL not on the allow-list escaped or removed."""
    text = html.decode("utf-8", errors="replace") if isinstance(html, bytes) else str(html)
    return CLEANER.clean(text)


def configure(c: Config) -> None:
    """Point nbgrader's feedback export at the course's template with sanitising on."""
    c.HTMLExporter.template_name = TEMPLATE_NAME
    c.HTMLExporter.extra_template_basedirs = [str(TEMPLATES), str(NBGRADER_TEMPLATES)]
    c.HTMLExporter.sanitize_html = True
    c.HTMLExporter.filters = {"clean_html": clean_html, "render_math": render_math, "latex_output": latex_output}


class _MemoryBytecodeCache(jinja2.BytecodeCache):
    """Compiled templates, kept for the process (Jinja checks each against its source's checksum)."""

    def __init__(self) -> None:
        self._store: dict[str, bytes] = {}

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        if bucket.key in self._store:
            bucket.bytecode_from_string(self._store[bucket.key])

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        self._store[bucket.key] = bucket.bytecode_to_string()


_TEMPLATE_CACHE = _MemoryBytecodeCache()
_HIGHLIGHT = Highlight2HTML(pygments_lexer="ipython3")
_IMG_WITHOUT_ALT = re.compile(r"<img(?![^>]*\balt=)", re.IGNORECASE)
NO_ALT = "No description has been provided for this image"


@functools.lru_cache(maxsize=8192)
def _highlighted(source: str, language: str | None) -> str:
    return _HIGHLIGHT(source, language)


def highlight_code(source: str, language: str | None = None, metadata: dict | None = None) -> str:
    """nbconvert's ``highlight_code`` filter (pygments, the notebook's lexer), cached by source."""
    if metadata and metadata.get("magics_language"):
        return _HIGHLIGHT(source, language, metadata)
    return _highlighted(source, language)


class CourseHTMLExporter(HTMLExporter):
    """``HTMLExporter`` with compiled templates and highlighted code cached, and no second parse
    of the page (see the module's docstring)."""

    def _create_environment(self) -> jinja2.Environment:
        environment = super()._create_environment()
        environment.bytecode_cache = _TEMPLATE_CACHE
        return environment

    def from_notebook_node(self, nb, resources=None, **kw):  # noqa: ANN001 - nbconvert's signature
        resources = self._init_resources(resources)
        self.register_filter("highlight_code", self.filters.get("highlight_code", highlight_code))
        self.register_filter("filter_data_type", WidgetsDataTypeFilter(
            notebook_metadata=self._nb_metadata, parent=self, resources=resources))
        page, resources = TemplateExporter.from_notebook_node(self, nb, resources, **kw)
        return _IMG_WITHOUT_ALT.sub(f'<img alt="{NO_ALT}"', page), resources


class SafeGenerateFeedback(GenerateFeedback):
    """nbgrader's ``GenerateFeedback`` that also finds nbgrader's own template by name.

    nbgrader replaces ``HTMLExporter.extra_template_paths`` (its CSS folder) when it starts;
    the course's template extends ``feedback/index.html.j2``, so nbgrader's template root is
    added to that list afterwards.
    """

    exporter_class = Type(CourseHTMLExporter, klass=Exporter).tag(config=True)

    def __init__(self, coursedir=None, **kwargs):
        super().__init__(coursedir=coursedir, **kwargs)
        c = Config()
        paths = list(self.config.HTMLExporter.get("extra_template_paths", []))
        c.HTMLExporter.extra_template_paths = paths + [str(NBGRADER_TEMPLATES)]
        self.update_config(c)

