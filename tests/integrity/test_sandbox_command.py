"""Level 1: a bare ``python -c`` under ``command_prefix`` cannot reach what it must not.

Every test runs real code in the real sandbox; a sandbox that forgot a namespace,
bound the whole repository, ran as root or skipped a limit fails one of them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from course_grader.sandbox import bwrap
from course_grader.sandbox.bwrap import SandboxConfig, command_prefix, probe
from integrity.integrity_helpers import REPO, run_sandboxed

pytestmark = pytest.mark.usefixtures("sandbox_available")


def report(result: subprocess.CompletedProcess[str]) -> dict:
    """The JSON line the sandboxed program printed last (its stderr when it failed)."""
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


ATTEMPT = '''
import json, os
def attempt(action, *args):
    try:
        action(*args)
        return "allowed"
    except OSError as error:
        return type(error).__name__
'''


def test_runs_unprivileged_without_capabilities(tmp_path: Path) -> None:
    code = ATTEMPT + '''
status = dict(line.split(":", 1) for line in open("/proc/self/status"))
print(json.dumps({"uid": os.getuid(), "gid": os.getgid(), "groups": os.getgroups(),
                  "cap_eff": status["CapEff"].strip(), "no_new_privs": status["NoNewPrivs"].strip()}))
'''
    got = report(run_sandboxed(code, tmp_path))
    assert got["uid"] != 0 and got["gid"] != 0 and 0 not in got["groups"]
    assert int(got["cap_eff"], 16) == 0
    assert got["no_new_privs"] == "1"


def test_repository_shows_course_lib_only(tmp_path: Path) -> None:
    secrets = [REPO / "pyproject.toml", REPO / "graders" / "nbgrader_config.py", REPO / ".git" / "HEAD"]
    secrets = [str(p) for p in secrets if p.exists()]
    assert secrets, "the repository files this test hides are missing"
    code = ATTEMPT + f'''
repo = {str(REPO)!r}
print(json.dumps({{
    "listing": sorted(os.listdir(repo)),
    "secrets": [attempt(lambda p: open(p).read(), p) for p in {secrets!r}],
    "solutions": attempt(os.listdir, repo + "/solutions"),
    "course_lib": attempt(lambda: open(repo + "/course_lib/__init__.py").read()),
}}))
'''
    got = report(run_sandboxed(code, tmp_path))
    assert set(got["listing"]) <= {"course_lib", "course_grader", ".venv"}
    assert got["secrets"] == ["FileNotFoundError"] * len(secrets)
    assert got["solutions"] == "FileNotFoundError"
    assert got["course_lib"] == "allowed"


def test_reference_solutions_are_blank_inside(tmp_path: Path) -> None:
    """The graded classes' reference modules cannot be read; the rest of course_lib works."""
    code = f'''
import json, os
package = {str(REPO / "course_lib")!r}
def size(name):
    try:
        return len(open(os.path.join(package, name)).read())
    except OSError as error:
        return type(error).__name__
sizes = {{name: size(name) for name in {list(bwrap.REFERENCE_MODULES)!r}}}
cached = os.listdir(os.path.join(package, "__pycache__")) if os.path.isdir(os.path.join(package, "__pycache__")) else []
import course_lib.plotting, course_lib.schedules, course_lib.checks
print(json.dumps({{"sizes": sizes, "cached": cached, "schedules": hasattr(course_lib.schedules, "warmup_cosine_schedule")}}))
'''
    got = report(run_sandboxed(code, tmp_path))
    assert set(got["sizes"].values()) <= {0, "PermissionError"}, got["sizes"]
    assert not any(name.split(".")[0] + ".py" in bwrap.REFERENCE_MODULES for name in got["cached"])
    assert got["schedules"]


def test_other_students_and_gradebook_are_out_of_reach(students: dict[str, Path]) -> None:
    alice, bob = students["alice"], students["bob"]
    course_root = alice.parents[2]
    gradebook = course_root / "gradebook.db"
    gradebook.write_bytes(b"SQLite format 3\x00")
    code = ATTEMPT + f'''
print(json.dumps({{
    "read_bob": attempt(lambda: open({str(bob / "adam.ipynb")!r}).read()),
    "list_bob": attempt(os.listdir, {str(bob)!r}),
    "write_gradebook": attempt(lambda: open({str(gradebook)!r}, "ab").write(b"x")),
    "read_own": attempt(lambda: open("adam.ipynb").read()),
}}))
'''
    got = report(run_sandboxed(code, alice))
    assert got["read_bob"] == "FileNotFoundError"
    assert got["list_bob"] == "FileNotFoundError"
    # As root the sandbox's parent folders are root's (PermissionError); in user-namespace mode
    # they are the sandbox user's own, inside its private /tmp when the course is under /tmp, so
    # the write may land there: what matters is that the host's gradebook is untouched (below).
    assert got["write_gradebook"] in {"FileNotFoundError", "PermissionError"} or bwrap.sandbox_mode() == "userns"
    assert got["read_own"] == "allowed"
    assert gradebook.read_bytes() == b"SQLite format 3\x00"


