"""PNG plots of a run: per-editor bars of each split's primary metric, and sequential decay curves."""

from __future__ import annotations

import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from ..records import SPLITS  # noqa: E402
from .metrics import primary_metric  # noqa: E402


def bars(rows: list, out: Path) -> list[Path]:
    """``rows``: the run's ``report.SummaryRow``s."""
    written = []
    for mode in sorted({r.mode for r in rows}):
        editors = sorted({r.editor for r in rows if r.mode == mode and r.split in SPLITS})
        splits = [s for s in SPLITS if any(r.split == s and r.mode == mode for r in rows)]
        if not editors or not splits:
            continue
        val = {(r.editor, r.split): r.value for r in rows
               if r.mode == mode and r.split in SPLITS and r.metric == primary_metric(r.split)}
        fig, ax = plt.subplots(figsize=(1.2 + 0.9 * len(splits), 4))
        w = 0.8 / len(editors)
        for i, ed in enumerate(editors):
            xs = [j + i * w for j in range(len(splits))]
            ax.bar(xs, [val.get((ed, s), 0.0) for s in splits], width=w, label=ed)
        ax.set_xticks([j + 0.4 - w / 2 for j in range(len(splits))])
        ax.set_xticklabels([f"{s}\n({primary_metric(s)})" for s in splits], rotation=30, ha="right", fontsize=8)
        ax.set_ylim(0, 1.05)
        ax.set_ylabel("post-edit value (higher is better)")
        ax.set_title(f"kedit: editors by split, mode {mode}")
        ax.legend(fontsize=8)
        fig.tight_layout()
        path = out / f"bars_{mode}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    return written


def decay(decay_csv: Path, out: Path) -> Path | None:
    if not decay_csv.is_file():
        return None
    with decay_csv.open() as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(6, 4))
    for ed in sorted({r["editor"] for r in rows}):
        for split in sorted({r["split"] for r in rows}):
            pts = sorted((int(r["n_edits"]), float(r["value"])) for r in rows if r["editor"] == ed and r["split"] == split)
            if pts:
                ax.plot(*zip(*pts), marker="o", label=f"{ed}: {split}")
    ax.set_xlabel("edits applied (sequential, no restore)")
    ax.set_ylabel("token_acc over edits so far")
    ax.set_ylim(0, 1.05)
    ax.set_title("kedit: sequential decay")
    ax.legend(fontsize=7)
    fig.tight_layout()
    path = out / "decay_sequential.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
