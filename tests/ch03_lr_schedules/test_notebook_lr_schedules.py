"""The chapter's source notebook: markup, solution against every check, mistakes the visible tests catch."""
from chapter_notebook import ROOT, ChapterNotebookTests


class TestLRSchedulesNotebook(ChapterNotebookTests):
    SOURCE = ROOT / "solutions" / "03_lr_schedules" / "lr_schedules.ipynb"
    CLASS = "LRScheduler"
    CHECK_IDS = [
        'schedules.step_decay',
        'schedules.cosine_annealing',
        'schedules.warmup_cosine',
        'schedules.past_total_steps',
        'schedules.step_counter',
    ]
    MUTANTS = [
        ('warmup_plus_one', 'self.base_lr * t / W', 'self.base_lr * (t + 1) / W'),
        ('float_division', 'self.current_step // decay_steps', 'self.current_step / decay_steps'),
        ('cosine_not_clamped', 't = min(self.current_step, self.total_steps)', 't = self.current_step'),
        ('progress_not_clamped', 'progress = min((t - W) / (T - W), 1.0)', 'progress = (t - W) / (T - W)'),
        ('cosine_over_whole_run', 'progress = min((t - W) / (T - W), 1.0)', 'progress = min(t / T, 1.0)'),
        ('min_lr_ignored', 'return float(min_lr + 0.5 * (self.base_lr - min_lr) * (1 + cosine))', 'return float(0.5 * self.base_lr * (1 + cosine))'),
    ]
