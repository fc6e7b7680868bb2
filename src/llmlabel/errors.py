"""The one exception hierarchy of llmlabel.

Every error llmlabel raises on purpose derives from `LlmlabelError`; edges (CLI,
HTTP API, worker) translate them into a message, a problem+json response or a
failed item. Third-party errors are mapped at the boundary with `raise ... from`.

    LlmlabelError
    ├── ConfigError               bad settings, missing key or model file
    ├── GuidelineError            a guideline/prompt cannot be loaded or used
    │   ├── DefinitionError       a guideline/prompt text is invalid (part, field, line)
    │   ├── VersionConflictError  a version name already holds other content
    │   └── UnknownVersionError   no such task version
    ├── InputError                an input item does not fit its task
    │   ├── InvalidInputError     input fails checks; `errors` names each field or line
    │   └── PayloadTooLargeError  a request or a value in it is over a size limit
    ├── LabelValidationError      a (human or LLM) label does not fit the label model
    ├── SampleError               one LLM sample could not be parsed into a label
    ├── BackendError              a provider call failed
    │   ├── RetryableBackendError 429, 5xx, timeout, connection (retried)
    │   │   └── RateLimitedError  429, carries retry_after
    │   ├── PermanentBackendError other 4xx: fails at once
    │   └── RetriesExhaustedError the retry budget ran out
    ├── BudgetExceededError       a batch or team cost cap would be passed
    └── StoreError                a Redis-side rule was broken
        ├── NotFoundError         no such id (or not visible to this team)
        ├── ConflictError         idempotency or state conflict
        └── LeaseError            review lease expired or not yours
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "BackendError",
    "BudgetExceededError",
    "ConfigError",
    "ConflictError",
    "DefinitionError",
    "GuidelineError",
    "InputError",
    "InvalidInputError",
    "LabelValidationError",
    "LeaseError",
    "LlmlabelError",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermanentBackendError",
    "RateLimitedError",
    "RetriesExhaustedError",
    "RetryableBackendError",
    "SampleError",
    "StoreError",
    "UnknownVersionError",
    "VersionConflictError",
]


class LlmlabelError(Exception):
    """Base of every llmlabel error; its message is shown to the user as is."""


class ConfigError(LlmlabelError):
    """Settings are missing or wrong (the message says which and how to fix it)."""


class GuidelineError(LlmlabelError):
    """A guideline or prompt file cannot be loaded."""


class DefinitionError(GuidelineError):
    """A guideline or prompt text is invalid; `problems` name the part, field and line of each fault.

    `part` is "guideline" or "prompt"; `field` a dotted path into the front matter
    or prompt mapping (None for the document as a whole); `line` is 1-based in the
    text as submitted (None when no line can be pointed at).
    """

    def __init__(
        self,
        message: str,
        *,
        part: str,
        field: str | None = None,
        line: int | None = None,
        problems: list[dict[str, Any]] | None = None,
    ):
        super().__init__(message)
        self.part = part
        self.field = field
        self.line = line
        self.problems = problems or [
            {"part": part, "field": field, "line": line, "message": message}
        ]


class VersionConflictError(GuidelineError):
    """A version name already holds different content (versions are immutable)."""


class UnknownVersionError(GuidelineError):
    """The task or version does not exist."""


class InputError(LlmlabelError):
    """An input item does not fit its task; `field` names the offending field, `item` its id."""

    def __init__(self, message: str, *, field: str | None = None, line: int | None = None,
                 item: str | None = None):
        super().__init__(message)
        self.field = field
        self.line = line
        self.item = item


class InvalidInputError(InputError):
    """Input fails one or more checks; `errors` lists each as {field, message, line|index|in}."""

    def __init__(
        self,
        message: str,
        *,
        errors: list[dict[str, Any]],
        title: str = "Invalid input",
        field: str | None = None,
        line: int | None = None,
    ):
        super().__init__(message, field=field, line=line)
        self.errors = errors
        self.title = title


class PayloadTooLargeError(InputError):
    """A request or one value in it is over a size limit (`limit` names the setting)."""

    def __init__(
        self, message: str, *, limit: str, allowed: int, actual: int, field: str | None = None
    ):
        super().__init__(message, field=field)
        self.limit = limit
        self.allowed = allowed
        self.actual = actual


class LabelValidationError(LlmlabelError):
    """A label does not fit the task's label model; `errors` lists field problems."""

    def __init__(self, message: str, *, errors: list[dict[str, Any]] | None = None):
        super().__init__(message)
        self.errors = errors or []


class SampleError(LlmlabelError):
    """One LLM sample could not be turned into a label (recorded, not raised past the task)."""


class BackendError(LlmlabelError):
    """A call to an LLM provider failed."""

    def __init__(self, message: str, *, status_code: int | None = None):
        super().__init__(message)
        self.status_code = status_code


class RetryableBackendError(BackendError):
    """A transient provider failure: 429, 5xx, timeout or connection error."""


class RateLimitedError(RetryableBackendError):
    """The provider answered 429; `retry_after` is its hint in seconds, if any."""

    def __init__(self, message: str, *, retry_after: float | None = None):
        super().__init__(message, status_code=429)
        self.retry_after = retry_after


class PermanentBackendError(BackendError):
    """A provider error that retrying will not fix (bad request, auth, unknown model)."""


class RetriesExhaustedError(BackendError):
    """Transient failures went on past the retry budget."""

    def __init__(self, message: str, *, attempts: int, last_error: BaseException | None = None):
        super().__init__(message)
        self.attempts = attempts
        self.last_error = last_error


class BudgetExceededError(LlmlabelError):
    """Spending more would pass a batch or team cost cap.

    `scope` names the cap ("batch" or "team"), `cap_usd` and `spent_usd` are its
    figures when refused, `needed_usd` the worst case of the refused call. The
    labeler attaches what the item had already drawn as `partial` (a
    `domain.PartialLabel`), so labeling can resume exactly there.
    """

    def __init__(
        self,
        message: str,
        *,
        scope: str | None = None,
        cap_usd: float | None = None,
        spent_usd: float | None = None,
        needed_usd: float | None = None,
    ):
        super().__init__(message)
        self.scope = scope
        self.cap_usd = cap_usd
        self.spent_usd = spent_usd
        self.needed_usd = needed_usd
        self.partial: Any = None


class StoreError(LlmlabelError):
    """A storage rule was broken."""


class NotFoundError(StoreError):
    """No such object, or not visible to the caller's team."""


class ConflictError(StoreError):
    """The request conflicts with stored state (idempotency key reuse, wrong item state)."""


class LeaseError(StoreError):
    """A review lease is expired, unknown or held by someone else."""
