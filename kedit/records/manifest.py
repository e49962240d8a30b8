"""Build manifests: what each kbuild stage did, stored beside the records it wrote.

``bench.jsonl`` gets ``bench.manifest.json``. A manifest names its stage, the kedit version, its
input and output files (path, SHA-256, case and probe counts) and the stage's own figures
(generator model, prompt versions, tokens, cost; filter counts; agreement). The manifest of the
input file, when there is one, is nested under ``upstream``, so the last manifest of a pipeline
holds the whole history; ``stage_entries`` flattens it for the dataset card.
"""

from __future__ import annotations

import hashlib
import json
import platform
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

from .. import __version__
from ..atomic import atomic_write

MANIFEST_FORMAT = "kedit.manifest/1"


def manifest_path(records: str | Path) -> Path:
    """``dir/bench.jsonl`` -> ``dir/bench.manifest.json``; a folder (a dataset) -> ``dir/ds.manifest.json``."""
    p = Path(records)
    return p.with_name(p.stem + ".manifest.json")


def file_digest(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def describe_file(path: str | Path, cases: int | None = None, probes: int | None = None) -> dict[str, Any]:
    p = Path(path)
    d: dict[str, Any] = {"path": str(p), "sha256": file_digest(p) if p.is_file() else None}
    if cases is not None:
        d["cases"] = cases
    if probes is not None:
        d["probes"] = probes
    return d


def read_manifest(records: str | Path) -> dict[str, Any] | None:
    """The manifest stored beside ``records``, or None when the file has none (e.g. a user's own data)."""
    mp = manifest_path(records)
    if not mp.is_file():
        return None
    with mp.open(encoding="utf-8") as fh:
        return json.load(fh)


def write_manifest(records: str | Path, stage: str, *, input_path: str | Path | None, figures: dict[str, Any]) -> Path:
    """Write the manifest of ``records`` (atomically), nesting the input's manifest as ``upstream``."""
    data: dict[str, Any] = {
        "format": MANIFEST_FORMAT,
        "stage": stage,
        "kedit_version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "platform": platform.platform()},
        "input": describe_file(input_path) if input_path is not None else None,
        "output": describe_file(records),
        **figures,
        "upstream": read_manifest(input_path) if input_path is not None else None,
    }
    mp = manifest_path(records)
    atomic_write(mp, json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    return mp


def stage_entries(manifest: dict[str, Any] | None) -> Iterator[dict[str, Any]]:
    """The manifests of a pipeline, oldest stage first."""
    chain = []
    while manifest:
        chain.append({k: v for k, v in manifest.items() if k != "upstream"})
        manifest = manifest.get("upstream")
    yield from reversed(chain)
