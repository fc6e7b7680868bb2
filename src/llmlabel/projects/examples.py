"""A project's example pool as the API and CLI use it: list, pin, exclude, edit, import gold.

Reviewed items enter the pool by themselves (in the review decision's Lua
step, see `store/pool.py`); this module holds what an operator does to it.
Edited inputs and labels are checked by the task of the project's active
guideline, like a reviewer's fix.
"""

from __future__ import annotations

from typing import Any

from llmlabel.fewshot import PoolExample
from llmlabel.projects.service import Projects
from llmlabel.store import Store
from llmlabel.store.pool import PoolFlag

__all__ = ["ExamplePool"]


class ExamplePool:
    """The operator's side of the example pool; every call names the team (isolation)."""

    def __init__(self, store: Store, projects: Projects) -> None:
        self.store = store
        self.projects = projects

    def page(
        self, team: str, name: str, *, cursor: str | None = None, limit: int = 50
    ) -> tuple[list[PoolExample], str | None]:
        """Examples newest first; NotFoundError for a project the team does not have."""
        info = self.projects.get(team, name)
        return self.store.pool_page(team, info.name, cursor=cursor, limit=limit)

    def get(self, team: str, name: str, example_id: str) -> PoolExample:
        info = self.projects.get(team, name)
        return self.store.pool_example(team, info.name, example_id)

    def flag(
        self, team: str, actor: str, name: str, example_id: str, flag: PoolFlag | None
    ) -> PoolExample:
        """Pin (always considered first), exclude (never used) or clear one example."""
        info = self.projects.get(team, name)
        return self.store.set_pool_flag(team, actor, info.name, example_id, flag)

    def edit(
        self,
        team: str,
        actor: str,
        name: str,
        example_id: str,
        *,
        input: dict[str, Any] | None = None,
        label: dict[str, Any] | None = None,
    ) -> PoolExample:
        """Replace an example's input and/or label, checked by the active guideline's task.

        An edited example stays as edited when its item is decided again.
        """
        info = self.projects.get(team, name)
        current = self.store.pool_example(team, info.name, example_id)
        task = self.projects.resolve(team, project=info.name).task
        new_input = current.input if input is None else input
        view = task.validate_input(new_input)
        new_label = task.validate_label(view, current.label if label is None else label)
        edited = current.model_copy(update={"edited": True, "input": new_input, "label": new_label})
        self.store.put_pool_examples(
            team, actor, info.name, [edited], action="project.example.edit"
        )
        return self.store.pool_example(team, info.name, example_id)

    def import_gold(self, team: str, actor: str, name: str) -> int:
        """Copy the project's gold items into the pool (edited examples are left alone)."""
        info = self.projects.get(team, name)
        golds = self.store.get_golds(team, self.projects.gold_ids(team, info))
        _, current = self.store.pool_examples(team, info.name)
        edited = {e.id for e in current if e.edited}
        examples = [
            PoolExample(
                id=g.gold_id, source="gold", task=g.task, input=g.input, label=g.label,
                at=g.created_at,
            )
            for g in golds
            if g.gold_id not in edited
        ]
        return self.store.put_pool_examples(
            team, actor, info.name, examples, action="project.example.import_gold"
        )
