"""The only place that renders prompt templates and guidelines into messages.

Message order puts everything stable first (system: guideline + schema; then the
few-shot turns) and the item last, so provider prompt caches serve the prefix.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from jinja2 import (
    Environment,
    StrictUndefined,
    Template,
    TemplateError,
    TemplateSyntaxError,
    UndefinedError,
)
from pydantic import BaseModel

from llmlabel.domain import Message
from llmlabel.errors import DefinitionError
from llmlabel.guidelines import Guideline, PromptTemplate
from llmlabel.tasks.base import Task

__all__ = ["render_messages"]

_ENV = Environment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False)
_ENV.filters["tojson"] = lambda value: json.dumps(value, ensure_ascii=False)


@lru_cache(maxsize=256)
def _compile(source: str) -> Template:
    # Compiling costs milliseconds and a version's templates never change: compile once.
    return _ENV.from_string(source)


def _render(source: str, variables: dict[str, Any], where: str, field: str) -> str:
    """Render one template; DefinitionError names the field (and the template line, if known)."""
    try:
        return _compile(source).render(**variables).strip()
    except UndefinedError as exc:
        raise DefinitionError(
            f"prompt {where}: {field}: template variable missing: {exc.message}",
            part="prompt", field=field,
        ) from exc
    except TemplateSyntaxError as exc:
        # exc.lineno counts lines of this template only; callers turn it into a text line.
        raise DefinitionError(
            f"prompt {where}: {field}: template syntax error: {exc.message}",
            part="prompt", field=field, line=exc.lineno,
        ) from exc
    except TemplateError as exc:
        raise DefinitionError(
            f"prompt {where}: {field}: {exc}", part="prompt", field=field
        ) from exc


def _system_variables(task: Task, guideline: Guideline) -> dict[str, Any]:
    return {
        "guideline": guideline.text,
        "labels": guideline.labels,
        "label_descriptions": guideline.label_descriptions,
        "options": guideline.options,
        "schema": json.dumps(task.llm_schema(), ensure_ascii=False),
    }


def render_messages(
    task: Task,
    prompt: PromptTemplate,
    item: BaseModel,
    variant: int,
    examples: Sequence[tuple[BaseModel, dict[str, Any]]] = (),
) -> list[Message]:
    """Messages for one item in one prompt variant: system, few-shot turns, then the item.

    `examples` (input view, assistant answer) are the ones chosen for this item from the
    project's pool: after the fixed block's cache mark, so the cached prefix is unchanged.
    """
    guideline = task.guideline
    where = f"{prompt.task}/{prompt.version}"
    system_vars = _system_variables(task, guideline)
    messages = [Message(role="system", content=_render(prompt.system, system_vars, where, "system"))]
    for example in guideline.few_shot:
        example_item = task.validate_input(example.input)
        user_vars = {**system_vars, **task.prompt_variables(example_item, 0)}
        messages.append(Message(role="user", content=_render(prompt.user, user_vars, where, "user")))
        messages.append(
            Message(role="assistant", content=json.dumps(example.output, ensure_ascii=False))
        )
    # Everything so far is identical for every item of this version: mark it cacheable.
    messages[-1] = messages[-1].model_copy(update={"cache": True})
    for example_view, answer in examples:
        user_vars = {**system_vars, **task.prompt_variables(example_view, 0)}
        messages.append(Message(role="user", content=_render(prompt.user, user_vars, where, "user")))
        messages.append(Message(role="assistant", content=json.dumps(answer, ensure_ascii=False)))
    user_vars = {**system_vars, **task.prompt_variables(item, variant)}
    messages.append(Message(role="user", content=_render(prompt.user, user_vars, where, "user")))
    return messages
