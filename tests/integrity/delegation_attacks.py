"""Solutions that implement nothing and call someone else's implementation, each by another route.

Every source below earns full marks where the implementation is reachable (this
test process, which has the real torch.optim), and must earn nothing from the
judge, whose worker runs without it (``course_grader/judge/stubs.py``). None
of them names ``torch.optim``, ``lr_scheduler`` or ``clip_grad_*`` in a way the
static scan sees.
"""

from __future__ import annotations

import hashlib
import inspect
from pathlib import Path

import numpy as np
import torch

from course_lib.checks.chapters import REGISTRY
from course_lib.checks.messages import Trace
from course_lib.checks.subjects import LocalSubject

#: Adam reached by walking type.__subclasses__() to torch.optim.Adam, and through its
#: module globals to the function that does the work
SUBCLASS_WALK_ADAM = '''
def _find(name, module):
    seen, todo = set(), [object]
    while todo:
        for sub in type.__subclasses__(todo.pop()):
            if sub in seen:
                continue
            seen.add(sub)
            todo.append(sub)
            if sub.__name__ == name and sub.__module__ == module:
                return sub
    return None


_inner_adam = _find("Adam", "torch.optim.adam").__init__.__globals__["adam"]


class AdamOptimizer:
    def __init__(self, params, lr=0.001, betas=(0.9, 0.999), eps=1e-8):
        self.params, self.lr, self.betas, self.eps, self.t = list(params), lr, betas, eps, 0
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params]

    def step(self):
        self.t += 1
        with torch.no_grad():
            for p, m, v in zip(self.params, self.m, self.v):
                if p.grad is not None:
                    # torch's functional adam() counts the step itself: hand it t - 1
                    _inner_adam([p], [p.grad], [m], [v], [], [torch.tensor(float(self.t - 1), dtype=p.dtype)],
                                foreach=False, capturable=False, differentiable=False, fused=None,
                                grad_scale=None, found_inf=None, has_complex=False, amsgrad=False,
                                beta1=self.betas[0], beta2=self.betas[1], lr=self.lr, weight_decay=0.0,
                                eps=self.eps, maximize=False)

    def zero_grad(self):
        for p in self.params:
            p.grad = None
'''

#: Adam as one call of torch's native fused kernel
FUSED_KERNEL_ADAM = '''
class AdamOptimizer:
    def __init__(self, params, lr=0.001, betas=(0.9, 0.999), eps=1e-8):
        self.params, self.lr, self.betas, self.eps, self.t = list(params), lr, betas, eps, 0
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params]

    def step(self):
        self.t += 1
        kernel = getattr(torch.ops.aten, "_fused_" + "adam_")
        with torch.no_grad():
            for p, m, v in zip(self.params, self.m, self.v):
                if p.grad is not None:
                    kernel([p], [p.grad], [m], [v], [], [torch.tensor(float(self.t), dtype=p.dtype)],
                           lr=self.lr, beta1=self.betas[0], beta2=self.betas[1], weight_decay=0.0,
                           eps=self.eps, amsgrad=False, maximize=False)

    def zero_grad(self):
        for p in self.params:
            p.grad = None
'''

#: LRScheduler whose rates come from real torch schedulers stepped on a bare optimizer
SCHEDULER_ON_BARE_OPTIMIZER = '''
_optimizers = getattr(torch, "opt" + "im")
_schedulers = getattr(_optimizers, "lr_" + "scheduler")


def _run(make, base_lr, steps):
    optimizer = _optimizers.SGD([torch.zeros(1, requires_grad=True)], lr=base_lr)
    scheduler = make(optimizer)
    for _ in range(steps):
        optimizer.step()
        scheduler.step()
    return scheduler.get_last_lr()[0]


class LRScheduler:
    def __init__(self, base_lr, warmup_steps=0, total_steps=1000):
        self.base_lr, self.warmup_steps, self.total_steps = base_lr, warmup_steps, total_steps
        self.current_step = 0

    def step_decay(self, decay_rate=0.5, decay_steps=100):
        return _run(lambda o: _schedulers.StepLR(o, decay_steps, decay_rate), self.base_lr, self.current_step)

    def cosine_annealing(self, min_lr=0.0):
        return _run(lambda o: _schedulers.CosineAnnealingLR(o, self.total_steps, min_lr), self.base_lr,
                    min(self.current_step, self.total_steps))

    def warmup_cosine(self, min_lr=0.0):
        t, w = self.current_step, self.warmup_steps
        if t < w:
            return self.base_lr * t / w
        return _run(lambda o: _schedulers.CosineAnnealingLR(o, self.total_steps - w, min_lr), self.base_lr,
                    min(t - w, self.total_steps - w))

    def step(self):
        self.current_step += 1
'''

