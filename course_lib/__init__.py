"""Reference library of the Optimization for Deep Learning course.

The five graded classes (the reference solutions students are graded against):

- :class:`GradientDescentOptimizer` (chapter 1): SGD, momentum, Nesterov.
- :class:`AdamOptimizer` (chapter 2): Adam with bias correction.
- :class:`LRScheduler` (chapter 3): step decay, cosine, warmup + cosine.
- :class:`ProjectedGD` (chapter 4): gradient step, then soft thresholding or box projection.
- :class:`ClippingOptimizer` (chapter 5): clipping by norm and value, trust-region pull.
"""
