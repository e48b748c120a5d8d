"""The chapter's source notebook: markup, solutions against every check, mistakes the visible tests catch."""
from chapter_notebook import ROOT, ChapterNotebookTests

I16 = "\n" + " " * 16
I20 = "\n" + " " * 20


class TestOptimizerZooNotebook(ChapterNotebookTests):
    SOURCE = ROOT / "solutions" / "06_optimizer_zoo" / "optimizer_zoo.ipynb"
    CLASSES = ["AdagradOptimizer", "RMSpropOptimizer", "AdamWOptimizer", "LionOptimizer", "LAMBOptimizer"]
    EXERCISES = ("exercise_solution",)
    CHECK_IDS = [
        "adagrad.matches_torch",
        "adagrad.no_grad_many_steps",
        "rmsprop.matches_torch",
        "rmsprop.momentum_centered",
        "adamw.matches_torch",
        "adamw.shared_timestep",
        "lion.matches_paper",
        "lion.no_grad_many_steps",
        "lamb.matches_paper",
        "lamb.trust_ratio_edges",
    ]
    MUTANTS = [
        ("adagrad_eps_inside_sqrt", "p -= self.lr * g / (torch.sqrt(s) + self.eps)",
         "p -= self.lr * g / torch.sqrt(s + self.eps)"),
        ("adagrad_initial_value_ignored", "torch.full_like(p, initial_accumulator_value)", "torch.zeros_like(p)"),
        ("rmsprop_alpha_swapped", "s.mul_(self.alpha).add_((1 - self.alpha) * g * g)",
         "s.mul_(1 - self.alpha).add_(self.alpha * g * g)"),
        ("rmsprop_momentum_dampened", "b.mul_(self.momentum).add_(g / d)",
         "b.mul_(self.momentum).add_((1 - self.momentum) * g / d)"),
        ("adamw_no_decay", "p.mul_(1 - self.lr * self.weight_decay)" + I16 + "m.mul_", "m.mul_"),
        ("adamw_decay_without_lr", "p.mul_(1 - self.lr * self.weight_decay)" + I16 + "m.mul_",
         "p.mul_(1 - self.weight_decay)" + I16 + "m.mul_"),
        ("adamw_decays_frozen", "for p, m, v in zip(self.params, self.m, self.v):" + I16 + "if p.grad is None:"
         + I20 + "continue" + I16 + "g = p.grad" + I16 + "p.mul_(1 - self.lr * self.weight_decay)",
         "for p, m, v in zip(self.params, self.m, self.v):" + I16 + "p.mul_(1 - self.lr * self.weight_decay)" + I16
         + "if p.grad is None:" + I20 + "continue" + I16 + "g = p.grad"),
        ("lion_betas_swapped", "c = self.beta1 * m + (1 - self.beta1) * g", "c = self.beta2 * m + (1 - self.beta2) * g"),
        ("lion_sign_of_momentum", "c = self.beta1 * m + (1 - self.beta1) * g",
         "m.mul_(self.beta2).add_((1 - self.beta2) * g)" + I16 + "c = m.clone()"),
        ("lion_momentum_before_c",
         "c = self.beta1 * m + (1 - self.beta1) * g" + I16 + "p.mul_(1 - self.lr * self.weight_decay)" + I16
         + "p -= self.lr * torch.sign(c)" + I16 + "m.mul_(self.beta2).add_((1 - self.beta2) * g)",
         "m.mul_(self.beta2).add_((1 - self.beta2) * g)" + I16 + "c = self.beta1 * m + (1 - self.beta1) * g" + I16
         + "p.mul_(1 - self.lr * self.weight_decay)" + I16 + "p -= self.lr * torch.sign(c)"),
        ("lamb_no_bias_correction", "r = m_hat / (torch.sqrt(v_hat) + self.eps) + self.weight_decay * p",
         "r = m / (torch.sqrt(v) + self.eps) + self.weight_decay * p"),
        ("lamb_zero_ratio_for_zero_param", "if p_norm > 0 and r_norm > 0 else 1.0", "if r_norm > 0 else 1.0"),
        ("lamb_global_step_size", "trust_ratio = p_norm / r_norm if", "trust_ratio = 1.0 if"),
    ]
