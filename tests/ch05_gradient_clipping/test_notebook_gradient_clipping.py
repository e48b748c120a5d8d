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
    VISIBLE_OUTPUT = "OK"  # each visible cell ends with print("<what>: OK")
    test_visible_tests_catch_mistake = None  # no mutants written for this chapter yet
