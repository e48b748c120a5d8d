"""The chapter's source notebook: markup, solution against every check, mistakes the visible tests catch."""
import re

import pytest
import torch
from chapter_notebook import ROOT, ChapterNotebookTests, cells


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


# The mini-batch exercise (ungraded): the visible asserts on epoch_batches pass on the solution and fail on
# plausible mistakes. Only epoch_batches is run (the training grid is exercised by executing the notebook).
BATCHER_MUTANTS = {
    "drops_last_partial_batch": ("order = torch.randperm(n, generator=generator)\n"
                                 "    return list(order.split(batch_size))[:n // batch_size]"),
    "no_shuffle": "return [torch.arange(n)[start:start + batch_size] for start in range(0, n, batch_size)]",
    "fresh_generator_each_epoch": ("order = torch.randperm(n, generator=torch.Generator().manual_seed(0))\n"
                                   "    return [order[start:start + batch_size] for start in range(0, n, batch_size)]"),
    "global_random_state": ("order = torch.randperm(n)\n"
                            "    return [order[start:start + batch_size] for start in range(0, n, batch_size)]"),
}


def _batcher_and_check() -> tuple[str, str]:
    by_id = {meta["grade_id"]: c.source for c, meta in cells(TestGradientDescentNotebook.SOURCE)}
    solution = re.search(r"def epoch_batches.*?### END SOLUTION", by_id["minibatch_solution"], re.DOTALL).group(0)
    return solution, by_id["minibatch_check"]


def _run_check(batcher: str, check_cell: str) -> None:
    namespace = {"torch": torch, "List": list}
    exec(compile(batcher, "<epoch_batches>", "exec"), namespace)
    exec(compile(check_cell, "<minibatch_check>", "exec"), namespace)


def test_batch_check_passes_on_solution():
    _run_check(*_batcher_and_check())


@pytest.mark.parametrize("mistake", sorted(BATCHER_MUTANTS))
def test_batch_check_catches_mistake(mistake):
    solution, check_cell = _batcher_and_check()
    body = re.search(r"### BEGIN SOLUTION\n(.*?)\n\s*### END SOLUTION", solution, re.DOTALL)
    wrong = solution[:body.start(1)] + "    " + BATCHER_MUTANTS[mistake] + solution[body.end(1):]
    with pytest.raises(AssertionError):
        _run_check(wrong, check_cell)
