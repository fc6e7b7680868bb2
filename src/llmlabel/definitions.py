"""Check a guideline and prompt pair before it is stored: parse, build the task, render.

A version is data other people label with, so it is checked as a whole when it
is created, not when a worker first meets it: the front matter parses, the task
builds its label schema from it, every few-shot example fits the task (its input
validates, its output parses as an answer), and the prompt renders for the first
few-shot example (or a built-in sample item). Every failure is a
`DefinitionError` naming the part (guideline or prompt), the field and the line
of the submitted text. Pure: no I/O.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from llmlabel.errors import DefinitionError, InputError, LlmlabelError
from llmlabel.guidelines import (
    Guideline,
    PromptTemplate,
    block_start_line,
    definition_line,
    parse_guideline,
    parse_prompt,
)
from llmlabel.prompts import render_messages
from llmlabel.tasks import TASK_TYPES, Task, build_task

__all__ = ["SAMPLE_INPUTS", "CheckedPair", "check_guideline", "check_pair"]

SAMPLE_INPUTS: dict[str, dict[str, Any]] = {
    "classification": {"text": "The parcel arrived on time and the staff were friendly."},
    "ner": {"text": "Maria flew from Lisbon to Oslo with Norwegian Air."},
    "safety": {"text": "What time does the library open on Sundays?"},
    "preference": {
        "prompt": "Human: How do I keep basil alive indoors?",
        "responses": ["Give it sun and water when the soil is dry.", "Basil is a plant."],
    },
    "instruction": {
        "instruction": "Summarise the text in one line.",
        "context": "The council extended library opening hours on weekends.",
        "response": "Libraries open longer on weekends.",
    },
}
"""An item per task type to render a prompt with when the guideline has no few-shot example."""


@dataclass(frozen=True, slots=True)
class CheckedPair:
    """A guideline and prompt that passed every check, and the task built from them."""

    guideline: Guideline
    prompt: PromptTemplate
    task: Task


def _located(exc: DefinitionError, text: str) -> DefinitionError:
    """The error with its line filled in from its field, when it had none."""
    if exc.line is not None or exc.field is None:
        return exc
    line = definition_line(exc.part, text, exc.field)
    if line is None:
        return exc
    return DefinitionError(
        f"{exc} (line {line})", part=exc.part, field=exc.field, line=line,
        problems=[{**p, "line": p.get("line") or line} for p in exc.problems],
    )


def _guideline_error(text: str, field: str, message: str) -> DefinitionError:
    line = definition_line("guideline", text, field)
    where = f" (line {line})" if line else ""
    return DefinitionError(
        f"guideline: {field}{where}: {message}", part="guideline", field=field, line=line
    )


def check_guideline(task_type: str, text: str, *, version: str = "draft") -> tuple[Guideline, Task]:
    """Parse a guideline and build its task; every few-shot example must fit the task."""
    if task_type not in TASK_TYPES:
        raise InputError(
            f"unknown task type {task_type!r} (known: {', '.join(sorted(TASK_TYPES))})",
            field="task",
        )
    guideline = parse_guideline(text, task=task_type, version=version)
    try:
        task = build_task(guideline)
        task.llm_schema()
        task.label_model()
    except DefinitionError as exc:
        raise _located(exc, text) from None
    except (LlmlabelError, ValueError, TypeError) as exc:
        raise DefinitionError(f"guideline: {exc}", part="guideline") from None
    for index, example in enumerate(guideline.few_shot):
        where = f"few_shot.{index}"
        try:
            view = task.validate_input(example.input)
        except InputError as exc:
            field = f"{where}.input.{exc.field}" if exc.field else f"{where}.input"
            raise _guideline_error(text, field, f"the example input does not fit: {exc}") from None
        sample = task.parse_sample(view, json.dumps(example.output), index=0, variant=0)
        if sample.error is not None:
            raise _guideline_error(
                text, f"{where}.output", f"the example answer does not parse: {sample.error}"
            ) from None
    return guideline, task


def _render_item(task: Task, guideline: Guideline) -> BaseModel:
    if guideline.few_shot:
        return task.validate_input(guideline.few_shot[0].input)
    return task.validate_input(SAMPLE_INPUTS[task.name])


def check_pair(
    task_type: str,
    guideline_text: str,
    prompt_text: str,
    *,
    guideline_version: str = "draft",
    prompt_version: str = "draft",
) -> CheckedPair:
    """Check a guideline and a prompt together; DefinitionError names part, field and line."""
    guideline, task = check_guideline(task_type, guideline_text, version=guideline_version)
    prompt = parse_prompt(prompt_text, task=task_type, version=prompt_version)
    try:
        render_messages(task, prompt, _render_item(task, guideline), 0)
    except DefinitionError as exc:
        if exc.part != "prompt" or exc.field not in ("system", "user"):
            raise
        start = block_start_line(prompt_text, exc.field)
        line = (start + exc.line - 1) if (start and exc.line) else start
        message = str(exc).split(": ", 1)[-1]
        where = f" (line {line})" if line else ""
        raise DefinitionError(
            f"prompt: {message}{where}", part="prompt", field=exc.field, line=line
        ) from None
    return CheckedPair(guideline=guideline, prompt=prompt, task=task)
