"""PNG plots of a run: per-editor bars of each split's primary metric, sequential decay curves, and a
sweep's heat map of editors × splits."""

from __future__ import annotations

import csv
from pathlib import Path

from ..optional import require

matplotlib = require("matplotlib", "keval's plots")  # MissingExtra names the plots extra; run.write_outputs skips them
matplotlib.use("Agg")
plt = require("matplotlib.pyplot", "keval's plots")

from ..records import SPLITS  # noqa: E402
from .metrics import primary_metric  # noqa: E402


def bars(rows: list, out: Path, title: str = "") -> list[Path]:
    """Per mode: each editor's headline metric per split, post-edit bars with the unedited model's
    value marked (a black tick), n executed under each split; a split an editor has no value for
    is drawn as a hatched "n/a" stub, so a missing value never looks like a zero. ``rows``: the
    run's ``report.SummaryRow``s; ``title``: model and benchmark."""
    written = []
    for mode in sorted({r.mode for r in rows}):
        editors = sorted({r.editor for r in rows if r.mode == mode and r.split in SPLITS})
        splits = [s for s in SPLITS if any(r.split == s and r.mode == mode for r in rows)]
        if not editors or not splits:
            continue
        by = {(r.editor, r.split, r.metric): r for r in rows if r.mode == mode}
        avail = {r.metric for r in rows if r.mode == mode}
        pm = {s: primary_metric(s, avail) for s in splits}
        fig, ax = plt.subplots(figsize=(1.6 + 1.1 * len(splits), 4.4))
        w = 0.8 / len(editors)
        for i, ed in enumerate(editors):
            color = f"C{i}"
            for j, s in enumerate(splits):
                x = j + i * w
                r = by.get((ed, s, pm[s]))
                if r is None or not r.n_executed:
                    ax.bar(x, 0.03, width=w, color="none", edgecolor="0.6", hatch="///")
                    ax.text(x, 0.04, "n/a", ha="center", va="bottom", fontsize=6, color="0.4")
                    continue
                ax.bar(x, r.value, width=w, color=color, label=ed if j == 0 else None)
                ax.text(x, r.value + 0.01, f"{r.value:.2f}", ha="center", va="bottom", fontsize=6)  # a zero shows "0.00"
                pre = by.get((ed, s, pm[s] + ".pre"))
                if pre is not None:
                    ax.plot([x - w / 2, x + w / 2], [pre.value, pre.value], color="black", lw=1.5,
                            label="unedited" if i == 0 and j == 0 else None)
        n = {s: max((by[(e, s, pm[s])].n_executed for e in editors if (e, s, pm[s]) in by), default=0)
             for s in splits}
        ax.set_xticks([j + 0.4 - w / 2 for j in range(len(splits))])
        ax.set_xticklabels([f"{s}\n{pm[s]}, n={n[s]}" for s in splits], rotation=30, ha="right", fontsize=7)
        ax.set_ylim(0, 1.05)
        ax.set_ylabel("post-edit value (higher is better)")
        ax.set_title(f"{title + chr(10) if title else ''}editors by split, mode {mode} (black tick: unedited model)", fontsize=9)
        ax.legend(fontsize=7, loc="upper right")
        fig.tight_layout()
        path = out / f"bars_{mode}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    return written


LINESTYLES = {"reliability": "-", "generalization": "--", "locality": ":"}


def decay(decay_csv: Path, out: Path, title: str = "") -> Path | None:
    """Sequential decay: one colour per editor, one line style per split, a point at 0 edits (the
    unedited model), integer x ticks. Rows are keyed by (editor, n_edits, split, metric), the last
    one winning."""
    if not decay_csv.is_file():
        return None
    with decay_csv.open() as fh:
        keyed = {(r["editor"], int(r["n_edits"]), r["split"], r["metric"]): r for r in csv.DictReader(fh)}
    if not keyed:
        return None
    rows = list(keyed.values())
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    metrics = sorted({r["metric"] for r in rows})
    for i, ed in enumerate(sorted({r["editor"] for r in rows})):
        for split in sorted({r["split"] for r in rows}, key=lambda s: list(LINESTYLES).index(s) if s in LINESTYLES else 9):
            pts = sorted((int(r["n_edits"]), float(r["value"])) for r in rows if r["editor"] == ed and r["split"] == split)
            if pts:
                ax.plot(*zip(*pts), marker="o", ms=3, color=f"C{i}", linestyle=LINESTYLES.get(split, "-."),
                        label=f"{ed}: {split}")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_xlim(left=0)
    ax.set_xlabel("edits applied so far (sequential, no restore)")
    ax.set_ylabel(f"{'/'.join(metrics)}: reliability, generalization\nover the edits so far; locality vs unedited")
    ax.set_ylim(0, 1.05)
    ax.set_title(f"{title + chr(10) if title else ''}sequential decay", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    path = out / "decay_sequential.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def heatmap(panels: dict[str, list], path: Path) -> Path:
    """A sweep's heat map: per panel (a model on a benchmark), rows "editor (mode)", columns the
    splits, each cell the split's headline metric after editing (blank where not scored).
    ``panels``: title -> that panel's ``report.SummaryRow``s."""
    import numpy as np

    n = len(panels)
    fig, axes = plt.subplots(1, n, figsize=(max(4.5, 1.0 + 0.9 * len(SPLITS)) * n, 1.6 + 0.32 * max(
        len({(r.editor, r.mode) for r in rows}) for rows in panels.values())), squeeze=False)
    for ax, (title, rows) in zip(axes[0], panels.items()):
        avail = {r.mode: set() for r in rows}
        for r in rows:
            avail[r.mode].add(r.metric)
        splits = [s for s in SPLITS if any(r.split == s for r in rows)]
        keys = sorted({(r.editor, r.mode) for r in rows if r.split in SPLITS})
        val = {(r.editor, r.mode, r.split): r.value for r in rows
               if r.split in SPLITS and r.metric == primary_metric(r.split, avail[r.mode]) and r.n_executed}
        grid = np.full((len(keys), len(splits)), np.nan)
        for i, (ed, mode) in enumerate(keys):
            for j, s in enumerate(splits):
                grid[i, j] = val.get((ed, mode, s), np.nan)
        im = ax.imshow(grid, vmin=0, vmax=1, cmap="viridis", aspect="auto")
        for i in range(len(keys)):
            for j in range(len(splits)):
                if not np.isnan(grid[i, j]):
                    ax.text(j, i, f"{grid[i, j]:.2f}", ha="center", va="center", fontsize=6,
                            color="white" if grid[i, j] < 0.5 else "black")
        ax.set_xticks(range(len(splits)))
        ax.set_xticklabels(splits, rotation=35, ha="right", fontsize=7)
        ax.set_yticks(range(len(keys)))
        ax.set_yticklabels([f"{e} ({m})" for e, m in keys], fontsize=7)
        ax.set_title(title, fontsize=8)
    fig.colorbar(im, ax=axes[0].tolist(), shrink=0.8, label="headline metric after the edit")
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path
