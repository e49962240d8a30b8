"""Each request's optimised value ``δ`` on disk, so that a batch can be written again (another
``mom2_update_weight``, another solve of the family, a run cut short and started again) without
its value optimisation, the cost that grows with the batch (MEMIT's reference code keeps the same
per-request cache of ``z``: kmeng01/memit memit_main.py, ``cache_template``).

An entry is keyed by everything that determines ``δ``: the weights (``weights_fingerprint``, so an
edited model, as in sequential mode, never reads the unedited model's values), the layer and sites,
the optimisation's numbers (``ValueSearch``), the lookup token, the prompts, the subject and the
target. It holds the deltas, the optimisation's info and the seconds it took when it was computed
(with the torch threads then), so a caller can report the cost of values read back from disk.
Files live under ``cache_dir("values")`` (``KEDIT_CACHE``), one per request.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ...models.loading import weights_fingerprint
from ...settings import cache_dir
from .values import ValueJob, ValueSearch


class ValueCache:
    """The values of one model state: ``get`` / ``put`` per ``ValueJob``."""

    def __init__(self, model: nn.Module, *, layer: int, fact_token: str, search: ValueSearch,
                 root: Path | None = None) -> None:
        self.root = root if root is not None else cache_dir("values")
        self._base = {"weights": weights_fingerprint(model), "layer": layer, "fact_token": fact_token,
                      "search": dataclasses.asdict(search)}

    def path(self, job: ValueJob) -> Path:
        key = dict(self._base, sites=sorted(job.sites), prompts=list(job.prompts), subject=job.subject,
                   target=job.target)
        digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:32]
        return self.root / f"value-{digest}.pt"

    def get(self, job: ValueJob) -> tuple[dict[str, torch.Tensor], dict[str, Any], float] | None:
        """(deltas, info, seconds it took) or None; an unreadable entry counts as missing."""
        path = self.path(job)
        if not path.is_file():
            return None
        try:
            entry = torch.load(path, map_location="cpu", weights_only=True)
            deltas = {s: entry["deltas"][s] for s in job.sites}
        except Exception:  # a file cut short by a killed run: compute the value again
            return None
        device = next(iter(job.sites.values())).device
        return {s: d.to(device) for s, d in deltas.items()}, dict(entry["info"]), float(entry["seconds"])

    def put(self, job: ValueJob, deltas: dict[str, torch.Tensor], info: dict[str, Any], seconds: float) -> None:
        path = self.path(job)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        torch.save({"deltas": {s: d.detach().cpu() for s, d in deltas.items()}, "info": dict(info),
                    "seconds": float(seconds), "threads": torch.get_num_threads()}, tmp)
        tmp.replace(path)  # atomic: a reader sees the whole entry or none


def split_cached(cache: ValueCache | None, jobs: Sequence[ValueJob]) -> tuple[dict[int, tuple], list[int]]:
    """The jobs found in ``cache`` (index -> (deltas, info, seconds)) and the indices still to compute."""
    hits: dict[int, tuple] = {}
    if cache is not None:
        for i, job in enumerate(jobs):
            got = cache.get(job)
            if got is not None:
                hits[i] = got
    return hits, [i for i in range(len(jobs)) if i not in hits]
