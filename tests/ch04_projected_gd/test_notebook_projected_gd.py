"""The chapter's source notebook: grading markup, and its solution against every check."""
from chapter_notebook import ROOT, ChapterNotebookTests


class TestProjectedGDNotebook(ChapterNotebookTests):
    SOURCE = ROOT / "solutions" / "04_projected_gd" / "projected_gd.ipynb"
    CLASS = "ProjectedGD"
    CHECK_IDS = [
        "projections.soft_threshold",
        "projections.project_box",
        "projections.step_l1",
        "projections.step_box",
        "projections.step_none_and_no_grad",
    ]
    MUTANTS = [
        ("box_branch_missing", 'elif self.constraint == "box":', 'elif False:'),
        ("threshold_times_lr", "self.soft_threshold(p, self.threshold)", "self.soft_threshold(p, self.lr * self.threshold)"),
        ("relu_instead_of_soft_threshold", "torch.sign(x) * torch.clamp(torch.abs(x) - threshold, min=0.0)",
         "torch.clamp(x - threshold, min=0.0)"),
        ("none_bound_as_zero", "return torch.clamp(x, min=min_val, max=max_val)",
         "return torch.clamp(x, min=min_val or 0.0, max=max_val if max_val is not None else math.inf)"),
        ("no_grad_not_skipped", "if p.grad is None:\n                    continue", "if p.grad is None:\n                    p.grad = torch.ones_like(p)"),
    ]
