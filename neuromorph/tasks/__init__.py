"""Trial generators: seeded tasks returning time-major (inputs, targets, mask) batches.

``TASKS`` maps the names used in model cards to task classes; the config layer resolves
``task.name`` through it, once.
"""

from __future__ import annotations

from neuromorph.tasks.base import LossKind as LossKind
from neuromorph.tasks.base import Task as Task
from neuromorph.tasks.base import TrialBatch as TrialBatch
from neuromorph.tasks.data import DataTask as DataTask
from neuromorph.tasks.bandit import ContextualBanditTask as ContextualBanditTask
from neuromorph.tasks.digits import DigitsTask as DigitsTask
from neuromorph.tasks.dynamical import TrajectoryTask as TrajectoryTask
from neuromorph.tasks.evidence import EvidenceAccumulationTask as EvidenceAccumulationTask
from neuromorph.tasks.linear_teacher import LinearTeacherTask as LinearTeacherTask
from neuromorph.tasks.neurogym_tasks import NeurogymTask as NeurogymTask
from neuromorph.tasks.romo import RomoTask as RomoTask
from neuromorph.tasks.sine import SinePatternTask as SinePatternTask

#: Model-card task name -> task class.
TASKS: dict[str, type] = {
    "sine": SinePatternTask,
    "evidence": EvidenceAccumulationTask,
    "linear_teacher": LinearTeacherTask,
    "digits": DigitsTask,
    "trajectory": TrajectoryTask,
    "romo": RomoTask,
    "neurogym": NeurogymTask,
    "bandit": ContextualBanditTask,
    "data": DataTask,  #: the user's batches, given to train(spec, data=...) (neuromorph.tasks.data)
}

__all__ = [
    "TASKS",
    "ContextualBanditTask",
    "DataTask",
    "DigitsTask",
    "EvidenceAccumulationTask",
    "LinearTeacherTask",
    "LossKind",
    "NeurogymTask",
    "RomoTask",
    "SinePatternTask",
    "Task",
    "TrajectoryTask",
    "TrialBatch",
]
