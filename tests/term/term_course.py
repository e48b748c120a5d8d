"""A small course folder for the term commands' tests: ``<tmp>/graders`` with the course's own
``nbgrader_config.py``, released notebooks under ``<tmp>/notebooks`` and a roster; stub
notebooks that are never executed, or the repository's own assignments (``from_repo``) for the
tests that grade; and the LMS downloads built from notebooks."""
from __future__ import annotations

import csv
import io
import shutil
import stat
import zipfile
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[2]
ASSIGNMENTS = {"01_gradient_descent": "gradient_descent.ipynb", "02_adam": "adam.ipynb"}


def make_course(tmp: Path, roster: list[dict], from_repo: tuple[str, ...] = ()) -> Path:
    """``tmp/graders`` laid out like the repository's, with ``roster`` as its roster.csv: the
    stub assignments of ``ASSIGNMENTS``, or only the repository's assignments ``from_repo``
    (their ``solutions/`` and ``notebooks/`` folders copied)."""
    graders = tmp / "graders"
    graders.mkdir(parents=True)
    shutil.copy(REPO / "graders" / "nbgrader_config.py", graders / "nbgrader_config.py")
    for assignment in from_repo:
        for top in ("notebooks", "solutions"):
            shutil.copytree(REPO / top / assignment, tmp / top / assignment)
    for assignment, notebook in ({} if from_repo else ASSIGNMENTS).items():
        for top in ("notebooks", "solutions"):
            (tmp / top / assignment).mkdir(parents=True)
            (tmp / top / assignment / notebook).write_text("{}")
    write_roster(graders / "roster.csv", roster)
    return graders


def write_roster(path: Path, rows: list[dict]) -> None:
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["student_id", "name", "email", "lms_id", "section"])
        writer.writeheader()
        writer.writerows(rows)


def make_zip(path: Path, files: dict[str, bytes | nbformat.NotebookNode],
             links: dict[str, str] | None = None) -> Path:
    """A zip with ``files`` (name -> bytes, or a notebook written as nbformat writes it) and
    symbolic links (name -> target)."""
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in files.items():
            if isinstance(data, nbformat.NotebookNode):
                buffer = io.StringIO()
                nbformat.write(data, buffer)
                data = buffer.getvalue().encode()
            archive.writestr(name, data)
        for name, target in (links or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, target)
    return path


def tree(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (relative POSIX path -> bytes)."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
