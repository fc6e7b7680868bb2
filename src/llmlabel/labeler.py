"""Label one item: render, sample adaptively, parse, aggregate, route.

The labeler knows tasks, prompts and backends; it knows nothing of Redis or
HTTP. The CLI calls it in-process, the worker calls it inside RQ jobs.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import defaultdict
from statistics import fmean
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from llmlabel.backends.base import Backend
from llmlabel.consistency import next_round_size, should_stop
from llmlabel.domain import Consensus, LabelRecord, Sample, Usage
from llmlabel.guidelines import PromptTemplate, VersionRegistry
from llmlabel.prompts import render_messages
from llmlabel.routing import decide_route
from llmlabel.tasks import Task, build_task

if TYPE_CHECKING:
    from llmlabel.ratelimit import RateLimiter
    from llmlabel.settings import Settings

__all__ = ["Labeler", "build_labeler", "confidence_signals"]

_CHARS_PER_TOKEN = 4  # rough estimate, only used to reserve tokens with a rate limiter


def confidence_signals(consensus: Consensus, samples: list[Sample]) -> dict[str, float | None]:
    """The confidence signals recorded side by side so they can be compared on the same items.

    consistency: the task's agreement-based confidence; logprob: geometric mean token
    probability of the valid answers (when the provider returns logprobs);
    verbalized: the mean confidence the model states in its answers.
    """
    valid = [s for s in samples if s.valid]
    logprobs = [s.mean_logprob for s in valid if s.mean_logprob is not None]
    stated = [s.verbalized_confidence for s in valid if s.verbalized_confidence is not None]
    return {
        "consistency": consensus.confidence,
        "logprob": math.exp(fmean(logprobs)) if logprobs else None,
        "verbalized": fmean(stated) if stated else None,
    }


class Labeler:
    """Labels items of one task under one guideline and prompt version with one backend."""

    def __init__(
        self,
        *,
        task: Task,
        prompt: PromptTemplate,
        backend: Backend,
        limiter: RateLimiter | None = None,
        fixed_k: int | None = None,
    ) -> None:
        self.task = task
        self.guideline = task.guideline
        self.prompt = prompt
        self.backend = backend
        self.limiter = limiter
        self.fixed_k = fixed_k
        self._schema = task.llm_schema()

    async def label(self, item_id: str, item: dict[str, Any]) -> LabelRecord:
        """Label one item. Raises InputError for a bad item and BackendError when the provider fails."""
        view = self.task.validate_input(item)
        policy = self.guideline.sampling
        started = time.perf_counter()
        samples: list[Sample] = []
        usage = Usage()
        while k := next_round_size(len(samples), policy, self.fixed_k):
            new_samples, round_usage = await self._draw(view, start=len(samples), k=k)
            samples.extend(new_samples)
            usage = usage + round_usage
            if self.fixed_k is None:
                keys = self.task.aggregate(view, samples).answer_keys
                if should_stop(keys, len(samples), policy):
                    break
        record = self.record(item_id, view, samples, usage)
        record.duration_s = round(time.perf_counter() - started, 6)
        return record

    def record(self, item_id: str, view: BaseModel, samples: list[Sample], usage: Usage) -> LabelRecord:
        """The consensus, confidence and route of the samples drawn for one item."""
        consensus = self.task.aggregate(view, samples)
        valid = sum(1 for s in samples if s.valid)
        if samples and valid < len(samples):
            # The task scores agreement among usable samples; an unusable one is a vote
            # against the consensus too, so it lowers the confidence in proportion.
            scaled = consensus.confidence * valid / len(samples)
            consensus = consensus.model_copy(update={"confidence": scaled})
        route, reason = decide_route(
            consensus, self.guideline.routing, valid=valid, drawn=len(samples)
        )
        return LabelRecord(
            id=item_id,
            task=self.task.name,
            label=consensus.label,
            confidence=consensus.confidence,
            route=route,
            reason=reason,
            detail=consensus.detail,
            samples=samples,
            samples_used=len(samples),
            signals=confidence_signals(consensus, samples),
            guideline_version=self.guideline.version,
            guideline_hash=self.guideline.content_hash,
            prompt_version=self.prompt.version,
            prompt_hash=self.prompt.content_hash,
            backend=self.backend.name,
            model=self.backend.model,
            usage=usage,
        )

    def replay_adaptive(self, item: dict[str, Any], record: LabelRecord) -> LabelRecord:
        """What adaptive sampling would have produced from a fixed-k record's samples.

        Samples are drawn independently and the stopping rule only looks at a prefix,
        so replaying the rule over the first samples of a fixed-k run gives exactly the
        samples an adaptive run would have drawn (the variant of sample i depends on i
        alone). This lets one fixed-k run measure both. Usage is scaled per sample.
        """
        view = self.task.validate_input(item)
        policy = self.guideline.sampling
        drawn = 0
        while k := next_round_size(drawn, policy):
            if drawn + k > len(record.samples):
                break
            drawn += k
            keys = self.task.aggregate(view, record.samples[:drawn]).answer_keys
            if should_stop(keys, drawn, policy):
                break
        share = drawn / max(1, len(record.samples))
        usage = record.usage.model_copy(update={
            "prompt_tokens": round(record.usage.prompt_tokens * share),
            "completion_tokens": round(record.usage.completion_tokens * share),
            "cost_usd": record.usage.cost_usd * share,
        })
        return self.record(record.id, view, record.samples[:drawn], usage)

    async def _draw(self, view: BaseModel, *, start: int, k: int) -> tuple[list[Sample], Usage]:
        """Draw samples start..start+k-1; samples sharing a prompt variant share one call (n)."""
        by_variant: dict[int, list[int]] = defaultdict(list)
        for offset, variant in enumerate(self.task.variants(view, k, start)):
            by_variant[variant].append(start + offset)
        results = await asyncio.gather(
            *(self._call(view, variant, indices) for variant, indices in by_variant.items())
        )
        samples = sorted((s for batch, _ in results for s in batch), key=lambda s: s.index)
        usage = sum((u for _, u in results), Usage())
        return samples, usage

    async def _call(self, view: BaseModel, variant: int, indices: list[int]) -> tuple[list[Sample], Usage]:
        messages = render_messages(self.task, self.prompt, view, variant)
        policy = self.guideline.sampling
        if self.limiter is not None:
            prompt_chars = sum(len(m.content) for m in messages)
            await self.limiter.acquire(
                requests=1,
                tokens=prompt_chars // _CHARS_PER_TOKEN + policy.max_tokens * len(indices),
            )
        completion = await self.backend.sample(
            messages,
            self._schema,
            n=len(indices),
            temperature=policy.temperature,
            max_tokens=policy.max_tokens,
        )
        samples = [
            self.task.parse_sample(
                view, choice.text, index=index, variant=variant, mean_logprob=choice.mean_logprob
            )
            for index, choice in zip(indices, completion.choices, strict=False)
        ]
        return samples, completion.usage

    async def aclose(self) -> None:
        await self.backend.aclose()


def build_labeler(
    settings: Settings,
    task_name: str,
    guideline_version: str | None = None,
    prompt_version: str | None = None,
    *,
    limiter: RateLimiter | None = None,
    registry: VersionRegistry | None = None,
    backend: Backend | None = None,
    fixed_k: int | None = None,
) -> Labeler:
    """A labeler for a task at the given versions (None: the latest on disk)."""
    from llmlabel.backends import build_backend

    registry = registry or VersionRegistry()
    guideline = registry.guideline(task_name, guideline_version)
    prompt = registry.prompt(task_name, prompt_version)
    return Labeler(
        task=build_task(guideline),
        prompt=prompt,
        backend=backend or build_backend(settings.profile()),
        limiter=limiter,
        fixed_k=fixed_k,
    )
