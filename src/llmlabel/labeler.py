"""Label one item: render, sample adaptively, parse, aggregate, route.

The labeler knows tasks, prompts and backends; it knows nothing of Redis or
HTTP. The CLI calls it in-process, the worker calls it inside RQ jobs.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import defaultdict
from collections.abc import Sequence
from statistics import fmean
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from llmlabel.backends.base import Backend
from llmlabel.backends.callcache import CallCache, sample_or_reuse
from llmlabel.backends.sampling import effective_pricing
from llmlabel.calibration import FITTED_SIGNAL, CalibrationFit, FitStatus, is_audited
from llmlabel.consistency import next_round_size, should_stop
from llmlabel.domain import (
    Completion,
    Consensus,
    LabelRecord,
    Message,
    PartialLabel,
    Route,
    Sample,
    Usage,
)
from llmlabel.errors import BudgetExceededError, InputError
from llmlabel.fewshot import PoolSnapshot, select_examples
from llmlabel.guidelines import PromptTemplate, VersionRegistry
from llmlabel.prompts import render_messages
from llmlabel.routing import Cutoff, decide_route
from llmlabel.tasks import Task, build_task

if TYPE_CHECKING:
    from llmlabel.ratelimit import RateLimiter
    from llmlabel.settings import Settings
    from llmlabel.spend import SpendMeter

__all__ = ["Labeler", "build_labeler", "confidence_signals", "cutoff_for"]


def confidence_signals(consensus: Consensus, samples: list[Sample]) -> dict[str, float | None]:
    """The confidence signals recorded side by side so they can be compared on the same items.

    consistency: the task's agreement-based confidence; logprob: geometric mean token
    probability of the valid answers (when the provider returns logprobs);
    verbalized: the mean confidence the model states in its answers; valid_share and
    samples: usable share and count of the samples drawn; then the task's own
    agreement measures (per span, per flag, category, display order, ...).
    """
    valid = [s for s in samples if s.valid]
    logprobs = [s.mean_logprob for s in valid if s.mean_logprob is not None]
    stated = [s.verbalized_confidence for s in valid if s.verbalized_confidence is not None]
    signals: dict[str, float | None] = {
        "consistency": consensus.confidence,
        "logprob": math.exp(fmean(logprobs)) if logprobs else None,
        "verbalized": fmean(stated) if stated else None,
        "valid_share": len(valid) / len(samples) if samples else None,
        "samples": float(len(samples)),
    }
    signals.update(consensus.signals)
    return signals


def cutoff_for(fit: CalibrationFit | None, signals: dict[str, float | None]) -> Cutoff | None:
    """What a calibration fit routes on for these signals; records the fitted score too.

    An uncalibrated fit (too little evidence) leaves routing to the configured
    threshold, but a fitted score model still adds its score to the signals.
    """
    if fit is None:
        return None
    score = fit.score(signals)
    if fit.score_model is not None:
        signals[FITTED_SIGNAL] = round(score, 6)
    if fit.threshold.status == FitStatus.UNCALIBRATED:
        return None
    return Cutoff(
        signal=fit.score_signal, score=score, threshold=fit.threshold.threshold, fit_id=fit.fit_id
    )


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
        calibration: CalibrationFit | None = None,
        audit: bool = False,
        project: str | None = None,
    ) -> None:
        self.task = task
        self.project = project
        self.guideline = task.guideline
        self.prompt = prompt
        self.backend = backend
        self.limiter = limiter
        self.fixed_k = fixed_k
        # The fit that routes this version's labels (None: the configured threshold);
        # audit: draw the blind audit of accepted labels (the service does, eval does not).
        self.calibration = calibration
        self.audit = audit
        self._schema = task.llm_schema()

    async def label(
        self,
        item_id: str,
        item: dict[str, Any],
        *,
        meter: SpendMeter | None = None,
        resume: PartialLabel | None = None,
        cache: CallCache | None = None,
        calibration: CalibrationFit | None = None,
        audit: bool | None = None,
        pilot: bool = False,
        pool: PoolSnapshot | None = None,
    ) -> LabelRecord:
        """Label one item. Raises InputError for a bad item and BackendError when the provider fails.

        `meter` records (and budgets) every provider attempt. BudgetExceededError
        leaves with what was drawn so far as its `partial`; pass that back as
        `resume` to go on exactly there (the interrupted round first). With a
        `cache`, a call answered before is reused instead of made again.
        `calibration` and `audit` override the labeler's own for this item (a
        worker shares one labeler among teams, each with its own fit). `pilot`: the
        item's batch is a pilot (see `record`). With a `pool` snapshot and a guideline
        asking for `similar_examples`, the examples chosen for the item follow the
        fixed few-shot block and are recorded on the label.
        """
        view = self.task.validate_input(item)
        shots = self.shots_for(item, pool)
        turns = [(v, a) for _, v, a in shots]
        policy = self.guideline.sampling
        started = time.perf_counter()
        samples: list[Sample] = list(resume.samples) if resume is not None else []
        usage = resume.usage if resume is not None else Usage()
        have = {s.index for s in samples}
        round_end = 0
        missing = [i for i in range(resume.round_end) if i not in have] if resume else []
        try:
            while True:
                if missing:
                    indices, missing = missing, []
                elif k := next_round_size(len(samples), policy, self.fixed_k):
                    indices = list(range(len(samples), len(samples) + k))
                else:
                    break
                round_end = max(indices) + 1
                new_samples, round_usage = await self._draw(view, indices, meter, cache, turns)
                samples = sorted([*samples, *new_samples], key=lambda s: s.index)
                usage = usage + round_usage
                if self.fixed_k is None and len(samples) >= round_end:
                    keys = self.task.aggregate(view, samples).answer_keys
                    if should_stop(keys, len(samples), policy):
                        break
        except BudgetExceededError as exc:
            drawn = exc.partial if isinstance(exc.partial, tuple) else ([], Usage())
            samples = sorted([*samples, *drawn[0]], key=lambda s: s.index)
            exc.partial = PartialLabel(samples=samples, usage=usage + drawn[1], round_end=round_end)
            raise
        record = self.record(
            item_id, view, samples, usage, calibration=calibration, audit=audit, pilot=pilot
        )
        record.duration_s = round(time.perf_counter() - started, 6)
        if pool is not None and self.guideline.similar_examples is not None:
            record.examples, record.pool_snapshot = [i for i, _, _ in shots], pool.snapshot_id
        return record

    def shots_for(
        self, item: dict[str, Any], pool: PoolSnapshot | None
    ) -> list[tuple[str, BaseModel, dict[str, Any]]]:
        """(example id, input view, assistant answer) of the pool examples chosen for an item.

        A chosen example the task cannot show faithfully (an input it refuses, a label
        that would not read back) is left out rather than shown wrong.
        """
        wanted = self.guideline.similar_examples
        if wanted is None or pool is None:
            return []
        shots = []
        fields = tuple(self.task.input_model.model_fields)
        for example in select_examples(pool, item, wanted.k, fields):
            try:
                example_view = self.task.validate_input(example.input)
            except InputError:
                continue
            answer = self.task.example_answer(example_view, example.label)
            if answer is not None:
                shots.append((example.id, example_view, answer))
        return shots

    def record(
        self,
        item_id: str,
        view: BaseModel,
        samples: list[Sample],
        usage: Usage,
        *,
        calibration: CalibrationFit | None = None,
        audit: bool | None = None,
        pilot: bool = False,
    ) -> LabelRecord:
        """The consensus, confidence and route of the samples drawn for one item.

        `pilot`: the item's batch is a pilot, so a label routing would accept goes to
        review too (not audited: a pilot reviews everything, nothing is drawn).
        """
        consensus = self.task.aggregate(view, samples)
        valid = sum(1 for s in samples if s.valid)
        if samples and valid < len(samples):
            # The task scores agreement among usable samples; an unusable one is a vote
            # against the consensus too, so it lowers the confidence in proportion.
            scaled = consensus.confidence * valid / len(samples)
            consensus = consensus.model_copy(update={"confidence": scaled})
        signals = confidence_signals(consensus, samples)
        cutoff = cutoff_for(calibration or self.calibration, signals)
        route, reason = decide_route(
            consensus, self.guideline.routing, valid=valid, drawn=len(samples), cutoff=cutoff
        )
        audited = False
        if route == Route.ACCEPT and (self.audit if audit is None else audit) and is_audited(
            self.guideline.content_hash, item_id, self.guideline.routing.audit_share
        ):
            # Also reviewed, blind: the decision measures the precision of accepted labels.
            route, audited = Route.REVIEW, True
        piloted = pilot and route == Route.ACCEPT
        if piloted:
            # First, so reviewers still see only "pilot batch, confidence 0.95".
            route, reason = Route.REVIEW, f"pilot batch, {reason}"
        return LabelRecord(
            id=item_id,
            task=self.task.name,
            project=self.project,
            label=consensus.label,
            confidence=consensus.confidence,
            route=route,
            reason=reason,
            detail=consensus.detail,
            samples=samples,
            samples_used=len(samples),
            signals=signals,
            guideline_version=self.guideline.version,
            guideline_hash=self.guideline.content_hash,
            prompt_version=self.prompt.version,
            prompt_hash=self.prompt.content_hash,
            backend=self.backend.name,
            model=self.backend.model,
            usage=usage,
            threshold=cutoff.threshold if cutoff else self.guideline.routing.threshold,
            fit_id=cutoff.fit_id if cutoff else None,
            audited=audited,
            pilot=piloted,
        )

    def replay_adaptive(self, item: dict[str, Any], record: LabelRecord) -> LabelRecord:
        """What adaptive sampling would have produced from a fixed-k record's samples.

        Samples are drawn independently and the stopping rule only looks at a prefix,
        so replaying the rule over the first samples of a fixed-k run gives exactly the
        samples an adaptive run would have drawn (the variant of sample i depends on i
        alone). This lets one fixed-k run measure both. Completion tokens scale per
        sample; the prompt is billed once per call, so prompt and cached tokens scale
        with the calls the adaptive rounds would have made (a call with `n` per
        prompt variant per round; one call per sample without `n`).
        """
        view = self.task.validate_input(item)
        policy = self.guideline.sampling
        drawn, calls = 0, 0
        while k := next_round_size(drawn, policy):
            if drawn + k > len(record.samples):
                break
            calls += self._calls_for(view, drawn, k)
            drawn += k
            keys = self.task.aggregate(view, record.samples[:drawn]).answer_keys
            if should_stop(keys, drawn, policy):
                break
        made = record.usage.calls or self._calls_for(view, 0, len(record.samples))
        per_call = 1 / max(1, made)
        share = drawn / max(1, len(record.samples))
        usage = Usage(
            calls=calls,
            prompt_tokens=round(record.usage.prompt_tokens * per_call * calls),
            cached_tokens=round(record.usage.cached_tokens * per_call * calls),
            completion_tokens=round(record.usage.completion_tokens * share),
        )
        usage = usage.model_copy(
            update={"cost_usd": effective_pricing(self.backend.profile).cost(usage)}
        )
        return self.record(record.id, view, record.samples[:drawn], usage)

    @property
    def schema(self) -> dict[str, Any]:
        """The JSON schema every answer must fill."""
        return self._schema

    def plan_next(
        self, view: BaseModel, samples: list[Sample], round_end: int
    ) -> tuple[list[tuple[int, list[int]]], int]:
        """The provider calls (variant, sample indices) an item needs next, and its round's end.

        For drawing outside `label` (provider batch APIs: one round per provider
        batch): the missing samples of the current round first, then the next round
        unless the samples drawn settle the item. No calls: the item is done.
        """
        policy = self.guideline.sampling
        have = {s.index for s in samples}
        wanted = [i for i in range(round_end) if i not in have]
        if not wanted:
            if samples and self.fixed_k is None:
                keys = self.task.aggregate(view, samples).answer_keys
                if should_stop(keys, len(samples), policy):
                    return [], round_end
            k = next_round_size(len(samples), policy, self.fixed_k)
            if not k:
                return [], round_end
            wanted = list(range(len(samples), len(samples) + k))
            round_end = len(samples) + k
        by_variant: dict[int, list[int]] = defaultdict(list)
        for index in wanted:
            by_variant[self.task.variants(view, 1, index)[0]].append(index)
        if self.backend.supports_n:
            return list(by_variant.items()), round_end
        return [(v, [i]) for v, group in by_variant.items() for i in group], round_end

    def messages_for(
        self, view: BaseModel, variant: int, turns: Sequence[tuple[BaseModel, dict[str, Any]]] = ()
    ) -> list[Message]:
        """The rendered messages of one prompt variant of an item (with its chosen examples)."""
        return render_messages(self.task, self.prompt, view, variant, turns)

    def samples_of(
        self, view: BaseModel, variant: int, indices: list[int], completion: Completion
    ) -> list[Sample]:
        """The samples one completion's choices are, at these indices."""
        return self._parse(view, variant, indices, completion)

    def _calls_for(self, view: BaseModel, start: int, k: int) -> int:
        """Provider calls one round of k samples from `start` makes."""
        if not self.backend.supports_n:
            return k
        return len(set(self.task.variants(view, k, start)))

    async def _draw(
        self,
        view: BaseModel,
        indices: list[int],
        meter: SpendMeter | None,
        cache: CallCache | None = None,
        turns: Sequence[tuple[BaseModel, dict[str, Any]]] = (),
    ) -> tuple[list[Sample], Usage]:
        """Draw these samples; samples sharing a prompt variant share one call (n).

        A budget refusal of one call lets the others finish: their samples leave
        with the refusal (as `partial`: samples, usage), so none that was paid for is lost.
        """
        by_variant: dict[int, list[int]] = defaultdict(list)
        for index in indices:
            by_variant[self.task.variants(view, 1, index)[0]].append(index)
        results = await asyncio.gather(
            *(
                self._call(view, variant, group, meter, cache, turns)
                for variant, group in by_variant.items()
            ),
            return_exceptions=True,
        )
        failures = [r for r in results if isinstance(r, BaseException)]
        done = [r for r in results if not isinstance(r, BaseException)]
        samples = sorted((s for batch, _ in done for s in batch), key=lambda s: s.index)
        usage = sum((u for _, u in done), Usage())
        other = [f for f in failures if not isinstance(f, BudgetExceededError)]
        if other:
            raise other[0]
        if failures:
            refused = failures[0]
            assert isinstance(refused, BudgetExceededError)
            for failure in failures:
                extra = failure.partial  # type: ignore[attr-defined]
                if isinstance(extra, tuple):
                    samples.extend(extra[0])
                    usage = usage + extra[1]
            refused.partial = (samples, usage)
            raise refused
        return samples, usage

    async def _call(
        self,
        view: BaseModel,
        variant: int,
        indices: list[int],
        meter: SpendMeter | None,
        cache: CallCache | None = None,
        turns: Sequence[tuple[BaseModel, dict[str, Any]]] = (),
    ) -> tuple[list[Sample], Usage]:
        messages = render_messages(self.task, self.prompt, view, variant, turns)
        policy = self.guideline.sampling
        try:
            completion = await sample_or_reuse(
                self.backend,
                messages,
                self._schema,
                n=len(indices),
                temperature=policy.temperature,
                max_tokens=policy.max_tokens,
                first_index=indices[0],
                cache=cache,
                meter=meter,
                limiter=self.limiter,
            )
        except BudgetExceededError as exc:
            # The choices drawn before the refusal (single calls) become samples too.
            drawn = exc.partial
            exc.partial = (self._parse(view, variant, indices, drawn), drawn.usage) if isinstance(
                drawn, Completion
            ) else None
            raise
        return self._parse(view, variant, indices, completion), completion.usage

    def _parse(
        self, view: BaseModel, variant: int, indices: list[int], completion: Completion
    ) -> list[Sample]:
        return [
            self.task.parse_sample(
                view, choice.text, index=index, variant=variant, mean_logprob=choice.mean_logprob
            )
            for index, choice in zip(indices, completion.choices, strict=False)
        ]

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
