"""A small course folder for the term commands' tests: ``<tmp>/graders`` with the course's own
``nbgrader_config.py``, released notebooks under ``<tmp>/notebooks`` and a roster; no notebook
is ever executed."""
from __future__ import annotations

import csv
import shutil
import stat
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ASSIGNMENTS = {"01_gradient_descent": "gradient_descent.ipynb", "02_adam": "adam.ipynb"}


def make_course(tmp: Path, roster: list[dict]) -> Path:
    """``tmp/graders`` laid out like the repository's, with ``roster`` as its roster.csv."""
    graders = tmp / "graders"
    graders.mkdir(parents=True)
    shutil.copy(REPO / "graders" / "nbgrader_config.py", graders / "nbgrader_config.py")
    for assignment, notebook in ASSIGNMENTS.items():
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


def make_zip(path: Path, files: dict[str, bytes], links: dict[str, str] | None = None) -> Path:
    """A zip with ``files`` (name -> bytes) and symbolic links (name -> target)."""
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
        for name, target in (links or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, target)
    return path


def tree(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (relative POSIX path -> bytes)."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
