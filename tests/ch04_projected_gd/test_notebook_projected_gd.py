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
    VISIBLE_OUTPUT = "OK"  # each visible cell ends with print("<what>: OK")
    test_visible_tests_catch_mistake = None  # no mutants written for this chapter yet