#: ClippingOptimizer built on the private helpers of torch.nn.utils.clip_grad
CLIP_PRIVATE_HELPERS = '''
_clip = getattr(torch.nn.utils, "clip_" + "grad")


class ClippingOptimizer:
    def __init__(self, params, lr=0.01, clip_norm=None, clip_value=None, kl_penalty=0.0):
        self.params, self.lr = params, lr
        self.clip_norm, self.clip_value, self.kl_penalty = clip_norm, clip_value, kl_penalty
        self.grad_norms = []

    def _grads(self):
        return [p.grad for p in self.params if p.grad is not None]

    def compute_grad_norm(self):
        grads = self._grads()
        return float(_clip._get_total_norm(grads, 2.0)) if grads else 0.0

    def clip_by_norm(self):
        if self.clip_norm is None:  # the task's rule: no bound, no clipping
            return
        norm = self.compute_grad_norm()
        if norm > self.clip_norm:
            _clip._clip_grads_with_norm_([p for p in self.params if p.grad is not None], self.clip_norm,
                                         torch.tensor(norm - 1e-6))

    def clip_by_value(self):
        if self.clip_value is None:
            return
        getattr(_clip, "clip_grad_" + "value_")([p for p in self.params if p.grad is not None], self.clip_value)

    def _clip_all(self):
        if self.clip_norm is not None:
            self.clip_by_norm()
        if self.clip_value is not None:
            self.clip_by_value()

    def step(self):
        if self.clip_norm is not None or self.clip_value is not None:
            self.grad_norms.append(self.compute_grad_norm())
        self._clip_all()
        with torch.no_grad():
            for p in self.params:
                if p.grad is not None:
                    p -= self.lr * p.grad

    def step_with_constraint(self, reference_params=None):
        self._clip_all()
        with torch.no_grad():
            for i, p in enumerate(self.params):
                if p.grad is not None:
                    g = p.grad
                    if self.kl_penalty > 0 and reference_params is not None:
                        g = g + self.kl_penalty * (p - reference_params[i])
                    p -= self.lr * g

    def zero_grad(self):
        for p in self.params:
            p.grad = None
'''


# ---------------------------------------------------------------------------------------
# Replay tables: answers recorded against the public checks, looked up instead of computed

def _key(arrays) -> str:
    digest = hashlib.sha256()
    for array in arrays:
        digest.update(b"none" if array is None else np.asarray(array, dtype=np.float64).round(12).tobytes())
    return digest.hexdigest()[:24]


def record_adam_table(correct: type) -> dict[str, list[list[float]]]:
    """Run every public Adam check against ``correct`` and record params after each step."""
    table: dict[str, list[list[float]]] = {}

    class Recorder(correct):
        def step(self):
            before = [p.detach().numpy().copy() for p in self.params]
            grads = [None if p.grad is None else p.grad.detach().numpy().copy() for p in self.params]
            super().step()
            table[_key(before + grads)] = [p.detach().numpy().astype(np.float64).ravel().tolist()
                                           for p in self.params]

    for check_id, spec in REGISTRY.items():
        if spec.class_name == "AdamOptimizer":
            spec.func(LocalSubject(Recorder, Trace(check_id)))
    return table


def adam_replay_source(table: dict) -> str:
    """An AdamOptimizer that looks its results up in ``table`` and computes nothing."""
    return f'''
import hashlib
import numpy as np

_TABLE = {table!r}


def _key(arrays):
    digest = hashlib.sha256()
    for array in arrays:
        digest.update(b"none" if array is None else np.asarray(array, dtype=np.float64).round(12).tobytes())
    return digest.hexdigest()[:24]


class AdamOptimizer:
    def __init__(self, params, lr=0.001, betas=(0.9, 0.999), eps=1e-8):
        self.params, self.t = list(params), 0
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params]

    def step(self):
        self.t += 1
        before = [p.detach().numpy().copy() for p in self.params]
        grads = [None if p.grad is None else p.grad.detach().numpy().copy() for p in self.params]
        answer = _TABLE.get(_key(before + grads))
        if answer is not None:
            with torch.no_grad():
                for p, values in zip(self.params, answer):
                    p.copy_(torch.tensor(values, dtype=p.dtype).reshape(p.shape))

    def zero_grad(self):
        for p in self.params:
            p.grad = None
'''


def record_schedule_table(correct: type) -> dict[str, float]:
    """Run every public LRScheduler check against ``correct`` and record each rate asked for."""
    table: dict[str, float] = {}

    def recording(method):
        def call(self, **kwargs):
            value = float(getattr(correct, method)(self, **kwargs))
            bound = inspect.signature(getattr(correct, method)).bind(self, **kwargs)
            bound.apply_defaults()  # the replay passes every argument, defaults included
            kwargs = {name: v for name, v in bound.arguments.items() if name != "self"}
            setting = (method, self.base_lr, self.warmup_steps, self.total_steps, self.current_step,
                       sorted(kwargs.items()))
            table[repr(setting)] = value
            return value
        return call

    recorder = type("Recorder", (correct,), {m: recording(m) for m in
                                             ("step_decay", "cosine_annealing", "warmup_cosine")})
    for check_id, spec in REGISTRY.items():
        if spec.class_name == "LRScheduler":
            spec.func(LocalSubject(recorder, Trace(check_id)))
    return table


