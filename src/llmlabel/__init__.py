"""llmlabel: label data with LLMs, know when they are unsure, and send exactly those items to people."""

__version__ = "0.1.0"
