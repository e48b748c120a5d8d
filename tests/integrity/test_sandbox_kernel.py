"""Level 1: nbclient runs a notebook in the sandbox through ``SandboxedKernelManager``.

One kernel executes one attack per cell (each prints a verdict); a second test
checks interrupts and clean-up. This is the path nbgrader's Execute
preprocessor takes during ``make autograde``.
"""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError

from course_grader.sandbox import bwrap
from course_grader.sandbox.bwrap import SandboxConfig, SandboxedKernelManager
from integrity.integrity_helpers import REPO

pytestmark = pytest.mark.usefixtures("sandbox_available")

PRELUDE = '''
import json, os, socket
def attempt(name, action):
    try:
        action()
        verdict = "allowed"
    except (OSError, MemoryError) as error:
        verdict = type(error).__name__
    print(json.dumps({name: verdict}))
'''


def attack_cells(repo: Path, bob: Path, gradebook: Path, port: int) -> list[str]:
    secret = repo / "pyproject.toml"
    return [
        f"attempt('read_repo_file', lambda: open({str(secret)!r}).read())",
        f"attempt('list_solutions', lambda: os.listdir({str(repo / 'solutions')!r}))",
        f"attempt('read_other_student', lambda: open({str(bob / 'adam.ipynb')!r}).read())",
        f"attempt('write_gradebook', lambda: open({str(gradebook)!r}, 'ab').write(b'x'))",
        f"attempt('write_course_lib', lambda: open({str(repo / 'course_lib' / 'x.py')!r}, 'w'))",
        f"attempt('connect_host', lambda: socket.create_connection(('127.0.0.1', {port}), timeout=2))",
        "attempt('allocate_30GB', lambda: bytearray(30 * 2**30))",
        "attempt('write_workdir', lambda: open('own_output.txt', 'w').write('ok'))",
        FORK_BOMB_CELL,
        "import torch, course_lib\n"
        "x = torch.ones(3, requires_grad=True)\n"
        "(x * x).sum().backward()\n"
        "print(json.dumps({'torch': x.grad.tolist(), 'uid_is_root': os.getuid() == 0}))",
    ]


# A bomb inside the kernel, stopping itself after 2 s: the kernel survives it.
FORK_BOMB_CELL = '''
import time
deadline, refused, made = time.monotonic() + 2.0, 0, 0
parent = os.getpid()
while time.monotonic() < deadline:
    try:
        pid = os.fork()
    except OSError:
        refused += 1
        time.sleep(0.01)
        continue
    if pid == 0:
        time.sleep(max(0.0, deadline - time.monotonic()))
        os._exit(0)
    made += 1
while True:
    try:
        os.wait()
    except ChildProcessError:
        break
print(json.dumps({"fork_refused": refused > 0, "forked": made}))
'''


def verdicts(nb: nbformat.NotebookNode) -> dict:
    found: dict = {}
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            if output.get("name") == "stdout":
                for line in output["text"].splitlines():
                    if line.startswith("{"):
                        found.update(json.loads(line))
    return found


def notebook(cells: list[str]) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    return nb


def test_notebook_attacks_fail_and_honest_code_runs(
    students: dict[str, Path], host_server: int
) -> None:
    alice, bob = students["alice"], students["bob"]
    gradebook = alice.parents[2] / "gradebook.db"
    gradebook.write_bytes(b"grades")
    nb = notebook([PRELUDE] + attack_cells(REPO, bob, gradebook, host_server))
    client = NotebookClient(
        nb,
        kernel_manager_class=SandboxedKernelManager,
        resources={"metadata": {"path": str(alice)}},
        timeout=60,
        allow_errors=True,
    )
    client.km = client.create_kernel_manager()
    client.km.max_processes = 32
    client.execute()
    got = verdicts(nb)
    assert got == {
        "read_repo_file": "FileNotFoundError",
        "list_solutions": "FileNotFoundError",
        "read_other_student": "FileNotFoundError",
        "write_gradebook": got["write_gradebook"],  # not there, or not creatable
        "write_course_lib": got["write_course_lib"],  # checked below: any OSError
        "connect_host": got["connect_host"],
        "allocate_30GB": "MemoryError",
        "write_workdir": "allowed",
        "fork_refused": True,
        "forked": got["forked"],
        "torch": [2.0, 2.0, 2.0],
        "uid_is_root": False,
    }, got
    # in user-namespace mode a course under /tmp has its folders in the kernel's private /tmp, where
    # a write lands (bounded, and gone with the kernel); the host's gradebook is untouched (below)
    assert got["write_gradebook"] in {"FileNotFoundError", "PermissionError"} or bwrap.sandbox_mode() == "userns"
    assert got["write_course_lib"] in {"OSError", "PermissionError"}  # read-only file system
    assert got["connect_host"] in {"OSError", "ConnectionRefusedError"}  # unreachable network
    assert 0 < got["forked"] < 32
    assert (alice / "own_output.txt").read_text() == "ok"
    assert gradebook.read_bytes() == b"grades"


def test_interrupt_reaches_the_kernel_and_cleanup_removes_its_files(tmp_path: Path) -> None:
    nb = notebook(["import time\ntime.sleep(60)", "print('after interrupt')"])
    client = NotebookClient(
        nb,
        kernel_manager_class=SandboxedKernelManager,
        resources={"metadata": {"path": str(tmp_path)}},
        timeout=3,
        interrupt_on_timeout=True,
        allow_errors=True,
    )
    client.km = client.create_kernel_manager()
    assert client.km.sandbox_config == SandboxConfig()
    with client.setup_kernel():
        connection_file = Path(client.km.connection_file)
        sandbox_dir = connection_file.parent
        process = client.km.provisioner.process
        assert client.km.transport == "ipc"
        assert sandbox_dir.is_dir()
        for index, cell in enumerate(nb.cells):
            try:
                client.execute_cell(cell, index)
            except CellTimeoutError:  # pragma: no cover - the interrupt did not arrive
                pytest.fail("the kernel did not react to the interrupt message")
        assert nb.cells[0].outputs[-1]["ename"] == "KeyboardInterrupt"
        assert nb.cells[1].outputs[0]["text"] == "after interrupt\n"
    assert not sandbox_dir.exists() and not connection_file.exists()
    assert process.poll() is not None  # bwrap, and with it the kernel, has ended
