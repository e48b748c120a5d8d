"""The chapter's source notebook: markup, solution against every check, mistakes the visible tests catch."""
from chapter_notebook import ROOT, ChapterNotebookTests


class TestAdamNotebook(ChapterNotebookTests):
    SOURCE = ROOT / "solutions" / "02_adam" / "adam.ipynb"
    CLASS = "AdamOptimizer"
    CHECK_IDS = [
        'adam.first_step',
        'adam.matches_torch',
        'adam.large_eps',
        'adam.shared_timestep',
        'adam.many_steps',
    ]
    MUTANTS = [
        ('eps_inside_sqrt', 'torch.sqrt(v_hat) + self.eps', 'torch.sqrt(v_hat + self.eps)'),
        ('no_bias_correction', 'm_hat = m / (1 - self.beta1 ** self.t)', 'm_hat = m'),
        ('no_second_moment_correction', 'v_hat = v / (1 - self.beta2 ** self.t)', 'v_hat = v'),
        ('moments_not_in_place', 'm.mul_(self.beta1).add_((1 - self.beta1) * g)', 'm = self.beta1 * m + (1 - self.beta1) * g'),
        ('t_per_parameter', 'for p, m, v in zip(self.params, self.m, self.v):\n', 'for p, m, v in zip(self.params, self.m, self.v):\n                self.t += 1\n'),
        ('none_grad_not_skipped', 'if p.grad is None:\n                    continue', 'if p.grad is None:\n                    p.grad = torch.ones_like(p)'),
    ]
