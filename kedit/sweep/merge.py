"""A sweep's merged figures: ``sweep_summary.csv`` (long form: every cell's summary rows with its
model, benchmark, editor label, mode, hparams entry and seed), ``sweep_ranking.json`` and
``sweep_summary.md`` (a ranking per model and benchmark with the user's weights, and the failed
cells with their errors) and ``sweep_heatmap.png`` (editors × splits of the headline metric, one
panel per model and benchmark)."""

from __future__ import annotations

import csv
import dataclasses
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..atomic import atomic_open, atomic_write, atomic_write_json
from ..eval import report
from .runner import cell_dir, read_state
from .spec import Cell, SweepSpec

log = logging.getLogger(__name__)
COLUMNS = ["model", "bench", "editor", "base_editor", "mode", "hparams", "seed", "split", "metric", "value", "n_executed",
           "n_not_executed", "n_written", "cell"]


@dataclass(frozen=True)
class SweepRow:
    model: str
    bench: str
    editor: str  # the label: editor, [h<i>] and @s<seed> where the grid varies them
    base_editor: str
    mode: str
    hparams: int
    seed: int
    split: str
    metric: str
    value: float
    n_executed: int
    n_not_executed: int
    n_written: int
    cell: str


@dataclass
class SweepResult:
    """What ``kedit.sweep`` returns: each cell's state, the merged rows and the rankings."""

    out: Path
    cells: dict[str, dict[str, Any]]  # cell id -> its last record in cells.jsonl
    rows: list[SweepRow]
    ranking: dict[str, dict[str, list[report.Ranked]]]  # model -> bench -> ranked (editor label, mode)
    weights: dict[str, float] = field(default_factory=dict)

    @property
    def failed(self) -> dict[str, str]:
        return {k: v.get("error", "") for k, v in self.cells.items() if v.get("status") != "done"}

    def to_pandas(self):
        import pandas as pd

        return pd.DataFrame([dataclasses.asdict(r) for r in self.rows], columns=COLUMNS)


def merge(out: Path, spec: SweepSpec, cells: list[Cell], weights: str | None = None) -> SweepResult:
    from ..eval.run import load_report

    state = read_state(out)
    n_h, n_s = len(spec.hparams), len(spec.seeds)
    rows: list[SweepRow] = []
    for cell in cells:
        if state.get(cell.cell_id, {}).get("status") != "done":
            continue
        label = cell.label(n_h, n_s)
        for r in load_report(cell_dir(out, cell)).rows:
            ed = label + r.editor.removeprefix(cell.editor)  # "rome+closure" keeps its suffix
            rows.append(SweepRow(cell.model, cell.bench, ed, cell.editor, r.mode, cell.hparams_index, cell.seed, r.split,
                                 r.metric, r.value, r.n_executed, r.n_not_executed, r.n_written, cell.cell_id))
    with atomic_open(out / "sweep_summary.csv", newline="") as fh:
        w = csv.DictWriter(fh, COLUMNS)
        w.writeheader()
        w.writerows(dataclasses.asdict(r) for r in rows)
    wts = report.parse_weights(weights)
    groups: dict[tuple[str, str], list[report.SummaryRow]] = defaultdict(list)
    for r in rows:
        groups[(r.model, r.bench)].append(report.SummaryRow(r.editor, r.mode, r.split, r.metric, r.value, r.n_executed,
                                                            r.n_not_executed, r.n_written))
    ranking: dict[str, dict[str, list[report.Ranked]]] = defaultdict(dict)
    for (model, bench), grp in groups.items():
        ranking[model][bench] = report.ranking(grp, wts)
    atomic_write_json(out / "sweep_ranking.json", {"weights": wts, "ranking": {
        m: {b: [dataclasses.asdict(x) for x in rk] for b, rk in by.items()} for m, by in ranking.items()}})
    result = SweepResult(out, {c.cell_id: state.get(c.cell_id, {"status": "not run"}) for c in cells}, rows,
                         dict(ranking), wts)
    atomic_write(out / "sweep_summary.md", markdown(result, groups))
    _heatmap(result, groups, out)
    return result


def markdown(result: SweepResult, groups: dict[tuple[str, str], list[report.SummaryRow]]) -> str:
    n_done = sum(v.get("status") == "done" for v in result.cells.values())
    lines = [f"# keval sweep ({n_done} of {len(result.cells)} cells done)", ""]
    for (model, bench), grp in groups.items():
        lines += [f"## {model} on {bench}", "", report.markdown(grp, result.ranking[model][bench], result.weights), ""]
    if result.failed:
        lines += ["## Failed cells", "", "| cell | error |", "|---|---|"]
        lines += [f"| {k} | {str(e).replace('|', '/')} |" for k, e in result.failed.items()]
        lines.append("")
    return "\n".join(lines)


def _heatmap(result: SweepResult, groups, out: Path) -> None:
    from ..optional import MissingExtra

    try:
        from ..eval import plots
    except MissingExtra as e:
        log.warning("%s; the sweep's heat map is skipped", e)
        return
    panels = {f"{Path(m).name if Path(m).is_dir() else m}\n{Path(b).name}": rows for (m, b), rows in groups.items()}
    if panels:
        plots.heatmap(panels, out / "sweep_heatmap.png")
