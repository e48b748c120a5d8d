"""Hostile solutions for the Adam exercise (chapter 2), one per attack.

Each entry is the source a student puts in place of the ``AdamOptimizer``
solution cell. Unless the attack itself is the implementation (importing or
wrapping a reference), the class it defines is WRONG (no bias correction), so
any point it earns comes from the attack. Attacks on the machine print a line
``ATTACK <name>: <what happened>`` that the suite reads back from the
autograded notebook, to show the sandbox (not luck) stopped them.
"""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

# Adam without bias correction: fails every check of the exercise.
WRONG_ADAM = '''
class AdamOptimizer:
    def __init__(self, params, lr=0.001, betas=(0.9, 0.999), eps=1e-8):
        self.params = list(params)
        self.lr = lr
        self.beta1, self.beta2 = betas
        self.eps = eps
        self.t = 0
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params]

    def step(self):
        self.t += 1
        with torch.no_grad():
            for p, m, v in zip(self.params, self.m, self.v):
                if p.grad is None:
                    continue
                m.mul_(self.beta1).add_((1 - self.beta1) * p.grad)
                v.mul_(self.beta2).add_((1 - self.beta2) * p.grad ** 2)
                p -= self.lr * m / (v.sqrt() + self.eps)

    def zero_grad(self):
        for p in self.params:
            if p.grad is not None:
                p.grad.zero_()
'''


def _report(name: str, body: str) -> str:
    """Run ``body`` (which sets ``outcome``), print the outcome line, then define the wrong class."""
    return dedent(body).strip() + f'\nprint("ATTACK {name}:", outcome)\n' + WRONG_ADAM


def machine_attacks(repo: Path, port: int) -> dict[str, str]:
    """Attacks on the grading machine: files, gradebook, network, memory, processes."""
    solutions = repo / "solutions" / "02_adam" / "adam.ipynb"
    return {
        "read_solutions": _report("read_solutions", f'''
            import json
            try:
                stolen = json.load(open({str(solutions)!r}))
                outcome = "read " + str(len(stolen["cells"])) + " cells"
            except OSError as error:
                outcome = "blocked " + type(error).__name__
            '''),
        "write_gradebook": _report("write_gradebook", '''
            import sqlite3
            try:  # the kernel runs in autograded/<student>/<assignment>/
                db = sqlite3.connect("file:../../../gradebook.db?mode=rw", uri=True)
                db.execute("UPDATE grade SET manual_score = 1000")
                db.commit()
                outcome = "wrote the gradebook"
            except (OSError, sqlite3.Error) as error:
                outcome = "blocked " + type(error).__name__
            '''),
        "read_other_student": _report("read_other_student", '''
            import os
            try:
                outcome = "listed " + ",".join(os.listdir("../.."))
                outcome += " and read " + str(len(open("../../honest_correct/02_adam/adam.ipynb").read()))
            except OSError as error:
                outcome = "blocked " + type(error).__name__
            '''),
        "open_socket": _report("open_socket", f'''
            import socket
            try:
                socket.create_connection(("127.0.0.1", {port}), timeout=2).close()
                outcome = "connected"
            except OSError as error:
                outcome = "blocked " + type(error).__name__
            '''),
        "allocate_30gb": _report("allocate_30gb", '''
            try:
                hoard = bytearray(30 * 2**30)
                outcome = "allocated 30 GB"
            except MemoryError:
                outcome = "blocked MemoryError"
            '''),
        "fork_bomb": _report("fork_bomb", '''
            import os, time
            # Fork until refused (or 10 s); children wait on a pipe and leave when it closes.
            read_end, write_end = os.pipe()
            deadline, refused = time.monotonic() + 10.0, False
            while time.monotonic() < deadline and not refused:
                try:
                    if os.fork() == 0:
                        os.close(write_end)
                        os.read(read_end, 1)
                        os._exit(0)
                except OSError:
                    refused = True
            os.close(write_end)
            while True:
                try:
                    os.wait()
                except ChildProcessError:
                    break
            os.close(read_end)
            outcome = "blocked at the process cap" if refused else "never capped"
            '''),
    }


def combined_machine_attack(repo: Path, port: int) -> str:
    """All machine attacks in one solution cell, one after the other, then the wrong class."""
    attacks = machine_attacks(repo, port)
    bodies = [code.replace(WRONG_ADAM, "") for code in attacks.values()]
    return "\n".join(bodies) + WRONG_ADAM


