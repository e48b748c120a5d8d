"""Reference library of the Optimization for Deep Learning course.

The five graded classes (the reference solutions students are graded against):

- :class:`GradientDescentOptimizer` (chapter 1): SGD, momentum, Nesterov.
- :class:`AdamOptimizer` (chapter 2): Adam with bias correction.
- :class:`LRScheduler` (chapter 3): step decay, cosine, warmup + cosine.
- :class:`ProjectedGD` (chapter 4): gradient step, then soft thresholding or box projection.
- :class:`ClippingOptimizer` (chapter 5): clipping by norm and value, trust-region pull.
- :class:`ReduceLROnPlateau` (chapter 7), next to the six graded schedule functions of
  :mod:`course_lib.schedule_zoo`.

Chapter 10 grades four functions, in :mod:`course_lib.training_loop`: ``train_step``,
``adaptive_clip_grad_``, ``param_groups`` and ``fit``.
"""

from importlib import import_module

# Each reference class is imported on first use, not with the package: a grading
# worker imports ``course_lib.grading`` and must not have the reference solutions
# loaded (it blocks them before running a student's code).
_HOMES = {
    "AdamOptimizer": "course_lib.adam",
    "AdamWOptimizer": "course_lib.adam",
    "ClippingOptimizer": "course_lib.clipping",
    "GradientDescentOptimizer": "course_lib.gradient_descent",
    "LRScheduler": "course_lib.lr_scheduler",
    "ProjectedGD": "course_lib.projections",
    "ReduceLROnPlateau": "course_lib.plateau",
}

__all__ = sorted(_HOMES)


def __getattr__(name: str):
    if name in _HOMES:
        return getattr(import_module(_HOMES[name]), name)
    raise AttributeError(f"module 'course_lib' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
