"""Reference library of the Optimization for Deep Learning course.

The graded classes (the reference solutions students are graded against):

- :class:`GradientDescentOptimizer` (chapter 1): SGD, momentum, Nesterov.
- :class:`AdamOptimizer` (chapter 2): Adam with bias correction.
- :class:`LRScheduler` (chapter 3): step decay, cosine, warmup + cosine.
- :class:`ProjectedGD` (chapter 4): gradient step, then soft thresholding or box projection.
- :class:`ClippingOptimizer` (chapter 5): clipping by norm and value, trust-region pull.
- :class:`AdagradOptimizer`, :class:`RMSpropOptimizer`, :class:`AdamWOptimizer`,
  :class:`LionOptimizer`, :class:`LAMBOptimizer` (chapter 6): the optimizer zoo.
- :class:`ReduceLROnPlateau` (chapter 7), next to the six graded schedule functions of
  :mod:`course_lib.schedule_zoo`.
- chapter 8's graded functions ``lr_range_test`` and ``suggest_lr`` live in :mod:`course_lib.lr_finder`.

Chapter 9 grades three functions of :mod:`course_lib.landscapes`:
``filter_normalized_direction``, ``loss_along_line`` and ``loss_surface``.

Chapter 10 grades four functions, in :mod:`course_lib.training_loop`: ``train_step``,
``adaptive_clip_grad_``, ``param_groups`` and ``fit``.
"""

from importlib import import_module

# Each reference class is imported on first use, not with the package: a grading
# worker imports ``course_lib.checks`` and must not have the reference solutions
# loaded (it blocks them before running a student's code).
_HOMES = {
    "AdagradOptimizer": "course_lib.adagrad",
    "AdamOptimizer": "course_lib.adam",
    "AdamWOptimizer": "course_lib.adam",
    "ClippingOptimizer": "course_lib.clipping",
    "GradientDescentOptimizer": "course_lib.gradient_descent",
    "LAMBOptimizer": "course_lib.lamb",
    "LARSOptimizer": "course_lib.lars",
    "LionOptimizer": "course_lib.lion",
    "LRScheduler": "course_lib.lr_scheduler",
    "ProjectedGD": "course_lib.projections",
    "RMSpropOptimizer": "course_lib.rmsprop",
    "ReduceLROnPlateau": "course_lib.plateau",
}

__all__ = sorted(_HOMES)


def __getattr__(name: str):
    if name in _HOMES:
        return getattr(import_module(_HOMES[name]), name)
    raise AttributeError(f"module 'course_lib' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
