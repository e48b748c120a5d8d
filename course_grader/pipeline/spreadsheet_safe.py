"""CSV cells that a spreadsheet opens as text, never as a formula (OWASP "CSV Injection").

Excel, LibreOffice and Google Sheets evaluate a cell that starts with ``=``, ``+``, ``-`` or
``@`` as a formula (and a leading tab or carriage return can hide such a start), so a student
id like ``=HYPERLINK(...)`` or ``@SUM(1+1)*cmd|' -c calc'!A0`` in ``grades.csv`` would run in
the instructor's spreadsheet. OWASP's advice: prefix such a cell with a single quote, which
the spreadsheet shows as text. A plain number (``-1.5``, ``0.0``, ``1e-3``) is left as it is,
so that scores stay numbers; ``+1`` is not one (no writer of the course puts a ``+`` in front of
a number), so it gets its quote.

Every CSV the course writes goes through :func:`safe_cell` / :func:`safe_row`.
"""
from __future__ import annotations

import re
from typing import Any, Mapping

#: first characters a spreadsheet may read as the start of a formula
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
#: a decimal number as Python and nbgrader write one; a leading ``+`` is not (``+1`` is a formula)
_PLAIN_NUMBER = re.compile(r"-?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def is_plain_number(text: str) -> bool:
    """Whether ``text`` is a decimal number and nothing else (no spaces, no formula)."""
    return bool(_PLAIN_NUMBER.fullmatch(text))


def safe_cell(value: Any) -> Any:
    """``value`` with a ``'`` in front if it is text a spreadsheet would read as a formula.

    Numbers (and text that is exactly a number) and ``None`` come back unchanged.
    """
    if value is None or isinstance(value, (int, float)):
        return value
    text = str(value)
    if text.startswith(FORMULA_STARTS) and not is_plain_number(text):
        return "'" + text
    return text


def safe_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """A CSV row (``csv.DictWriter``) with every cell passed through :func:`safe_cell`."""
    return {key: safe_cell(value) for key, value in row.items()}
