"""The named checks behind the notebooks' graded test cells.

``REGISTRY`` maps a check id (``"adam.large_eps"``) to a :class:`CheckSpec`:
the class it grades, a one-line description printed when it passes, and the
function that drives a :class:`~course_lib.checks.subjects.Subject` and
raises :class:`~course_lib.checks.errors.CheckFailed` at the first
disagreement with its oracle (torch.optim, torch.optim.lr_scheduler,
torch.nn.utils or a closed form; never the course's reference solutions).
"""

from __future__ import annotations

from course_lib.checks.chapters import (
    adam, clipping, gradient_descent, landscapes, lr_finder, optimizer_zoo, projections, schedule_zoo, schedules,
    training_loop,
)
from course_lib.checks.chapters._spec import CheckSpec

REGISTRY: dict[str, CheckSpec] = {
    spec.check_id: spec
    for module in (gradient_descent, adam, schedules, projections, clipping, optimizer_zoo, schedule_zoo,
                   lr_finder, landscapes, training_loop)
    for spec in module.CHECKS
}

__all__ = ["REGISTRY", "CheckSpec"]
