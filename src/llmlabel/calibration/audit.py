"""Which auto-accepted items also go to review, blind, to measure accepted precision."""

from __future__ import annotations

import hashlib

__all__ = ["audit_draw", "is_audited"]


def audit_draw(salt: str, item_id: str) -> float:
    """A uniform number in [0, 1) fixed by (salt, item): the first 8 bytes of a sha256.

    Deterministic on purpose: an item relabeled after a killed worker gets the
    same decision, so audits are neither lost nor doubled; the salt (the
    version's content hash) keeps draws independent across versions.
    """
    digest = hashlib.sha256(f"audit\x00{salt}\x00{item_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def is_audited(salt: str, item_id: str, share: float) -> bool:
    """True for about `share` of items (none at 0, all at 1)."""
    return audit_draw(salt, item_id) < share
