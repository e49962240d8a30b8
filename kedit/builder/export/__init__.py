"""``kbuild export``: publish a benchmark as a Hugging Face dataset folder, and push it on request.

    kbuild export --in bench.jsonl --out bench-hf [--push-to-hub USER/NAME [--private]]

The folder (see ``layout`` for the columns and ``card`` for the card)::

    README.md                          card: YAML front matter (configs, dataset_info) + build provenance
    kedit_export.json                  what wrote the folder, row counts, the build's manifest chain
    data/edits/test-00000-of-00001.parquet
    data/<split>/test-00000-of-00001.parquet   for subject_replace, reverse_relation, one_hop,
                                               other_relation, distract_neighbor, commonsense

``datasets.load_dataset(folder, name=config)`` loads every config offline and returns a DatasetDict
with the single split ``test``; ``edits`` is the default config. A split with no probes gets no
config (an empty Parquet config would break ``load_dataset``); the card names it as not exported.
``read_export(folder)`` turns the folder back into the EditCases it was made from.

Order of work: the input is read and validated in full (``read_cases``: a record that fails the
schema names file, line and field) and every table is built in memory before anything is
written; the folder is written to a temporary sibling and then moved into place, so a failed
export leaves ``--out`` as it was. Export writes into an existing non-empty ``--out`` only when it
is a previous kedit export (it has ``kedit_export.json``) or with ``--overwrite``, and then replaces
only what export writes (README.md, the marker, ``data/<config>/``; a previous export's configs that
are gone): a ``.git``, a licence or notes beside them stay. The stage's own manifest goes beside
the folder (``<out>.manifest.json``), as every stage's does.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ... import __version__
from ...errors import KeditError
from ...records import SPLITS, EditCase
from ...records.manifest import stage_entries
from .card import render_card
from ...records.hfdataset import (CONFIGS, EXPORT_FORMAT, MARKER, PROBE_CONFIGS, build_tables, is_export, read_export,
                     write_tables)

__all__ = ["export_dataset", "read_export", "is_export", "CONFIGS"]

log = logging.getLogger(__name__)


def _public(d: Any, key: str = "") -> Any:
    """``d`` with local paths reduced to file names (a ``path`` value, or any absolute path), so the
    card and ``kedit_export.json`` never carry a personal path to the Hub."""
    if isinstance(d, dict):
        return {k: _public(v, k) for k, v in d.items()}
    if isinstance(d, list):
        return [_public(v) for v in d]
    if isinstance(d, str) and (key == "path" or os.path.isabs(d) or d.startswith("~")):
        return Path(d).name
    return d


def _public_entries(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [_public(e) for e in entries]


def _check_out(out: Path, overwrite: bool, input_path: Path | None) -> None:
    if out.exists() and not out.is_dir():
        raise KeditError(f"--out {out} is a file; give a folder to write the dataset into")
    if input_path is not None and out.is_dir():
        try:
            input_path.resolve().relative_to(out.resolve())
            raise KeditError(f"--out {out} contains the input file {input_path}; write the export elsewhere")
        except ValueError:
            pass
    if out.is_dir() and any(out.iterdir()) and not is_export(out) and not overwrite:
        raise KeditError(f"--out {out} is not empty and is not a previous kedit export (no {MARKER}); "
                         f"choose another folder, or pass --overwrite to write the export into it (its README.md "
                         f"and data/<config>/ folders are replaced, everything else stays)")


def _exported_configs(out: Path) -> list[str]:
    """The configs a previous export wrote into ``out`` (from its marker)."""
    try:
        marker = json.loads((out / MARKER).read_text(encoding="utf-8"))
        return [c for c in marker.get("configs", {}) if isinstance(c, str)] + \
            [c for c in marker.get("skipped_configs", []) if isinstance(c, str)]
    except (OSError, ValueError, AttributeError):
        return []


def _place(tmp: Path, out: Path) -> None:
    """Move what export wrote into ``out``, one path at a time, touching nothing else there: the card,
    the marker and ``data/<config>/`` of each config (a previous export's configs that this one no
    longer has are removed). A ``.git``, a licence or notes beside them stay as they were."""
    if not out.is_dir():
        tmp.rename(out)
        return
    stale = [c for c in _exported_configs(out) if c in CONFIGS]
    (out / "data").mkdir(exist_ok=True)
    trash = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
    try:
        for cfg_dir in sorted((tmp / "data").iterdir()):
            dest = out / "data" / cfg_dir.name
            if dest.exists():
                dest.rename(trash / cfg_dir.name)
            cfg_dir.rename(dest)
        for cfg in stale:
            dest = out / "data" / cfg
            if dest.exists() and not (tmp / "data" / cfg).exists() and not (trash / cfg).exists():
                dest.rename(trash / cfg)
        for name in ("README.md", MARKER):  # the marker last: a folder with it is a whole export
            os.replace(tmp / name, out / name)
    finally:
        shutil.rmtree(trash, ignore_errors=True)


def export_dataset(cases: list[EditCase], out: str | Path, *, manifest: dict[str, Any] | None = None,
                   input_path: str | Path | None = None, pretty_name: str | None = None,
                   license: str | None = None, overwrite: bool = False) -> dict[str, Any]:
    """Write the dataset folder for ``cases``; returns its summary (also stored as ``kedit_export.json``)."""
    out = Path(out)
    input_path = Path(input_path) if input_path is not None else None
    if not cases:
        raise KeditError("nothing to export: the input has no cases")
    _check_out(out, overwrite, input_path)
    tables = build_tables(cases)  # fixed schemas: a value of the wrong type fails here, before any write
    probe_counts = {s: 0 for s in SPLITS}
    for c in cases:
        for p in c.probes:
            probe_counts[p.split] += 1
    entries = _public_entries(list(stage_entries(manifest)))
    input_desc = _public({"path": str(input_path) if input_path else "records", "cases": len(cases),
                          "probes": sum(probe_counts.values())})
    if input_path is not None and input_path.is_file():
        from ...records.manifest import describe_file

        input_desc = _public(describe_file(input_path, len(cases), sum(probe_counts.values())))
    name = pretty_name  # None: the card's own title (never the input file's stem, e.g. "bench")

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        os.chmod(tmp, 0o755)  # mkdtemp makes it private; the export is an ordinary folder
        stats = write_tables(tables, tmp)
        summary = {
            "format": EXPORT_FORMAT,
            "kedit_version": __version__,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "input": input_desc,
            "configs": {cfg: stats[cfg]["num_examples"] for cfg in CONFIGS if cfg in stats},
            "skipped_configs": [cfg for cfg in PROBE_CONFIGS if cfg not in stats],
            "probes": probe_counts,
            "history": entries,
        }
        card = render_card(stats=stats, probe_counts=probe_counts, entries=entries, input_desc=input_desc,
                           pretty_name=name, license=license)
        (tmp / "README.md").write_text(card, encoding="utf-8")
        (tmp / MARKER).write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        _place(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return summary
