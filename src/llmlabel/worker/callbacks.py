"""Batch-finished callbacks: POST the BatchInfo of a batch whose labeling finished."""

from __future__ import annotations

import logging
import time
from typing import Any

import httpx
import redis

from llmlabel.errors import LlmlabelError
from llmlabel.store import Store

__all__ = ["deliver_callbacks", "post_callback"]

logger = logging.getLogger(__name__)

# Tries per callback and the timeout of each POST.
_CALLBACK_TRIES = 3
_CALLBACK_TIMEOUT_S = 10.0


def post_callback(url: str, payload: dict[str, Any]) -> bool:
    """Best effort: a few tries with a short backoff; a receiver that stays down is logged."""
    for attempt in range(_CALLBACK_TRIES):
        try:
            response = httpx.post(url, json=payload, timeout=_CALLBACK_TIMEOUT_S)
        except httpx.HTTPError as exc:
            logger.warning("callback.failed url=%s attempt=%d error=%s", url, attempt + 1, exc)
        else:
            if response.status_code < 300:
                logger.info("callback.sent url=%s batch_id=%s", url, payload["id"])
                return True
            logger.warning("callback.refused url=%s status=%d", url, response.status_code)
        time.sleep(0.5 * 2**attempt)
    return False


def deliver_callbacks(store: Store) -> None:
    """POST the BatchInfo of batches that finished labeling to their callback_url."""
    try:
        due = store.pop_callbacks()
    except (LlmlabelError, redis.RedisError) as exc:
        logger.warning("callback.pop_failed error=%s", exc)
        return
    for info, url in due:
        post_callback(url, info.model_dump(mode="json"))
