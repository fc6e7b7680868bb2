"""Task types, looked up by name."""

from __future__ import annotations

from llmlabel.errors import UnknownVersionError
from llmlabel.guidelines import Guideline
from llmlabel.tasks.base import Task
from llmlabel.tasks.classification import ClassificationTask
from llmlabel.tasks.instruction import InstructionTask
from llmlabel.tasks.ner import NerTask
from llmlabel.tasks.preference import PreferenceTask
from llmlabel.tasks.safety import SafetyTask

__all__ = ["TASK_TYPES", "Task", "build_task"]

TASK_TYPES: dict[str, type[Task]] = {
    cls.name: cls
    for cls in (ClassificationTask, InstructionTask, NerTask, PreferenceTask, SafetyTask)
}


def build_task(guideline: Guideline) -> Task:
    """The task object for a guideline version."""
    try:
        cls = TASK_TYPES[guideline.task]
    except KeyError:
        raise UnknownVersionError(
            f"unknown task {guideline.task!r} (known: {', '.join(sorted(TASK_TYPES))})"
        ) from None
    return cls(guideline)
