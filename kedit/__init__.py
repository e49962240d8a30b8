"""kedit: build portability benchmarks for knowledge editing and evaluate editors against them.

The public Python API (see ``kedit.api`` and the README): ``load_model``, ``read_cases``, ``edit``,
``evaluate``, ``load_report``, ``merge_reports``, ``generate``, ``filter_cases``, ``export_dataset``,
``Runtime`` (device, dtype, device map, batch budget), ``run_sweep`` / ``read_sweep`` (``keval sweep``); and the
registries, each complete when first used: ``kedit.EDITORS``, ``kedit.FORMATS``,
``kedit.BACKENDS``, ``kedit.METRICS`` (plugins from the ``kedit.editors``, ``kedit.formats``,
``kedit.backends`` and ``kedit.metrics`` entry-point groups included).

The names load on first access (PEP 562), so ``import kedit`` and the CLIs' ``--help`` stay fast
and torch is imported only when a function that needs it is used.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> module that defines it
_API = {
    **dict.fromkeys(["load_model", "read_cases", "write_jsonl", "edit", "evaluate", "load_report", "merge_reports", "generate",
                     "filter_cases", "export_dataset", "Report", "EditResult", "GenerateResult", "FilterResult",
                     "LoadedModel", "train", "TrainResult"], "kedit.api"),
    "EDITORS": "kedit.editors",
    "FORMATS": "kedit.records",
    "BACKENDS": "kedit.builder",
    "METRICS": "kedit.eval.metrics",
    "EditCase": "kedit.records",
    "Probe": "kedit.records",
    "CaseResult": "kedit.eval.results",
    "ProbeResult": "kedit.eval.results",
    "KeditError": "kedit.errors",
    "Runtime": "kedit.runtime",
    "run_sweep": "kedit.sweep",  # not "sweep": that is the subpackage's name
    "read_sweep": "kedit.sweep",
}

__all__ = ["__version__", *_API]


def __getattr__(name: str) -> Any:
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module 'kedit' has no attribute '{name}'")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_API))
