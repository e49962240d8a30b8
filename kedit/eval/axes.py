"""A run's figures by the benchmark's own test axes (``keval report DIR --by axis``).

kedit's tables group probes by kedit split; readers of the field's benchmarks keep each probe's own
axis in its provenance (RippleEdits: Compositionality_I and _II, Relation_Specificity, Forgetfulness,
Subject_Aliasing; KnowEdit: Reasoning, Subject_Aliasing, ...; MQuAKE: its hop questions). This table
reads the run's benchmark again, finds each scored probe's axis (its split where it has none), and
gives the headline metric per (editor, mode) and axis, with n. Probes an edit wrote are left out,
as in the summary.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from ..records import EditCase
from .metrics import primary_metric
from .results import CaseResult


def axis_table(results: Sequence[CaseResult], cases: Sequence[EditCase]) -> list[dict]:
    """One row per (editor, mode, split, axis): the headline metric's mean and n."""
    probes = {c.case_id: c.probes for c in cases}
    metrics = {m for r in results for p in r.probes for m in p.metrics}
    vals: dict[tuple, list[float]] = defaultdict(list)
    for r in results:
        for p in r.probes:
            if not p.executed or p.written or r.case_id not in probes or p.index >= len(probes[r.case_id]):
                continue
            axis = probes[r.case_id][p.index].provenance.get("axis") or p.split
            m = primary_metric(p.split, metrics)
            if m in p.metrics:
                vals[(r.editor, r.mode, p.split, str(axis), m)].append(p.metrics[m].post)
    return [{"editor": e, "mode": mo, "split": s, "axis": a, "metric": m, "value": sum(v) / len(v), "n": len(v)}
            for (e, mo, s, a, m), v in sorted(vals.items())]


def axis_markdown(rows: list[dict]) -> str:
    if not rows:
        return "no scored probes\n"
    cols = sorted({(r["editor"], r["mode"]) for r in rows})
    by = {(r["split"], r["axis"], r["editor"], r["mode"]): r for r in rows}
    keys = sorted({(r["split"], r["axis"]) for r in rows})
    metric = "/".join(sorted({r["metric"] for r in rows}))
    lines = [f"### by the benchmark's axes: {metric} post-edit, n", "",
             "| split | axis | " + " | ".join(f"{e} ({m})" for e, m in cols) + " |",
             "|---|---|" + "---|" * len(cols)]
    for s, a in keys:
        cells = [f"{by[(s, a, e, m)]['value']:.3f}, {by[(s, a, e, m)]['n']}" if (s, a, e, m) in by else "" for e, m in cols]
        lines.append(f"| {s} | {a} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
