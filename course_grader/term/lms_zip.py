"""Reading an LMS's submissions download (a zip) without trusting it.

Nothing is ever extracted by the names inside the zip: :func:`read_entries` only lists the
regular files, and :func:`read_member` reads one of them into memory, at most ``max_bytes``
bytes whatever its header claims. The caller writes what it keeps under names of its own
(the roster's student id, the released notebook name), so an entry named ``../../x`` or
``/etc/x`` cannot land outside the target folder ("zip slip"); such entries, links, folders
with odd names and oversized files are refused with a reason instead.

Limits (a zip over them is refused as a whole): at most ``MAX_ENTRIES`` entries, and the sizes
its headers declare add up to at most ``MAX_TOTAL_BYTES``.
"""
from __future__ import annotations

import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

MAX_ENTRIES = 20_000
MAX_TOTAL_BYTES = 4 * 1024**3
#: a notebook larger than this (bytes) is not collected (the grader refuses such files too)
DEFAULT_MAX_FILE_BYTES = 20 * 1024**2


@dataclass(frozen=True)
class Entry:
    """A regular file of the zip: its name inside the zip (POSIX path) and declared size."""

    name: str
    size: int


@dataclass(frozen=True)
class Refused:
    """A zip entry that is not read, and why."""

    name: str
    why: str


def _entry_problem(info: zipfile.ZipInfo, max_bytes: int) -> str | None:
    name = info.filename
    kind = stat.S_IFMT(info.external_attr >> 16)  # 0: no Unix file type recorded (a plain file)
    if kind == stat.S_IFLNK:
        return "a symbolic link: not followed"
    if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
        return "not a regular file"
    if name.startswith("/") or "\\" in name or (len(name) > 1 and name[1] == ":"):
        return "an absolute or Windows path: refused"
    parts = PurePosixPath(name).parts
    if ".." in parts:
        return "a path leaving the folder ('..'): refused"
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        return "a name with control characters: refused"
    if info.flag_bits & 0x1:
        return "encrypted: refused"
    if info.file_size > max_bytes:
        return f"{info.file_size} bytes, over the limit of {max_bytes}: refused"
    return None


def read_entries(zip_path: str | Path, max_bytes: int = DEFAULT_MAX_FILE_BYTES
                 ) -> tuple[list[Entry], list[Refused]]:
    """The regular files of ``zip_path`` that may be read, and the entries refused (with why).

    Raises:
        ValueError: ``zip_path`` is not a zip file, or it is over the limits (module docstring).
    """
    try:
        archive = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError) as error:
        raise ValueError(f"zip={str(zip_path)!r} cannot be read as a zip file: {error}") from None
    with archive:
        infos = archive.infolist()
        if len(infos) > MAX_ENTRIES:
            raise ValueError(f"zip={str(zip_path)!r} has {len(infos)} entries, over the limit of {MAX_ENTRIES}")
        total = sum(i.file_size for i in infos)
        if total > MAX_TOTAL_BYTES:
            raise ValueError(f"zip={str(zip_path)!r} unpacks to {total} bytes, over the limit of {MAX_TOTAL_BYTES}")
        entries, refused = [], []
        for info in infos:
            if info.is_dir():
                continue
            problem = _entry_problem(info, max_bytes)
            if problem:
                refused.append(Refused(info.filename, problem))
            else:
                entries.append(Entry(info.filename, info.file_size))
        return entries, refused


def read_member(zip_path: str | Path, name: str, max_bytes: int = DEFAULT_MAX_FILE_BYTES) -> bytes:
    """The bytes of entry ``name``; ValueError if it unpacks to more than ``max_bytes``
    (the header is not trusted: reading stops after ``max_bytes + 1`` bytes)."""
    with zipfile.ZipFile(zip_path) as archive, archive.open(name) as fh:
        data = fh.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ValueError(f"{name!r} unpacks to more than {max_bytes} bytes: refused")
    return data


@dataclass(frozen=True)
class Upload:
    """One file of a submissions download, as its LMS named it.

    Attributes:
        entry: the entry's name inside the zip.
        lms_id: the submitter's id in the LMS (Canvas user id, Moodle participant id).
        lms_name: the submitter's name as the LMS wrote it.
        filename: the name the student gave the file (for Moodle, the path inside the
            student's folder).
        late: True where the LMS marks the file late (Canvas), else False.
    """

    entry: str
    lms_id: str
    lms_name: str
    filename: str
    late: bool = False