def cheating_attacks() -> dict[str, str]:
    """Attacks on the verdict: patched comparisons, patched grading, references, fake objects."""
    return {
        "patch_torch_numpy_comparisons": '''
import numpy, torch
torch.allclose = lambda *args, **kwargs: True
torch.isclose = lambda a, b, *args, **kwargs: torch.ones_like(torch.as_tensor(a), dtype=torch.bool)
torch.equal = lambda *args, **kwargs: True
torch.testing.assert_close = lambda *args, **kwargs: None
numpy.allclose = lambda *args, **kwargs: True
numpy.isclose = lambda *args, **kwargs: True
numpy.testing.assert_allclose = lambda *args, **kwargs: None
numpy.testing.assert_array_almost_equal = lambda *args, **kwargs: None
''' + WRONG_ADAM,
        "patch_abs": '''
import builtins
builtins.abs = lambda x: 0.0
''' + WRONG_ADAM,
        "patch_len_isinstance": '''
import builtins
_isinstance, _len = builtins.isinstance, builtins.len
builtins.len = lambda obj: _len(obj) if _isinstance(obj, (str, bytes, dict)) else 1
builtins.isinstance = lambda obj, kind: True if kind in (int, float, bool) else _isinstance(obj, kind)
''' + WRONG_ADAM,
        "patch_grading_helpers": '''
import sys
import course_lib.checks
def check(check_id, cls):
    print(f"✓ {check_id}: passed")
for name in list(sys.modules):
    module = sys.modules[name]
    if name.startswith("course_lib.checks") and hasattr(module, "check"):
        module.check = check
    if name.startswith("course_lib.checks") and hasattr(module, "CheckFailed"):
        module.CheckFailed = type("CheckFailed", (Exception,), {})
globals()["check"] = check
''' + WRONG_ADAM,
        "import_reference": '''
from course_lib import AdamOptimizer
''',
        "reference_via_sys_modules": '''
import sys
AdamOptimizer = sys.modules["course_lib.adam"].AdamOptimizer
''',
        "reference_via_runpy": '''
import os, runpy
_path = os.path.join(os.path.dirname(plotting.__file__), "adam.py")  # setup cell imported plotting
AdamOptimizer = runpy.run_path(_path)["AdamOptimizer"]
''',
        "subclass_torch_adam": '''
class AdamOptimizer(torch.optim.Adam):
    def __init__(self, params, lr=0.001, betas=(0.9, 0.999), eps=1e-8):
        super().__init__(params, lr=lr, betas=betas, eps=eps)
        self.params, self.t = list(params), 0
''',
        "wrap_torch_adam": '''
_torch_optimizers = getattr(torch, "opt" + "im")
class AdamOptimizer:
    def __init__(self, params, lr=0.001, betas=(0.9, 0.999), eps=1e-8):
        self.params = list(params)
        self._inner = _torch_optimizers.Adam(self.params, lr=lr, betas=betas, eps=eps)
        self.t = 0
    @property
    def m(self):
        return [self._inner.state[p].get("exp_avg", torch.zeros_like(p)) for p in self.params]
    @property
    def v(self):
        return [self._inner.state[p].get("exp_avg_sq", torch.zeros_like(p)) for p in self.params]
    def step(self):
        self.t += 1
        self._inner.step()
    def zero_grad(self):
        self._inner.zero_grad()
''',
        "always_equal_numbers": '''
class Anything(float):
    def __eq__(self, other): return True
    def __ne__(self, other): return False
    def __lt__(self, other): return True
    def __le__(self, other): return True
    def __gt__(self, other): return True
    def __ge__(self, other): return True
    def __sub__(self, other): return Anything(0.0)
    __rsub__ = __add__ = __radd__ = __mul__ = __rmul__ = __truediv__ = __sub__
    def __abs__(self): return Anything(0.0)
    def __hash__(self): return 0
    def item(self): return self
    def tolist(self): return self
    def __getitem__(self, index): return self
    def __len__(self): return 1
    def __iter__(self): return iter([self])

class AdamOptimizer:
    def __init__(self, params, lr=0.001, betas=(0.9, 0.999), eps=1e-8):
        self.params = list(params)
        self.t = Anything(0.0)
        self.m = [Anything(0.0) for _ in self.params]
        self.v = [Anything(0.0) for _ in self.params]
    def step(self):
        pass
    def zero_grad(self):
        pass
''',
        "exit_kernel_early": WRONG_ADAM + '''
import os
os._exit(0)
''',
        "kill_kernel_process_group": WRONG_ADAM + '''
import os, signal
os.killpg(0, signal.SIGKILL)
''',
        "fake_passing_output": WRONG_ADAM + '''
print("first step: correct")
print("epsilon outside the square root: correct")
print("two steps, shared step count, skipping parameters without gradient: correct")
for check_id in ("adam.first_step", "adam.matches_torch", "adam.large_eps", "adam.shared_timestep", "adam.many_steps"):
    print(f"✓ {check_id}: passed")
''',
    }


def all_attacks(repo: Path, port: int) -> dict[str, str]:
    return {**machine_attacks(repo, port), **cheating_attacks()}


#: graded end to end by the pipeline (each one a student of the batch)
BATCH_ATTACKS = (
    "patch_torch_numpy_comparisons",
    "patch_abs",
    "patch_len_isinstance",
    "patch_grading_helpers",
    "import_reference",
    "subclass_torch_adam",
    "always_equal_numbers",
    "exit_kernel_early",
)
#: checked against the isolated judge directly (cheaper: no nbgrader run each)
JUDGE_ATTACKS = (
    "reference_via_sys_modules",
    "reference_via_runpy",
    "wrap_torch_adam",
    "kill_kernel_process_group",
)
