"""The baseline job of bench/throughput.py: one RQ job per item, one provider call each.

This is how a plain RQ setup labels data: a stock forking `rq worker` runs each
job in a forked child, which makes one blocking call to the provider.
"""

from __future__ import annotations

import httpx


def label_one(base_url: str, text: str) -> int:
    """POST one chat completion for `text`; returns the HTTP status."""
    body = {
        "model": "fake-model",
        "messages": [{"role": "user", "content": text}],
        "n": 3,
        "response_format": {
            "type": "json_schema",
            "json_schema": {
                "name": "label",
                "schema": {
                    "type": "object",
                    "properties": {"label": {"type": "string", "enum": ["pos", "neg", "neu"]}},
                    "required": ["label"],
                },
            },
        },
    }
    response = httpx.post(f"{base_url}/chat/completions", json=body, timeout=30)
    return response.status_code
