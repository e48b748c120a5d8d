"""File access for folders a student controls: look with ``lstat``, never follow a link.

Everything under ``submitted/`` and every folder a sandbox could write is the student's:
it may hold symbolic links (to the solutions, the gradebook, ``/proc/self/mem``, a
classmate's notebook), device files, FIFOs, sockets and file names that are not UTF-8, hold
a newline or are very long. The grading process runs as root, so following any of them
would read, copy or chmod a file the student could not reach. The functions here

- list a folder with ``lstat`` (``os.scandir`` without following) and say what each entry is;
- read or copy a regular file only, opened with ``O_NOFOLLOW | O_NONBLOCK`` and checked
  again with ``fstat`` after opening (so a swap between the look and the open is caught),
  up to a byte limit;
- walk a tree relative to directory descriptors (``dir_fd``), never through a link, to
  hash it or to count what a sandbox wrote;
- remove a tree without following links, whatever permissions a sandbox left on it.
"""
from __future__ import annotations

import errno
import hashlib
import os
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path

#: what an entry that is not a regular file or a directory is, in words
KINDS = {
    stat.S_IFLNK: "a symbolic link",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFIFO: "a FIFO",
    stat.S_IFSOCK: "a socket",
    stat.S_IFDIR: "a folder",
    stat.S_IFREG: "a file",
}
_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class UnsafeEntry(Exception):
    """A path that trusted code must not read: not a regular file, or larger than allowed."""

    def __init__(self, name: str, why: str) -> None:
        super().__init__(f"{shown(name)} is {why}")
        self.name = name
        self.why = why


@dataclass(frozen=True)
class Entry:
    """One entry of a folder, as ``lstat`` sees it."""

    name: str  # as Python decodes it (undecodable bytes as surrogate escapes)
    mode: int
    size: int

    @property
    def is_file(self) -> bool:
        return stat.S_ISREG(self.mode)

    @property
    def is_dir(self) -> bool:
        return stat.S_ISDIR(self.mode)

    @property
    def kind(self) -> str:
        return kind(self.mode)


def kind(mode: int) -> str:
    """``'a symbolic link'``, ``'a FIFO'``, ... for an ``st_mode``."""
    return KINDS.get(stat.S_IFMT(mode), "a special file")


def shown(name: str | bytes, limit: int = 60) -> str:
    """A printable, UTF-8-safe form of a file name for reports (escapes, cut to ``limit``)."""
    raw = name if isinstance(name, bytes) else os.fsencode(name)
    text = raw.decode("utf-8", errors="backslashreplace")
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def odd_name(name: str, max_bytes: int = 255) -> str | None:
    """Why a file name is refused (not UTF-8, control characters, too long), or None."""
    try:
        encoded = name.encode("utf-8")
    except UnicodeEncodeError:
        return "not valid UTF-8"
    if any(not c.isprintable() for c in name):
        return "a name with control characters (newline, tab, ...)"
    if len(encoded) > max_bytes:
        return f"a name longer than {max_bytes} bytes"
    return None


def entries(folder: Path) -> list[Entry]:
    """The entries of ``folder`` (not recursive), by ``lstat``; [] when it cannot be listed."""
    found = []
    try:
        with os.scandir(folder) as iterator:
            for item in iterator:
                try:
                    st = item.stat(follow_symlinks=False)
                except OSError:
                    continue
                found.append(Entry(item.name, st.st_mode, st.st_size))
    except OSError:
        return []
    return sorted(found, key=lambda e: os.fsencode(e.name))


def is_real_dir(path: Path) -> bool:
    """A directory, not a link to one."""
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


def _open_regular(path: Path | str, max_bytes: int, dir_fd: int | None = None) -> tuple[int, int]:
    """Open a regular file without following a link; ``(fd, size)``."""
    name = os.fspath(path)
    try:
        fd = os.open(name, _OPEN_FLAGS, dir_fd=dir_fd)
    except OSError as error:
        if error.errno in (errno.ELOOP, errno.EMLINK):
            raise UnsafeEntry(name, "a symbolic link") from None
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UnsafeEntry(name, kind(st.st_mode))
        if st.st_size > max_bytes:
            raise UnsafeEntry(name, f"larger than {max_bytes} bytes ({st.st_size} bytes)")
        os.set_blocking(fd, True)
        return fd, st.st_size
    except BaseException:
        os.close(fd)
        raise