def test_writes_land_in_the_workdir_only(tmp_path: Path) -> None:
    workdir = tmp_path / "work"
    workdir.mkdir()
    scratch = f"/tmp/scratch-{uuid.uuid4().hex}.txt"
    outside = [REPO / "course_lib" / "injected.py", Path(sys.prefix) / "injected.pth",
               REPO / "injected.txt", tmp_path / "injected.txt"]
    code = ATTEMPT + f'''
def write(path):
    with open(path, "w") as handle:
        handle.write("x")
print(json.dumps({{
    "outside": [attempt(write, p) for p in {[str(p) for p in outside]!r}],
    "workdir": attempt(write, "result.txt"),
    "tmp": attempt(write, {scratch!r}),
    "own_notebook_removable": attempt(os.remove, "kept.txt"),
}}))
'''
    (workdir / "kept.txt").write_text("the submitted notebook")
    got = report(run_sandboxed(code, workdir))
    private_tmp = [str(p).startswith("/tmp/") and bwrap.sandbox_mode() == "userns" for p in outside]
    # (a folder under /tmp is the sandbox's private, size-limited /tmp in user-namespace mode)
    assert all(verdict != "allowed" or private for verdict, private in zip(got["outside"], private_tmp)), got["outside"]
    assert not any(path.exists() for path in outside)
    assert got["workdir"] == "allowed" and (workdir / "result.txt").read_text() == "x"
    assert got["tmp"] == "allowed" and not Path(scratch).exists()  # a private /tmp
    if bwrap.sandbox_mode() == "root":  # files the grader put there stay (sticky directory)
        assert got["own_notebook_removable"] == "PermissionError"
        assert (workdir / "kept.txt").exists()


@pytest.mark.parametrize("network", [False, True], ids=["no-network", "network-opt-in"])
def test_network_is_unshared(tmp_path: Path, host_server: int, network: bool) -> None:
    code = ATTEMPT + f'''
import socket
def connect():
    with socket.create_connection(("127.0.0.1", {host_server}), timeout=2) as conn:
        assert conn.recv(5) == b"hello"
print(json.dumps({{"connect": attempt(connect)}}))
'''
    got = report(run_sandboxed(code, tmp_path, SandboxConfig(network=network)))
    # The opt-in run shows that the test can see a connection when there is one.
    assert (got["connect"] == "allowed") == network


def test_huge_allocation_raises_memory_error(tmp_path: Path) -> None:
    code = '''
import json
import numpy as np
caught = []
for allocate in (lambda: bytearray(30 * 2**30), lambda: np.ones(30 * 2**30 // 8)):
    try:
        allocate()
        caught.append("allocated")
    except MemoryError:
        caught.append("MemoryError")
small = bytearray(100 * 2**20)  # well under the limit: still works afterwards
print(json.dumps({"caught": caught, "small": len(small)}))
'''
    got = report(run_sandboxed(code, tmp_path, SandboxConfig(memory_mb=1024)))
    assert got == {"caught": ["MemoryError", "MemoryError"], "small": 100 * 2**20}


FORK_BOMB = '''
import json, os, time
deadline = time.monotonic() + 2.0
root, made, refused, most_alive = True, 0, 0, 0
while time.monotonic() < deadline:
    try:
        pid = os.fork()
    except OSError:
        refused += 1
        if root:
            most_alive = max(most_alive, sum(name.isdigit() for name in os.listdir("/proc")))
        time.sleep(0.01)
        continue
    if pid == 0:
        root, made, refused = False, 0, 0
    else:
        made += 1
while True:
    try:
        os.wait()
    except ChildProcessError:
        break
if root:
    print(json.dumps({"made": made, "refused": refused, "most_alive": most_alive}), flush=True)
os._exit(0)
'''

NEIGHBOUR = '''
import json, subprocess, sys, threading
threads = [threading.Thread(target=sum, args=(range(1000),)) for _ in range(8)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
done = [subprocess.run([sys.executable, "-c", "pass"]).returncode for _ in range(4)]
print(json.dumps({"subprocesses": done}))
'''


