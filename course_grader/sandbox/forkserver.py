"""Fork servers: heavy imports done once, a fresh and unprivileged process for every submission.

Run inside the grading sandbox by :mod:`course_grader.sandbox.warm_pool`: as
``python -I -m course_grader.sandbox.forkserver`` for the judge's workers (with the stubs of
one exercise's forbidden implementations mounted, :mod:`course_lib.checks.forbidden`),
or through :mod:`course_grader.sandbox.kernel_server` for notebook kernels. The server
imports what every process it starts would import (torch, numpy: about a second of CPU),
then waits on its control socket (fd 0, ``SOCK_SEQPACKET``). It never runs a student's
code; it only forks.

``{"op": "start", "workdir": path, "uid": n | null, "tmp_mb": n, ...}`` with three file
descriptors (the worker's stdin, stdout and stderr, passed with ``SCM_RIGHTS``) starts one
worker:

1. **fork** (``C1``, in the server's namespaces): new mount, IPC and PID namespaces, all
   mounts private, a fresh ``tmpfs`` on ``/tmp`` and ``/dev/shm`` (nothing a worker leaves
   there, and no System V IPC object, is seen by the next one) and, with ``"hide": folder``,
   an empty one over that folder too, except the worker's own ``workdir`` inside it (kept
   through a bind on ``"stage"`` and moved back in place).
2. **fork** (``C2``): PID 1 of the new PID namespace, with its own ``/proc``. It only
   reaps; when it exits the kernel kills everything left in the namespace.
3. **fork** (``C3``, PID 2): a session of its own; every privilege dropped before it touches
   student data (as root: no groups and the fresh user and group ID ``uid``, so that no
   other worker shares its process count or its files; otherwise: no capabilities), then
   ``no_new_privs``, checked; the three descriptors become its stdio and it runs the
   server's ``run(request)``: :func:`course_grader.judge.worker.main` here, exactly as a
   cold worker would, or an ipykernel.

Each process dies with its parent (``PR_SET_PDEATHSIG``). ``C1`` exits with the worker's
status as bubblewrap reports a cold one (``128 + signal`` when it was killed), and the
server answers ``{"op": "exit", "pid": pid, "code": code}``. ``{"op": "kill", "pid": pid}``
kills a worker and all its descendants (``C1`` kills the namespace's init and exits once
the namespace is empty); with ``"hard": true`` it kills ``C1`` itself.
"""

from __future__ import annotations

import ctypes
import json
import os
import random
import select
import signal
import socket
import sys
import traceback
from typing import Callable


CLONE_NEWNS = 0x00020000
CLONE_NEWIPC = 0x08000000
CLONE_NEWPID = 0x20000000
MS_NOSUID, MS_NODEV, MS_NOEXEC = 2, 4, 8
MS_BIND, MS_MOVE, MS_REC, MS_PRIVATE = 0x1000, 0x2000, 0x4000, 0x40000
PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS = 1, 38
CAPABILITY_VERSION_3 = 0x20080522
CONTROL_FD = 0  # where the trusted side passes the control socket
MAX_MESSAGE = 65536
FAILED_SETUP = 70  # exit status of a worker whose isolation could not be set up

_libc = ctypes.CDLL(None, use_errno=True)


def _call(result: int, what: str) -> None:
    if result != 0:
        number = ctypes.get_errno()
        raise OSError(number, f"{what}: {os.strerror(number)}")


