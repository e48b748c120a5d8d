"""Someone else's implementation: what each graded unit may not run.

A graded unit earns its points for code the student wrote. :class:`Forbidden` lists, per
exercise (:attr:`CheckSpec.forbidden`), the modules and native kernels that implement it
already: an optimizer chapter forbids torch's optimizers and clipping, while a chapter
whose task is a training loop uses torch's optimizers on purpose. The static policy scan
(:mod:`course_lib.checks.policy`) reads these lists in the student's kernel; the grading
engine's judge keeps them out of its worker (absent code, refused native kernels, a log of
every refusal: ``course_grader/judge/stubs.py``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass


@dataclass(frozen=True)
class Forbidden:
    """Implementations a graded unit may not run.

    Attributes:
        modules: dotted module names (a module, or a package with all its submodules)
            replaced by refusing stubs in the judge's worker.
        native_ops: ``aten`` operator names (without overload, e.g. ``"_fused_adam_"``)
            whose CPU kernels refuse in the judge's worker.
    """

    modules: tuple[str, ...] = ()
    native_ops: tuple[str, ...] = ()

    def __or__(self, other: Forbidden) -> Forbidden:
        return Forbidden(tuple(dict.fromkeys(self.modules + other.modules)),
                         tuple(dict.fromkeys(self.native_ops + other.native_ops)))

    def as_message(self) -> dict:
        """The plain form sent to the worker."""
        return {"modules": list(self.modules), "native_ops": list(self.native_ops)}


#: the fused optimizer kernels of torch (in place and functional forms)
FUSED_OPTIMIZER_OPS = ("_fused_adam_", "_fused_adam", "_fused_adamw_", "_fused_adamw",
                       "_fused_sgd_", "_fused_sgd", "_fused_adagrad_", "_fused_adagrad")

#: packages installed only as oracles of the course's own tests (requirements-dev.txt): each
#: implements an exercise (Lion, the range test), so no graded unit may run them, whatever its chapter
TEST_ORACLES = Forbidden(modules=("lion_pytorch", "torch_lr_finder"))

#: what an optimizer, schedule, projection or clipping exercise may not run: torch's
#: optimizers and schedulers, torch's gradient clipping, scikit-learn's SGD and Adam
OPTIMIZER_IMPLEMENTATIONS = Forbidden(
    modules=("torch.optim", "torch.nn.utils.clip_grad", "sklearn.neural_network._stochastic_optimizers")
    + TEST_ORACLES.modules,
    native_ops=FUSED_OPTIMIZER_OPS,
)
NOTHING = Forbidden()

#: what a learning-rate finder exercise may not run: a range test someone else wrote
#: (torch-lr-finder, fast.ai's lr_find); torch's optimizers are the tools it drives, on purpose
LR_FINDER_IMPLEMENTATIONS = Forbidden(modules=("torch_lr_finder", "fastai.callback.schedule")) | TEST_ORACLES

#: what a training-loop exercise may not run: adaptive gradient clipping someone else wrote (timm's
#: ``timm.utils.agc``, ``nfnets``); torch's optimizers and ``clip_grad_norm_`` are its tools, on purpose
TRAINING_LOOP_IMPLEMENTATIONS = Forbidden(modules=("timm.utils.agc", "nfnets")) | TEST_ORACLES


def union(forbidden: list[Forbidden]) -> Forbidden:
    """Everything any of ``forbidden`` forbids."""
    return functools.reduce(lambda a, b: a | b, forbidden, NOTHING)