def test_fork_bomb_is_bounded_and_spares_a_neighbour(tmp_path: Path) -> None:
    bomb_dir, neighbour_dir = tmp_path / "bomb", tmp_path / "neighbour"
    bomb_dir.mkdir()
    neighbour_dir.mkdir()
    limit = 32
    argv = command_prefix(bomb_dir, SandboxConfig(max_processes=limit)) + [
        sys.executable, "-c", FORK_BOMB]
    bomb = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(0.7)  # the bomb is at its cap now
        neighbour = report(run_sandboxed(NEIGHBOUR, neighbour_dir, SandboxConfig(max_processes=limit)))
        out, err = bomb.communicate(timeout=30)
    finally:
        bomb.kill()
    assert neighbour == {"subprocesses": [0, 0, 0, 0]}
    assert bomb.returncode == 0, err[-2000:]
    got = json.loads(out.strip().splitlines()[-1])
    assert got["refused"] > 0
    # the sandbox's init (bwrap) plus at most `limit` processes of the sandbox user
    assert 0 < got["most_alive"] <= limit + 2


def test_cpu_time_limit_stops_a_busy_loop(tmp_path: Path) -> None:
    start = time.monotonic()
    result = run_sandboxed("while True: pass", tmp_path, SandboxConfig(cpu_seconds=1), timeout=30)
    assert result.returncode != 0
    assert time.monotonic() - start < 10


def test_file_size_limit(tmp_path: Path) -> None:
    code = ATTEMPT + '''
def write(size):
    with open("big.bin", "wb") as handle:
        handle.write(b"x" * size)
print(json.dumps({"small": attempt(write, 512 * 1024), "big": attempt(write, 3 * 2**20)}))
'''
    got = report(run_sandboxed(code, tmp_path, SandboxConfig(file_size_mb=1)))
    assert got == {"small": "allowed", "big": "OSError"}


def test_environment_is_cleared(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRADER_SECRET_TOKEN", "do-not-leak")
    code = "import json, os; print(json.dumps(dict(os.environ)))"
    env = report(run_sandboxed(code, tmp_path))
    assert "GRADER_SECRET_TOKEN" not in env
    assert env["MPLBACKEND"] == "agg" and env["OMP_NUM_THREADS"] == "1"
    assert env["PYTHONDONTWRITEBYTECODE"] == "1" and env["HOME"] == "/tmp"
    assert set(env) <= {"PATH", "HOME", "LANG", "MPLBACKEND", "PYTHONDONTWRITEBYTECODE",
                        "OMP_NUM_THREADS", "LC_CTYPE", "PWD"}


def test_torch_numpy_matplotlib_and_course_lib_work(tmp_path: Path) -> None:
    code = '''
import json
import torch, numpy
import matplotlib.pyplot as plt
import course_lib
x = torch.tensor([3.0], requires_grad=True)
(x ** 2).sum().backward()
fig, ax = plt.subplots()
ax.plot([0, 1], [1, 0])
fig.savefig("plot.png")
print(json.dumps({"grad": x.grad.item(), "course_lib": course_lib.__name__}))
'''
    got = report(run_sandboxed(code, tmp_path))
    assert got == {"grad": 6.0, "course_lib": "course_lib"}
    assert (tmp_path / "plot.png").stat().st_size > 0


def test_killing_bwrap_ends_everything_inside(tmp_path: Path) -> None:
    token = f"sandbox-token-{uuid.uuid4().hex}"
    code = (
        "import subprocess, sys, time\n"
        f"subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)', {token!r}])\n"
        "time.sleep(60)\n"
    )
    argv = command_prefix(tmp_path) + [sys.executable, "-c", code]
    process = subprocess.Popen(argv)

    def alive() -> int:
        count = 0
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                count += token in Path(f"/proc/{pid}/cmdline").read_text()
            except OSError:
                pass
        return count

    deadline = time.monotonic() + 20
    while alive() < 3 and time.monotonic() < deadline:  # bwrap, python, its child
        time.sleep(0.05)
    assert alive() >= 3, "the sandboxed program did not start"
    process.kill()
    process.wait()
    deadline = time.monotonic() + 5
    while alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert alive() == 0


def test_probe_says_what_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    # Neither the system's bwrap nor the bundled one (tests/foundation/test_sandbox_install.py).
    monkeypatch.setattr(bwrap, "find_bwrap", lambda path=None: None)
    ok, reason = probe()
    assert not ok
    assert "bwrap" in reason and "apt-get install bubblewrap" in reason


def test_probe_succeeds_here(sandbox_available: str) -> None:
    ok, reason = probe()
    assert ok and "works" in reason


@pytest.mark.parametrize(
    "field, value",
    [("memory_mb", 0), ("cpu_seconds", -1), ("max_processes", 2.5), ("file_size_mb", True),
     ("network", "no")],
)
def test_config_rejects_bad_values(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=f"{field} must be .*got {value!r}"):
        SandboxConfig(**{field: value})


def test_workdir_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="must be an existing directory"):
        command_prefix(tmp_path / "missing")
