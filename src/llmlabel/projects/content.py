"""Versions loaded from the store by content hash, parsed once per process.

A worker on any host labels with exactly the text a batch was submitted under:
the item carries the hashes, the text comes from Redis (one GET per version the
first time), and the parsed guideline, prompt and task object are kept in this
process. Hashes make the cache trivially correct: the content under a hash never
changes, so nothing is ever invalidated, only evicted when the cache is full.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import TypeVar

from llmlabel.definitions import CheckedPair, check_pair
from llmlabel.guidelines import Guideline, PromptTemplate, parse_guideline, parse_prompt
from llmlabel.store import Store
from llmlabel.store.project_models import Kind
from llmlabel.tasks import Task, build_task

__all__ = ["VersionCache"]

K = TypeVar("K")
V = TypeVar("V")


class _Lru(OrderedDict[K, V]):
    """A small LRU map (versions are few; the bound only guards against unbounded growth)."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def put(self, key: K, value: V) -> V:
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.size:
            self.popitem(last=False)
        return value


class VersionCache:
    """Guidelines, prompts, tasks and checked pairs by (team, hash), read from the store once."""

    def __init__(self, store: Store, *, size: int = 512) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._texts: _Lru[tuple[str, str, str], str] = _Lru(size)
        self._guidelines: _Lru[tuple[str, str, str, str], tuple[Guideline, Task]] = _Lru(size)
        self._prompts: _Lru[tuple[str, str, str, str], PromptTemplate] = _Lru(size)
        self._pairs: _Lru[tuple[str, str, str, str, str, str], CheckedPair] = _Lru(size)

    def text(self, team: str, kind: Kind, sha256: str) -> str:
        """A version's text (NotFoundError when the team holds no such content)."""
        key = (team, kind, sha256)
        with self._lock:
            if key in self._texts:
                return self._texts[key]
        text = self.store.version_text(team, kind, sha256)
        with self._lock:
            return self._texts.put(key, text)

    def guideline(
        self, team: str, sha256: str, *, task: str, version: str
    ) -> tuple[Guideline, Task]:
        """The parsed guideline under a hash and the task object built from it."""
        key = (team, sha256, task, version)
        with self._lock:
            if key in self._guidelines:
                return self._guidelines[key]
        guideline = parse_guideline(self.text(team, "guideline", sha256), task=task,
                                    version=version)
        built = (guideline, build_task(guideline))
        with self._lock:
            return self._guidelines.put(key, built)

    def prompt(self, team: str, sha256: str, *, task: str, version: str) -> PromptTemplate:
        """The parsed prompt under a hash."""
        key = (team, sha256, task, version)
        with self._lock:
            if key in self._prompts:
                return self._prompts[key]
        prompt = parse_prompt(self.text(team, "prompt", sha256), task=task, version=version)
        with self._lock:
            return self._prompts.put(key, prompt)

    def checked_pair(
        self, team: str, task: str, gv: str, gh: str, pv: str, ph: str
    ) -> CheckedPair:
        """A guideline and prompt checked together (render included), once per hash pair."""
        key = (team, task, gv, gh, pv, ph)
        with self._lock:
            if key in self._pairs:
                return self._pairs[key]
        pair = check_pair(
            task, self.text(team, "guideline", gh), self.text(team, "prompt", ph),
            guideline_version=gv, prompt_version=pv,
        )
        with self._lock:
            return self._pairs.put(key, pair)
