"""The HTTP API (FastAPI): a thin edge over the store and the task definitions."""
