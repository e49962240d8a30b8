"""A content-addressed on-disk cache of LLM replies, so a rerun never repeats a completed (paid) call.

One JSON file per call under ``cache_dir("llm")/<key[:2]>/<key>.json``, written atomically
(``kedit.atomic``: a unique temporary file in the same folder, fsynced, then renamed) as soon as the reply arrives: a run killed
mid-way loses at most the calls in flight. The key is the sha256 of everything that determines the
reply (see :func:`cache_key`): the endpoint's normalised URL (no credentials, no query) is hashed in
it, never written; the API key is neither hashed nor written.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from ...atomic import atomic_open
from ...settings import cache_dir


def cache_key(**parts: Any) -> str:
    """sha256 of the parts as canonical JSON (sorted keys, no whitespace)."""
    blob = json.dumps(parts, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class ReplyCache:
    def __init__(self, root: Path | str | None = None):
        self.root = Path(root) if root is not None else cache_dir("llm")
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        """The stored record, or None (missing, or unreadable: a damaged entry counts as a miss)."""
        try:
            rec = json.loads(self.path(key).read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
            return None
        return rec if isinstance(rec, dict) and rec.get("key") == key else None

    def put(self, key: str, record: dict[str, Any]) -> Path:
        path = self.path(key)
        with atomic_open(path) as f:
            json.dump({**record, "key": key}, f, ensure_ascii=False, indent=1)
            f.flush()
            os.fsync(f.fileno())  # a paid reply survives a crash of the machine, not only of the run
        return path

    def __len__(self) -> int:
        return sum(1 for _ in self.root.glob("??/*.json"))