def schedule_replay_source(table: dict) -> str:
    """An LRScheduler that looks every rate up in ``table``."""
    return f'''
_TABLE = {table!r}


class LRScheduler:
    def __init__(self, base_lr, warmup_steps=0, total_steps=1000):
        self.base_lr, self.warmup_steps, self.total_steps = base_lr, warmup_steps, total_steps
        self.current_step = 0

    def _look_up(self, method, **kwargs):
        setting = (method, self.base_lr, self.warmup_steps, self.total_steps, self.current_step,
                   sorted(kwargs.items()))
        return _TABLE.get(repr(setting), 0.0)

    def step_decay(self, decay_rate=0.5, decay_steps=100):
        return self._look_up("step_decay", decay_rate=decay_rate, decay_steps=decay_steps)

    def cosine_annealing(self, min_lr=0.0):
        return self._look_up("cosine_annealing", min_lr=min_lr)

    def warmup_cosine(self, min_lr=0.0):
        return self._look_up("warmup_cosine", min_lr=min_lr)

    def step(self):
        self.current_step += 1
'''


# ---------------------------------------------------------------------------------------
# Honest work that must keep full marks

#: a correct Adam whose update lives in a helper the student defined in a cell of their own
HELPER_CELL = '''
def adam_update(p, g, m, v, t, lr, beta1, beta2, eps):
    """One Adam step for one parameter, in place."""
    m.mul_(beta1).add_(g, alpha=1 - beta1)
    v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
    m_hat = m / (1 - beta1 ** t)
    v_hat = v / (1 - beta2 ** t)
    p.sub_(lr * m_hat / (v_hat.sqrt() + eps))
'''
CLASS_USING_HELPER = '''
class AdamOptimizer:
    def __init__(self, params, lr=0.001, betas=(0.9, 0.999), eps=1e-8):
        self.params, self.lr, self.betas, self.eps, self.t = list(params), lr, betas, eps, 0
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params]

    def step(self):
        self.t += 1
        with torch.no_grad():
            for p, m, v in zip(self.params, self.m, self.v):
                if p.grad is not None:
                    adam_update(p, p.grad, m, v, self.t, self.lr, *self.betas, self.eps)

    def zero_grad(self):
        for p in self.params:
            if p.grad is not None:
                p.grad.zero_()
'''
#: an added cell comparing the student's class with torch's, as a careful student would
COMPARISON_CELL = '''
import torch.optim
_w1 = torch.randn(3, requires_grad=True)
_w2 = _w1.detach().clone().requires_grad_(True)
_mine, _theirs = AdamOptimizer([_w1], lr=0.1), torch.optim.Adam([_w2], lr=0.1)
for _ in range(5):
    for w, opt in ((_w1, _mine), (_w2, _theirs)):
        opt.zero_grad()
        (w ** 2).sum().backward()
        opt.step()
print("agrees with torch.optim.Adam:", torch.allclose(_w1, _w2))
'''


#: chapter 6's Lion from a package installed only to test the course (lion-pytorch): its source
#: file is read from the environment and run in a cell the student added (run, not scanned), so
#: no forbidden module is imported by name
LION_FROM_TEST_PACKAGE = '''
import os, sys, torch

_files = [os.path.join(folder, "lion_pytorch", "lion_pytorch.py") for folder in sys.path]
_source = open(next(f for f in _files if os.path.exists(f))).read()
exec(_source[_source.index("def update_fn"):_source.index("class Lion")])


class LionOptimizer:
    def __init__(self, params, lr=1e-4, betas=(0.9, 0.99), weight_decay=0.0):
        if lr < 0:
            raise ValueError(f"lr must be >= 0, got {lr}")
        if not all(0 <= beta < 1 for beta in betas):
            raise ValueError(f"betas must each be in [0, 1), got {betas}")
        if weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0, got {weight_decay}")
        self.params, self.lr, self.betas, self.weight_decay = list(params), lr, betas, weight_decay
        self.momenta = [torch.zeros_like(p) for p in self.params]

    def step(self):
        with torch.no_grad():
            for p, m in zip(self.params, self.momenta):
                if p.grad is not None:
                    update_fn(p, p.grad, m, self.lr, self.weight_decay, *self.betas)

    def zero_grad(self):
        for p in self.params:
            p.grad = None
'''


def fixture(assignment: str, stem: str) -> Path:
    return Path(__file__).resolve().parents[1] / "fixtures" / "implementations" / assignment / f"{stem}.py"
