"""The chapter's source notebook: markup, solution against every check, mistakes the visible tests catch."""
from chapter_notebook import ROOT, ChapterNotebookTests


class TestGradientDescentNotebook(ChapterNotebookTests):
    SOURCE = ROOT / "solutions" / "01_gradient_descent" / "gradient_descent.ipynb"
    CLASS = "GradientDescentOptimizer"
    EXERCISES = ("minibatch_solution",)
    CHECK_IDS = [
        'gradient_descent.vanilla',
        'gradient_descent.momentum',
        'gradient_descent.nesterov',
        'gradient_descent.multiple_params',
    ]
    MUTANTS = [
        ('nesterov_ignored', 'p -= self.lr * (g + self.momentum * v)', 'p -= self.lr * v'),
        ('averaged_velocity', 'v.mul_(self.momentum).add_(g)', 'v.mul_(self.momentum).add_((1 - self.momentum) * g)'),
        ('velocity_not_in_place', 'v.mul_(self.momentum).add_(g)', 'v = self.momentum * v + g'),
        ('none_grad_not_skipped', 'if p.grad is None:\n                    continue', 'if p.grad is None:\n                    p.grad = torch.ones_like(p)'),
        ('momentum_ignored', 'p -= self.lr * v\n', 'p -= self.lr * g\n'),
    ]
