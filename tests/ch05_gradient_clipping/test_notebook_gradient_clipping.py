"""The chapter's source notebook: grading markup, and its solution against every check."""
from chapter_notebook import ROOT, ChapterNotebookTests


class TestGradientClippingNotebook(ChapterNotebookTests):
    SOURCE = ROOT / "solutions" / "05_gradient_clipping" / "gradient_clipping.ipynb"
    CLASS = "ClippingOptimizer"
    CHECK_IDS = [
        "clipping.grad_norm",
        "clipping.clip_by_norm",
        "clipping.clip_by_value",
        "clipping.step",
        "clipping.step_with_constraint",
    ]
    MUTANTS = [
        ("pull_left_out", "param.grad.add_(self.kl_penalty * (param - reference_params[index]))", "pass"),
        ("pull_wrong_sign", "param.grad.add_(self.kl_penalty * (param - reference_params[index]))",
         "param.grad.add_(self.kl_penalty * (reference_params[index] - param))"),
        ("always_rescale", "if total_norm > self.clip_norm:", "if True:"),
        ("clip_value_ignored", "param.grad.clamp_(-self.clip_value, self.clip_value)", "pass"),
    ]
