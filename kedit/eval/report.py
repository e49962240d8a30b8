"""Summaries of a run folder: long-form CSV, a Markdown table, a weighted ranking.

``summary.csv`` columns: editor, mode, split, metric, value, n_executed, n_not_executed, n_written
(probes a closure wrote, kept out of ``value``). ``value``
is the post-edit mean over executed probes; the unedited model's value is the same metric with
``.pre`` appended. Efficiency rows use split ``efficiency``.
"""

from __future__ import annotations

import csv
import statistics
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Mapping

from ..errors import KeditError, UnknownNameError
from ..records import SPLITS
from .metrics import METRICS, primary_metric
from .results import CaseResult

COLUMNS = ["editor", "mode", "split", "metric", "value", "n_executed", "n_not_executed", "n_written"]
# ranking keys: every split, plus groups that average their splits
RANK_GROUPS = {
    "portability": ("subject_replace", "reverse_relation", "one_hop"),
    "locality_fine": ("other_relation", "distract_neighbor"),
}


@dataclass(frozen=True)
class SummaryRow:
    """One line of ``summary.csv``: a metric of one split (or an efficiency figure) for an editor and mode."""

    editor: str
    mode: str
    split: str
    metric: str
    value: float
    n_executed: int
    n_not_executed: int = 0
    n_written: int = 0  # probes an edit of the run wrote (a closure, another case's edit): scored, kept out of ``value``


@dataclass(frozen=True)
class Ranked:
    editor: str
    mode: str
    score: float
    parts: Mapping[str, float]