def read_regular(path: Path | str, max_bytes: int) -> bytes:
    """The bytes of a regular file, refusing links, special files and files over ``max_bytes``.

    Raises:
        UnsafeEntry: not a regular file (link, device, FIFO, socket) or too large.
        OSError: it cannot be read.
    """
    fd, _ = _open_regular(path, max_bytes)
    with os.fdopen(fd, "rb") as fh:
        data = fh.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise UnsafeEntry(os.fspath(path), f"larger than {max_bytes} bytes")
    return data


def copy_regular(src: Path | str, dst: Path | str, max_bytes: int) -> int:
    """Copy a regular file to a new file ``dst`` (which must not exist); returns the bytes copied.

    Raises:
        UnsafeEntry: ``src`` is not a regular file or is larger than ``max_bytes``.
        OSError: either side fails (``dst`` exists, even as a link: ``O_EXCL``).
    """
    fd, _ = _open_regular(src, max_bytes)
    copied = 0
    with os.fdopen(fd, "rb") as fh:
        out = os.open(os.fspath(dst), os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        with os.fdopen(out, "wb") as target:
            while chunk := fh.read(1 << 20):
                copied += len(chunk)
                if copied > max_bytes:
                    raise UnsafeEntry(os.fspath(src), f"larger than {max_bytes} bytes")
                target.write(chunk)
    return copied



def write_new(path: Path | str, data: bytes, mode: int = 0o644) -> None:
    """Write ``data`` to a new file ``path`` (which must not exist, not even as a link: ``O_EXCL``).

    Raises:
        OSError: ``path`` exists or cannot be created.
    """
    fd = os.open(os.fspath(path), os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    with os.fdopen(fd, "wb") as target:
        target.write(data)

#: folders nested deeper than this are not walked into (hashing) or are over budget (usage)
MAX_DEPTH = 64


def hash_tree(path: Path, max_entries: int = 10_000, skip: tuple[str, ...] = ()) -> str:
    """SHA-256 over the names, kinds and contents of everything under ``path``, following nothing.

    Names are hashed as bytes (any name works); a regular file contributes its content, a link
    its target text (``readlink``, never what it points to), anything else its kind only.
    ``''`` when ``path`` is absent. At most ``max_entries`` entries and :data:`MAX_DEPTH`
    levels are looked at (a marker is hashed for what is left out).
    """
    digest = hashlib.sha256()
    try:
        top = os.open(os.fspath(path), _DIR_FLAGS)
    except OSError:
        try:  # a single regular file
            digest.update(read_regular(path, 1 << 30))
            return digest.hexdigest()
        except (OSError, UnsafeEntry):
            return ""
    budget = max_entries
    stack: list[tuple[int, bytes, int]] = [(top, b"", 0)]  # (directory fd, relative name, depth)
    try:
        while stack:
            dir_fd, prefix, depth = stack.pop()
            try:
                with os.scandir(dir_fd) as iterator:
                    items = sorted(iterator, key=lambda e: os.fsencode(e.name))
            except OSError:
                digest.update(prefix + b"\0unreadable")
                items = []
            for item in items:
                if item.name in skip:
                    continue
                budget -= 1
                if budget < 0:
                    digest.update(b"\0...too many entries")
                    break
                name = prefix + os.fsencode(item.name)
                try:
                    st = item.stat(follow_symlinks=False)
                except OSError:
                    continue
                digest.update(name + b"\0" + oct(stat.S_IFMT(st.st_mode)).encode() + b"\0")
                if stat.S_ISREG(st.st_mode):
                    try:
                        fd, _ = _open_regular(item.name, 1 << 31, dir_fd=dir_fd)
                    except (OSError, UnsafeEntry):
                        digest.update(b"unreadable")
                        continue
                    with os.fdopen(fd, "rb") as fh:
                        while chunk := fh.read(1 << 20):
                            digest.update(chunk)
                elif stat.S_ISLNK(st.st_mode):
                    digest.update(os.fsencode(os.readlink(item.name, dir_fd=dir_fd)))
                elif stat.S_ISDIR(st.st_mode):
                    if depth + 1 >= MAX_DEPTH:
                        digest.update(b"...too deep")
                        continue
                    try:
                        stack.append((os.open(item.name, _DIR_FLAGS, dir_fd=dir_fd), name + b"/", depth + 1))
                    except OSError:
                        continue
                digest.update(b"\0")
            if dir_fd != top:
                os.close(dir_fd)
            if budget < 0:
                break
    finally:
        for dir_fd, _, _ in stack:
            if dir_fd != top:
                os.close(dir_fd)
        os.close(top)
    return digest.hexdigest()


def usage(path: Path, max_files: int) -> tuple[int, int, str | None]:
    """What a sandbox stored under ``path``: ``(entries, bytes on disk, problem)``, following nothing.

    Stops counting past ``max_files`` entries. ``problem`` is set when the tree cannot be
    counted honestly: folders nested deeper than :data:`MAX_DEPTH`, or a folder made
    unreadable; the caller treats that as over budget.
    """
    try:
        top = os.open(os.fspath(path), _DIR_FLAGS)
    except FileNotFoundError:
        return 0, 0, None
    except OSError:
        return 0, 0, "its working folder was made unreadable"
    counts = [0, 0]
    stack: list[tuple[int, int]] = [(top, 0)]  # (open directory fd, depth)
    problem = None
    try:
        while stack and problem is None and counts[0] <= max_files:
            dir_fd, depth = stack.pop()
            try:
                problem = _count(dir_fd, depth, stack, max_files, counts)
            finally:
                os.close(dir_fd)
    finally:
        for dir_fd, _ in stack:
            os.close(dir_fd)
    return counts[0], counts[1], problem


def _count(dir_fd: int, depth: int, stack: list[tuple[int, int]], max_files: int, counts: list[int]) -> str | None:
    """Count one folder's entries into ``counts``; push its sub-folders (opened) on ``stack``."""
    try:
        with os.scandir(dir_fd) as iterator:
            items = list(iterator)
    except OSError:
        return "it made a folder unreadable"
    for item in items:
        counts[0] += 1
        if counts[0] > max_files:
            return None
        try:
            st = item.stat(follow_symlinks=False)
        except OSError:
            continue
        counts[1] += max(st.st_blocks * 512, st.st_size if stat.S_ISREG(st.st_mode) else 0)
        if stat.S_ISDIR(st.st_mode):
            if depth + 1 >= MAX_DEPTH:
                return f"it nested folders more than {MAX_DEPTH} levels deep"
            try:
                stack.append((os.open(item.name, _DIR_FLAGS, dir_fd=dir_fd), depth + 1))
            except FileNotFoundError:
                continue
            except OSError:
                return "it made a folder unreadable"
    return None


def remove_tree(path: Path) -> None:
    """Remove ``path`` and everything under it without following links, whatever its depth or modes.

    A link at ``path`` itself is removed, never what it points to. The tree is flattened as it
    goes: every sub-folder is moved (``renameat``) directly under ``path`` before it is emptied,
    so no walk goes deeper than one level (a tree nested thousands of levels deep costs neither
    recursion nor file descriptors). Folders a sandbox made unreadable get back their owner's
    rights first; no sandbox runs on the tree any more, so an entry ``lstat`` saw as a folder
    stays one.
    """
    path = Path(path)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(st.st_mode):
        os.unlink(path)
        return
    if not os.access(path, os.R_OK | os.W_OK | os.X_OK):
        os.chmod(path, 0o700)
    top = os.open(os.fspath(path), _DIR_FLAGS)
    counter = 0
    try:
        queue = [None]  # None: the top folder itself; else the name of a folder moved under it
        moved = []
        while queue:
            name = queue.pop()
            if name is None:
                dir_fd = top
            else:
                try:
                    os.chmod(name, 0o700, dir_fd=top)
                    dir_fd = os.open(name, _DIR_FLAGS, dir_fd=top)
                except OSError:
                    continue
            try:
                with os.scandir(dir_fd) as iterator:
                    items = [(e.name, e.is_dir(follow_symlinks=False)) for e in iterator]
                for item, is_dir in items:
                    try:
                        if is_dir:
                            counter += 1
                            flat = f".removing-{os.getpid()}-{counter}"
                            os.rename(item, flat, src_dir_fd=dir_fd, dst_dir_fd=top)
                            moved.append(flat)
                            queue.append(flat)
                        else:
                            os.unlink(item, dir_fd=dir_fd)
                    except FileNotFoundError:
                        continue
            finally:
                if dir_fd != top:
                    os.close(dir_fd)
        for flat in moved:
            os.rmdir(flat, dir_fd=top)
    finally:
        os.close(top)
    os.rmdir(path)


def fresh_dir(path: Path) -> Path:
    """An empty directory at ``path`` (whatever was there removed first, links not followed)."""
    remove_tree(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.mkdir(mode=0o755)
    return path
