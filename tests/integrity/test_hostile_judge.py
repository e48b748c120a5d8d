"""Level 2 (judge): attacks on the verdict, graded directly by the isolated judge in the sandbox.

The judge (course_grader.judge.trusted) runs a submission's solution cells in a
worker under ``command_prefix`` and computes every verdict in this process.
These attacks get no nbgrader run of their own (the batch in
test_hostile_batch.py covers that path): chapter-specific uses of the PyTorch
implementations (torch.optim.lr_scheduler, torch.nn.utils clipping), reaching
the reference through sys.modules or the file system, and killing the worker.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from course_grader.sandbox.bwrap import command_prefix
from integrity.hostile_submissions import JUDGE_ATTACKS, cheating_attacks
from integrity.integrity_helpers import REPO

judge = pytest.importorskip("course_grader.judge.trusted", reason="the isolated judge is not there yet").judge

pytestmark = pytest.mark.usefixtures("sandbox_available")

FIXTURES = REPO / "tests" / "fixtures" / "implementations"
ADAM_CHECKS = [(check, "AdamOptimizer") for check in (
    "adam.first_step", "adam.matches_torch", "adam.large_eps", "adam.shared_timestep", "adam.many_steps")]
SCHEDULE_CHECKS = [(check, "LRScheduler") for check in (
    "schedules.step_decay", "schedules.cosine_annealing", "schedules.warmup_cosine",
    "schedules.past_total_steps", "schedules.step_counter")]
CLIPPING_CHECKS = [(check, "ClippingOptimizer") for check in (
    "clipping.grad_norm", "clipping.clip_by_norm", "clipping.clip_by_value", "clipping.step",
    "clipping.step_with_constraint")]

# The course library's reference, found through the editable install's finder and
# copied without its imports of course_lib, then run with runpy: no import of
# course_lib, no exec/eval/compile/importlib in the source.
REFERENCE_COPY = '''
import glob, os, re, runpy, sys
_finder = [p for folder in sys.path for p in glob.glob(os.path.join(folder, "__editable__*course*finder.py"))]
_text = open(_finder[0]).read() if _finder else ""
_root = re.search(r"'course_lib': '([^']+)'", _text)
_source = open(os.path.join(_root.group(1), "adam.py")).read()
_source = re.sub(r"^from course_lib.*$", "check_in_range = check_non_negative = check_params = "
                 "lambda *args, **kwargs: args[0] if args else None", _source, flags=re.MULTILINE)
with open("copied_adam.py", "w") as handle:
    handle.write(_source)
AdamOptimizer = runpy.run_path("copied_adam.py")["AdamOptimizer"]
'''

SCHEDULER_FROM_TORCH = '''
import math
class LRScheduler:
    def __init__(self, base_lr, warmup_steps=0, total_steps=1000):
        self.base_lr, self.warmup_steps, self.total_steps = base_lr, warmup_steps, total_steps
        self.current_step = 0
        self._param = torch.zeros(1, requires_grad=True)
    def _torch_lr(self, make):
        optimizer = torch.optim.SGD([self._param], lr=self.base_lr)
        scheduler = make(optimizer)
        for _ in range(self.current_step):
            optimizer.step()
            scheduler.step()
        return scheduler.get_last_lr()[0]
    def step(self):
        self.current_step += 1
    def step_decay(self, decay_rate=0.5, decay_steps=100):
        return self._torch_lr(lambda o: torch.optim.lr_scheduler.StepLR(o, decay_steps, decay_rate))
    def cosine_annealing(self, min_lr=0.0):
        return self._torch_lr(lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, self.total_steps, min_lr))
    def warmup_cosine(self, min_lr=0.0):
        return self.cosine_annealing(min_lr)
'''

CLIPPING_FROM_TORCH = '''
from torch.nn.utils import clip_grad_norm_, clip_grad_value_
class ClippingOptimizer:
    def __init__(self, params, lr=0.01, clip_norm=None, clip_value=None, kl_penalty=0.0):
        self.params, self.lr = list(params), lr
        self.clip_norm, self.clip_value, self.kl_penalty = clip_norm, clip_value, kl_penalty
        self.ref_params = [p.detach().clone() for p in self.params]
    def compute_grad_norm(self):
        return float(torch.norm(torch.stack([p.grad.norm() for p in self.params if p.grad is not None])))
    def clip_grad_norm(self):
        if self.clip_norm is not None:
            clip_grad_norm_(self.params, self.clip_norm)
    def clip_grad_value(self):
        if self.clip_value is not None:
            clip_grad_value_(self.params, self.clip_value)
    def step(self):
        self.clip_grad_norm()
        self.clip_grad_value()
        with torch.no_grad():
            for p in self.params:
                if p.grad is not None:
                    p -= self.lr * p.grad
    def step_with_constraint(self):
        self.step()
    def zero_grad(self):
        for p in self.params:
            if p.grad is not None:
                p.grad.zero_()
'''


@pytest.fixture
def run_judge(worker_spawn):
    """Judge one source with a cold worker, or with one forked from the warm pool (both must hold)."""
    def run(tmp_path: Path, source: str, checks: list[tuple[str, str]]) -> dict:
        workdir = tmp_path / "judge"
        workdir.mkdir()
        return judge([source], checks, command_prefix=command_prefix(workdir), timeout=30, cwd=str(workdir),
                     spawn=worker_spawn())
    return run


def passed(verdicts: dict) -> list[str]:
    return sorted(check for check, verdict in verdicts.items() if verdict.passed)


def test_correct_solution_passes_in_the_sandboxed_judge(run_judge, tmp_path: Path) -> None:
    source = (FIXTURES / "02_adam" / "correct_in_place.py").read_text()
    verdicts = run_judge(tmp_path, source, ADAM_CHECKS)
    assert passed(verdicts) == sorted(check for check, _ in ADAM_CHECKS), {
        check: verdict.message for check, verdict in verdicts.items()}


@pytest.mark.parametrize("attack", JUDGE_ATTACKS)
def test_adam_attack_gets_no_verdict(run_judge, tmp_path: Path, attack: str) -> None:
    assert passed(run_judge(tmp_path, cheating_attacks()[attack], ADAM_CHECKS)) == []


@pytest.mark.parametrize(
    "source, checks",
    [(SCHEDULER_FROM_TORCH, SCHEDULE_CHECKS), (CLIPPING_FROM_TORCH, CLIPPING_CHECKS)],
    ids=["lr_scheduler_from_torch", "clipping_from_torch_nn_utils"],
)
def test_chapter_attack_using_torch_gets_no_verdict(run_judge, tmp_path: Path, source: str, checks: list) -> None:
    assert passed(run_judge(tmp_path, source, checks)) == []


def test_reference_copied_from_disk_gets_no_verdict(run_judge, tmp_path: Path) -> None:
    """Graded code that loads a copy of the reference from disk must not pass."""
    verdicts = run_judge(tmp_path, REFERENCE_COPY, ADAM_CHECKS)
    assert passed(verdicts) == []
