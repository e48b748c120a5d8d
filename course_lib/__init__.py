"""Reference library of the Optimization for Deep Learning course.

The five graded classes (the reference solutions students are graded against):

- :class:`GradientDescentOptimizer` (chapter 1): SGD, momentum, Nesterov.
- :class:`AdamOptimizer` (chapter 2): Adam with bias correction.
- :class:`LRScheduler` (chapter 3): step decay, cosine, warmup + cosine.
- :class:`ProjectedGD` (chapter 4): gradient step, then soft thresholding or box projection.
- :class:`ClippingOptimizer` (chapter 5): clipping by norm and value, trust-region pull.
"""

from course_lib.adam import AdamOptimizer, AdamWOptimizer
from course_lib.clipping import ClippingOptimizer
from course_lib.gradient_descent import GradientDescentOptimizer
from course_lib.projections import ProjectedGD
from course_lib.schedules import LRScheduler

__all__ = [
    "AdamOptimizer",
    "AdamWOptimizer",
    "ClippingOptimizer",
    "GradientDescentOptimizer",
    "LRScheduler",
    "ProjectedGD",
]