def _mount(source: str, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    _call(_libc.mount(source.encode(), target.encode(), fstype.encode() if fstype else None,
                      ctypes.c_ulong(flags), data.encode() if data else None), f"mount {target}")


def _die_with_parent() -> None:
    _call(_libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "prctl(PR_SET_PDEATHSIG)")


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def _drop_capabilities() -> None:
    """Empty the effective, permitted and inheritable sets (the ambient set goes with them)."""
    header = _CapHeader(CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    _call(_libc.capset(ctypes.byref(header), data), "capset")


def _capabilities_left() -> list[str]:
    """The non-empty capability sets of this process, from ``/proc/self/status``."""
    left = []
    with open("/proc/self/status") as status:
        for line in status:
            key, _, value = line.partition(":")
            if key in ("CapInh", "CapPrm", "CapEff", "CapAmb") and int(value, 16) != 0:
                left.append(key)
    return left


def _become_unprivileged(uid: int | None) -> None:
    """Drop to ``uid`` (as root) or drop all capabilities, then refuse to regain any."""
    if uid is not None:
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)  # from 0 to a fresh ID: every capability set is cleared
    _drop_capabilities()
    _call(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(PR_SET_NO_NEW_PRIVS)")
    left = _capabilities_left()
    if left or os.getuid() == 0 or os.geteuid() == 0:
        raise PermissionError(f"the worker kept privileges ({', '.join(left) or 'user 0'})")


def _run_worker(request: dict, fds: list[int], run: Callable[[dict], None]) -> int:
    """``C3``: become unprivileged, take the stdio descriptors, then ``run(request)``."""
    _die_with_parent()
    os.setsid()  # its own session and process group: killpg(0) reaches nothing outside its namespace
    _become_unprivileged(request.get("uid"))
    os.chdir(request["workdir"])  # its own folder (0700): entered as its owner
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
    os.closerange(3, os.sysconf("SC_OPEN_MAX") if os.sysconf("SC_OPEN_MAX") > 0 else 4096)
    random.seed()  # what a freshly started interpreter would have: nothing shared between workers
    if "numpy" in sys.modules:
        sys.modules["numpy"].random.seed()
    try:
        run(request)
        return 0
    except SystemExit as exit_:
        if exit_.code is None or isinstance(exit_.code, int):
            return exit_.code or 0
        print(exit_.code, file=sys.stderr)
        return 1
    except BaseException:  # noqa: BLE001 - as an uncaught exception would end a cold worker
        traceback.print_exc()
        return 1


def _exit_code(status: int) -> int:
    """A wait status as bubblewrap reports it: the exit code, or 128 + the signal."""
    code = os.waitstatus_to_exitcode(status)
    return code if code >= 0 else 128 - code


def _reap_all(first: int) -> int:
    """``C2`` (PID 1 of the namespace): reap every process until ``first`` exits; its status."""
    while True:
        try:
            pid, status = os.waitpid(-1, 0)
        except ChildProcessError:
            return FAILED_SETUP
        if pid == first:
            return _exit_code(status)


PRIVATE_TARGETS = ("/tmp", "/dev/shm")


def _unescape(field: str) -> str:
    """A path as ``/proc/self/mountinfo`` writes it (space, tab, newline and backslash in octal)."""
    raw = field.encode("utf-8", "surrogateescape")
    out, i = bytearray(), 0
    while i < len(raw):
        if raw[i] == 0x5C and i + 4 <= len(raw) and raw[i + 1:i + 4].isdigit():
            out.append(int(raw[i + 1:i + 4], 8))
            i += 4
        else:
            out.append(raw[i])
            i += 1
    return out.decode("utf-8", "surrogateescape")


def mounts_below(targets: tuple[str, ...] = PRIVATE_TARGETS, mountinfo: str | None = None) -> list[str]:
    """The mount points attached directly on top of ``targets`` (the sandbox's binds under ``/tmp``:
    a course, a virtualenv or a worker's folder that lives there), in mount order."""
    if mountinfo is None:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as fh:
            mountinfo = fh.read()
    entries = [(line.split()[0], line.split()[1], _unescape(line.split()[4]))
               for line in mountinfo.splitlines() if len(line.split()) > 4]
    top = {point: mount_id for mount_id, _, point in entries if point in targets}  # the last one wins
    parents = set(top.values())
    return [point for _, parent, point in entries if parent in parents and point not in targets]


def _private_folders(request: dict) -> None:
    """A fresh tmpfs on ``/tmp`` and ``/dev/shm``; with ``hide``, an empty one over that folder too,
    except the worker's own folder, kept through a bind on ``stage`` and moved back in place.

    What the sandbox bound under ``/tmp`` or ``/dev/shm`` (the course's code and environment when
    the course lives there) is moved aside on ``stage`` and back on top of the fresh tmpfs, so a
    worker sees exactly what a cold one does, wherever the course is.
    """
    keep, hide, stage = request["workdir"], request.get("hide"), request.get("stage")
    if hide:  # first: the worker's folder may lie inside a bind that is moved aside below
        os.mkdir(os.path.join(stage, "keep"), 0o700)
        _mount(keep, os.path.join(stage, "keep"), None, MS_BIND | MS_REC)
    moved: list[tuple[str, str]] = []
    if stage:
        for index, point in enumerate(mounts_below()):
            aside = os.path.join(stage, f"m{index}")
            os.mkdir(aside, 0o700)
            _mount(point, aside, None, MS_MOVE)
            moved.append((aside, point))
    size = f"size={int(request.get('tmp_mb', 512))}m,mode=1777"
    for target in PRIVATE_TARGETS:
        _mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV, size)
    for aside, point in moved:
        os.makedirs(point, mode=0o755, exist_ok=True)
        _mount(aside, point, None, MS_MOVE)
        os.rmdir(aside)
    if hide:
        if os.path.isdir(hide):
            _mount("tmpfs", hide, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=0755")
        os.makedirs(keep, mode=0o755, exist_ok=True)
        _mount(os.path.join(stage, "keep"), keep, None, MS_MOVE)
        os.rmdir(os.path.join(stage, "keep"))
    if request.get("private_mb"):  # the worker's folder: a budget in memory, never the host's disk
        owner = f",uid={int(request['uid'])},gid={int(request['uid'])}" if request.get("uid") is not None else ""
        _mount("tmpfs", keep, "tmpfs", MS_NOSUID | MS_NODEV,
               f"size={int(request['private_mb'])}m,nr_inodes={int(request['private_files'])},mode=0700{owner}")
    if stage:
        os.rmdir(stage)  # no mount point any more: the empty folder goes


def _isolated(request: dict, fds: list[int], run: Callable[[dict], None]) -> int:
    """``C1``: the worker's own namespaces and temporary folders, then its init and itself."""
    _die_with_parent()
    _call(_libc.unshare(CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWPID), "unshare")
    _mount("none", "/", None, MS_REC | MS_PRIVATE)
    _private_folders(request)
    started: list[int] = []
    # SIGTERM (the server's "kill"): kill the namespace's init, then wait for it. Its waitpid returns
    # only once the kernel has killed and reaped everything in the namespace.
    signal.signal(signal.SIGTERM, lambda *_: started and os.kill(started[0], signal.SIGKILL))
    init = os.fork()
    if init == 0:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        _child(lambda: _as_init(request, fds, run))
    started.append(init)
    for fd in fds:
        os.close(fd)
    _, status = os.waitpid(init, 0)
    return _exit_code(status)


def _as_init(request: dict, fds: list[int], run: Callable[[dict], None]) -> int:
    _die_with_parent()
    try:  # a /proc of the worker's own PID namespace (refused in some user namespaces: keep the old one)
        _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    except OSError:
        pass
    worker_pid = os.fork()
    if worker_pid == 0:
        _child(lambda: _run_worker(request, fds, run))
    for fd in fds:
        os.close(fd)
    return _reap_all(worker_pid)


def _child(body) -> None:  # noqa: ANN001
    """Run ``body`` in a freshly forked process and end the process with its result; never returns."""
    code = FAILED_SETUP
    try:
        code = body()
    except BaseException:  # noqa: BLE001 - a setup failure: say why on stderr, never continue
        try:
            traceback.print_exc()
        except BaseException:  # noqa: BLE001
            pass
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except BaseException:  # noqa: BLE001
            pass
        os._exit(code)


def _start(request: dict, fds: list[int], private: list[int], run: Callable[[dict], None]) -> int:
    """Fork ``C1`` for ``request``; ``private`` are the server's own descriptors (closed in it)."""
    pid = os.fork()
    if pid == 0:
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        for fd in private:
            os.close(fd)
        _child(lambda: _isolated(request, fds, run))
    for fd in fds:
        os.close(fd)
    return pid


def _send(control: socket.socket, message: dict) -> None:
    control.send(json.dumps(message).encode())


def serve(control: socket.socket, run: Callable[[dict], None]) -> None:
    """Answer requests on ``control`` until it closes; each worker ends with ``run(request)``."""
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_write, False)
    signal.set_wakeup_fd(wake_write)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    children: set[int] = set()
    _send(control, {"op": "ready", "pid": os.getpid()})
    while True:
        readable, _, _ = select.select([control, wake_read], [], [])
        if wake_read in readable:
            os.read(wake_read, 4096)
        while children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            children.discard(pid)
            _send(control, {"op": "exit", "pid": pid, "code": _exit_code(status)})
        if control not in readable:
            continue
        message, fds, _, _ = socket.recv_fds(control, MAX_MESSAGE, 3)
        if not message:
            return
        request = json.loads(message)
        if request.get("op") == "start" and len(fds) == 3:
            pid = _start(request, fds, [control.fileno(), wake_read, wake_write], run)
            children.add(pid)
            _send(control, {"op": "started", "pid": pid})
        elif request.get("op") == "kill" and request.get("pid") in children:
            os.kill(int(request["pid"]), signal.SIGKILL if request.get("hard") else signal.SIGTERM)
        else:
            for fd in fds:
                os.close(fd)


def control_socket() -> socket.socket:
    """The control socket the trusted side passed as fd 0 (fd 0 then reads /dev/null)."""
    control = socket.socket(fileno=os.dup(CONTROL_FD))
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, CONTROL_FD)  # fd 0 is no socket any more: what the workers get is theirs alone
    return control


def _judge_worker(request: dict) -> None:
    from course_grader.judge import worker

    worker.main()


def main() -> None:
    """Import the judge's worker once, then serve on fd 0 until the trusted side closes it."""
    from course_grader.judge import worker  # noqa: F401 - the expensive imports (torch, numpy), done once

    serve(control_socket(), _judge_worker)


if __name__ == "__main__":
    main()
