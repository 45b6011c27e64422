"""Trial generators: seeded tasks returning time-major (inputs, targets, mask) batches.

``TASKS`` maps the names used in model cards to task classes; the config layer resolves
``task.name`` through it, once.
"""

from __future__ import annotations

from neuromorph.tasks.base import LossKind as LossKind
from neuromorph.tasks.base import Task as Task
from neuromorph.tasks.base import TrialBatch as TrialBatch
from neuromorph.tasks.evidence import EvidenceAccumulationTask as EvidenceAccumulationTask
from neuromorph.tasks.linear_teacher import LinearTeacherTask as LinearTeacherTask
from neuromorph.tasks.sine import SinePatternTask as SinePatternTask

#: Model-card task name -> task class.
TASKS: dict[str, type] = {
    "sine": SinePatternTask,
    "evidence": EvidenceAccumulationTask,
    "linear_teacher": LinearTeacherTask,
}

__all__ = [
    "TASKS",
    "EvidenceAccumulationTask",
    "LinearTeacherTask",
    "LossKind",
    "SinePatternTask",
    "Task",
    "TrialBatch",
]