def summarize(results: Iterable[CaseResult], precompute: Mapping[str, float] | None = None) -> list[SummaryRow]:
    vals: dict[tuple, list[float]] = defaultdict(list)
    not_exec: dict[tuple, int] = defaultdict(int)
    written: dict[tuple, int] = defaultdict(int)
    eff: dict[tuple, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    errors: dict[tuple, int] = defaultdict(int)
    for r in results:
        em = (r.editor, r.mode)
        if r.failed:
            errors[em] += 1
            continue
        if r.edit_seconds is not None:
            eff[em]["seconds_per_edit"].append(r.edit_seconds)
        if r.peak_memory_bytes:
            eff[em]["peak_memory_mb"].append(r.peak_memory_bytes / 2**20)
        if r.closure_size is not None:
            eff[em]["closure_facts_per_edit"].append(r.closure_size)
        if r.edit_info.get("edits_in_call"):  # lifelong editors: edits that did not hold, what they hold beside the weights
            eff[em]["unconverged"].append(r.edit_info.get("n_unconverged", 0) / r.edit_info["edits_in_call"])
            if r.mode == "sequential":  # all it holds after the sequence (fixed parts included), per edit
                eff[em]["held_kb"].append(r.edit_info["held_bytes"] / 1024)
            else:
                eff[em]["added_kb_per_edit"].append(r.edit_info["added_bytes"] / r.edit_info["edits_in_call"] / 1024)
        if r.edit_info.get("wrapped_prompts"):  # an in-context editor's cost at question time
            eff[em]["seconds_per_probe"].append(r.edit_info["wrap_seconds"] / r.edit_info["wrapped_prompts"])
        for p in r.probes:
            if p.error is not None:  # the editor could not put it to the model: a failure, not a "not executed"
                eff[em]["failed_probes"].append(1)
                continue
            if not p.executed:
                not_exec[em + (p.split,)] += 1
                continue
            if p.written:  # a leak, not a result: counted apart
                written[em + (p.split,)] += 1
                continue
            for m, v in p.metrics.items():
                vals[em + (p.split, m)].append(v.post)
                if v.pre is not None:
                    vals[em + (p.split, m + ".pre")].append(v.pre)
    for (ed, mode, split), n in (not_exec | written).items():  # a split none of whose probes counted still shows
        if not any(k[:3] == (ed, mode, split) for k in vals):
            vals[(ed, mode, split, primary_metric(split, {k[3] for k in vals if k[:2] == (ed, mode)}))] = []
    rows = []
    order = {s: i for i, s in enumerate(SPLITS)}
    for (ed, mode, split, metric), v in sorted(vals.items(), key=lambda kv: (kv[0][0], kv[0][1], order[kv[0][2]], kv[0][3])):
        rows.append(SummaryRow(ed, mode, split, metric, sum(v) / len(v) if v else float("nan"), len(v),
                               not_exec[(ed, mode, split)], written[(ed, mode, split)]))
    for (ed, mode), d in sorted(eff.items()):
        if d["seconds_per_edit"]:
            rows.append(_eff(ed, mode, "seconds_per_edit", statistics.median(d["seconds_per_edit"]), len(d["seconds_per_edit"])))
        if d["seconds_per_probe"]:
            rows.append(_eff(ed, mode, "seconds_per_probe", statistics.median(d["seconds_per_probe"]), len(d["seconds_per_probe"])))
        if d["peak_memory_mb"]:
            rows.append(_eff(ed, mode, "peak_memory_mb", max(d["peak_memory_mb"]), len(d["peak_memory_mb"])))
        if d["added_kb_per_edit"]:
            rows.append(_eff(ed, mode, "added_kb_per_edit", statistics.mean(d["added_kb_per_edit"]), len(d["added_kb_per_edit"])))
        if d["held_kb"]:
            n = len(d["held_kb"])
            rows.append(_eff(ed, mode, "added_kb_per_edit", max(d["held_kb"]) / n, n))
        if d["closure_facts_per_edit"]:
            sizes = d["closure_facts_per_edit"]
            rows.append(_eff(ed, mode, "closure_facts_per_edit", sum(sizes) / len(sizes), len(sizes)))
            rows.append(_eff(ed, mode, "n_closure_empty", sum(1 for x in sizes if x == 0), len(sizes)))
    for ed, secs in sorted((precompute or {}).items()):
        for mode in sorted({m for e, m in eff if e == ed}):
            rows.append(_eff(ed, mode, "precompute_seconds", secs, 1))
    for (ed, mode), d in sorted(eff.items()):
        if d["unconverged"]:
            rows.append(_eff(ed, mode, "n_unconverged", round(sum(d["unconverged"])), len(d["unconverged"])))
        if d["failed_probes"]:
            rows.append(_eff(ed, mode, "n_failed_probes", len(d["failed_probes"]), len(d["failed_probes"])))
    for (ed, mode), n in sorted(errors.items()):
        rows.append(_eff(ed, mode, "n_failed", n, n))
    return rows


def _eff(ed, mode, metric, value, n) -> SummaryRow:
    return SummaryRow(ed, mode, "efficiency", metric, value, n)


def write_csv(rows: list[SummaryRow], path: Path) -> None:
    from ..atomic import atomic_open

    with atomic_open(path, newline="") as fh:
        w = csv.DictWriter(fh, COLUMNS)
        w.writeheader()
        for r in rows:
            d = asdict(r)
            w.writerow({**d, "value": f"{r.value:.4f}" if isinstance(r.value, float) else r.value})


def parse_weights(text: str | None) -> dict[str, float]:
    keys = list(SPLITS) + list(RANK_GROUPS)
    if not text:
        return {"reliability": 1, "generalization": 1, "locality": 1, "portability": 1, "locality_fine": 1, "commonsense": 1}
    out = {}
    for item in text.split(","):
        k, sep, v = item.partition("=")
        k = k.strip()
        if k not in keys:
            raise UnknownNameError("ranking weight key", k, keys, "Write KEY=NUMBER, e.g. portability=2,locality=1.")
        if not sep:
            raise KeditError(f"bad weight '{item}': write KEY=NUMBER, e.g. {k}=1")
        try:
            out[k] = float(v)
        except ValueError:
            raise KeditError(f"bad weight '{item}': '{v}' is not a number") from None
    return out


def metrics_by_mode(rows: list[SummaryRow]) -> dict[str, set[str]]:
    """The metrics every editor of a mode carries (its headline is gen_em where generation ran for all of
    them, else token_acc: a merged table of runs with and without generation leads with the metric they share)."""
    per: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for r in rows:
        if r.split != "efficiency":
            per[r.mode][r.editor].add(r.metric)
    out: dict[str, set[str]] = defaultdict(set)
    for mode, eds in per.items():
        out[mode] = set.intersection(*eds.values())
    return out


def ranking(rows: list[SummaryRow], weights: Mapping[str, float]) -> list[Ranked]:
    """Weighted mean of each (editor, mode)'s primary post-edit metric per split or split group."""
    avail = metrics_by_mode(rows)
    prim = {(r.editor, r.mode, r.split): r.value for r in rows
            if r.split in SPLITS and r.metric == primary_metric(r.split, avail[r.mode]) and r.n_executed}
    out = []
    for ed, mode in sorted({(e, m) for e, m, _ in prim}):
        parts, total, wsum = {}, 0.0, 0.0
        for key, w in weights.items():
            splits = RANK_GROUPS.get(key, (key,))
            got = [prim[(ed, mode, s)] for s in splits if (ed, mode, s) in prim]
            if got and w:
                parts[key] = sum(got) / len(got)
                total += w * parts[key]
                wsum += w
        out.append(Ranked(ed, mode, total / wsum if wsum else float("nan"), parts))
    return sorted(out, key=lambda r: -r.score)


def _unit(metric: str, value: float) -> str:
    """Efficiency figures in units a reader takes in at a glance (never 3.56e-06)."""
    if metric.endswith("_seconds") or metric.startswith("seconds"):
        if value >= 1:
            return f"{value:.1f} s"
        return f"{value * 1000:.0f} ms" if value >= 0.0005 else "< 1 ms"
    if metric.endswith("_mb"):
        return f"{value:,.0f} MB"
    if metric.startswith("added_kb"):
        return f"{value:,.1f} KB"
    return f"{value:g}"


def headline(rows: list[SummaryRow]) -> list[str]:
    """The wide table: editor x split, each split's headline metric post-edit with the unedited
    model's value in brackets and the number of executed probes."""
    lines = []
    for mode in sorted({r.mode for r in rows}):
        splits = [s for s in SPLITS if any(r.split == s and r.mode == mode for r in rows)]
        by = {(r.editor, r.split, r.metric): r for r in rows if r.mode == mode}
        avail = metrics_by_mode(rows)[mode]
        pm = {s: primary_metric(s, avail) for s in splits}
        lines.append(f"### {mode}: {', '.join(sorted(set(pm.values())))} post-edit (unedited), n executed\n")
        lines.append("| editor | " + " | ".join(splits) + " | failed cases |")
        lines.append("|---|" + "---|" * (len(splits) + 1))
        for ed in sorted({r.editor for r in rows if r.mode == mode}):
            cells = []
            for split in splits:
                r, pre = by.get((ed, split, pm[split])), by.get((ed, split, pm[split] + ".pre"))
                if r is None:
                    cells.append("")
                elif not r.n_executed:
                    cells.append(f"not executed ({r.n_not_executed})" if r.n_not_executed or not r.n_written
                                 else f"written by an edit ({r.n_written})")
                else:
                    cells.append(f"{r.value:.3f}" + (f" ({pre.value:.3f})" if pre else "") + f", {r.n_executed}")
            failed = by.get((ed, "efficiency", "n_failed"))
            lines.append(f"| {ed} | " + " | ".join(cells) + f" | {int(failed.value) if failed else 0} |")
        lines.append("")
    return lines


# EasyEdit's summary names (easyeditor/editors/editor.py, its `summary_metrics`): every one is
# teacher-forced token accuracy, as kedit's token_acc; portability pools kedit's three portability splits.
EASYEDIT_NAMES = {
    "rewrite_acc": ("reliability",),
    "rephrase_acc": ("generalization",),
    "locality": ("locality",),
    "portability": ("subject_replace", "reverse_relation", "one_hop"),
}


def easyedit_view(rows: list[SummaryRow]) -> str:
    """The figures under EasyEdit's names, to set beside papers that report EasyEdit's summary:
    ``token_acc`` post-edit; ``portability`` is the mean over every executed probe of the three
    portability splits (each split weighted by its probes)."""
    lines = ["| editor | mode | " + " | ".join(EASYEDIT_NAMES) + " |", "|---|---|" + "---|" * len(EASYEDIT_NAMES)]
    by = {(r.editor, r.mode, r.split): r for r in rows if r.metric == "token_acc"}
    for ed, mode in sorted({(r.editor, r.mode) for r in rows if r.split in SPLITS}):
        cells = []
        for splits in EASYEDIT_NAMES.values():
            got = [by[(ed, mode, s)] for s in splits if (ed, mode, s) in by and by[(ed, mode, s)].n_executed]
            n = sum(r.n_executed for r in got)
            cells.append(f"{sum(r.value * r.n_executed for r in got) / n:.3f}" if n else "")
        lines.append(f"| {ed} | {mode} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def markdown(rows: list[SummaryRow], ranked: list[Ranked], weights: Mapping[str, float]) -> str:
    lines = headline(rows)
    metrics = [m for m in METRICS.names() if any(r.metric == m for r in rows)]
    any_written = any(r.n_written for r in rows)
    for mode in sorted({r.mode for r in rows}):
        lines.append(f"### mode: {mode}, every metric\n")
        lines.append("| editor | split | " + " | ".join(f"{m} post (pre)" for m in metrics) + " | executed | not executed |"
                     + (" written by an edit |" if any_written else ""))
        lines.append("|---|---|" + "---|" * (len(metrics) + 2 + any_written))
        by = {(r.editor, r.split, r.metric): r for r in rows if r.mode == mode}
        for ed in sorted({r.editor for r in rows if r.mode == mode}):
            for split in SPLITS:
                cells, n_exec, n_not, n_wr = [], 0, 0, 0
                for m in metrics:
                    r = by.get((ed, split, m))
                    pre = by.get((ed, split, m + ".pre"))
                    if r:
                        n_exec, n_not, n_wr = max(n_exec, r.n_executed), r.n_not_executed, r.n_written
                    if r is not None and not r.n_executed:
                        cells.append("not executed")
                    else:
                        cells.append("" if r is None else f"{r.value:.3f}" + (f" ({pre.value:.3f})" if pre else ""))
                if any(cells):
                    lines.append(f"| {ed} | {split} | " + " | ".join(cells) + f" | {n_exec} | {n_not} |"
                                 + (f" {n_wr} |" if any_written else ""))
            eff = [r for r in rows if r.mode == mode and r.editor == ed and r.split == "efficiency"]
            if eff:
                lines.append(f"| {ed} | efficiency | " + "; ".join(f"{r.metric} {_unit(r.metric, r.value)}" for r in eff)
                             + " |" + " |" * (len(metrics) + 1 + any_written))
        lines.append("")
    lines.append("### ranking\n")
    lines.append("weights: " + ", ".join(f"{k}={v:g}" for k, v in weights.items()) + "\n")
    lines.append("| rank | editor | mode | score | " + " | ".join(weights) + " |")
    lines.append("|---|---|---|---|" + "---|" * len(weights))
    for i, r in enumerate(ranked, 1):
        lines.append(f"| {i} | {r.editor} | {r.mode} | {r.score:.3f} | "
                     + " | ".join(f"{r.parts[k]:.3f}" if k in r.parts else "" for k in weights) + " |")
    lines.append("\nMetrics: " + "; ".join(f"**{m}**: {METRICS.get(m).description}" for m in metrics)
                 + ". Not executed: probes whose conditions the unedited model fails. n_failed: cases whose edit or "
                 "scoring raised an error (recorded with the error in cases.jsonl; the run went on).")
    return "\n".join(lines) + "\n"
