"""Benchmark construction stages: generate, filter, annotate, export (see ../shared/MISSION.md).

Importing the package registers the generation backends (``kg``, ``openai``) in ``BACKENDS``;
third-party backends come through the ``kedit.backends`` entry-point group.
"""

from .backends import BACKENDS, Backend
from . import kg, llm  # noqa: E402,F401  (register the kg and openai backends)

__all__ = ["BACKENDS", "Backend"]
