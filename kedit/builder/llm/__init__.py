"""LLM-driven generation: the ``openai`` backend of ``kbuild generate`` and its parts.

Importing this package registers the backend (``BACKENDS.get("openai")``). Parts: ``prompts``
(versioned prompt files in data/prompts/), ``client`` (structured output, retries), ``cache``
(content-addressed replies on disk), ``pricing`` (data/prices.json).
"""

from .backend import OpenAIBackend

__all__ = ["OpenAIBackend"]
