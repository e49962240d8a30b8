"""``keval sweep``: a grid of keval runs (models × benchmarks × editors × modes × hyper-parameter
overrides × seeds) on Ray, or in this process with ``--local``; merged into one long-form summary,
rankings and a heat map. The file format is in ``spec``, execution in ``runner``, the merge in ``merge``.

    import kedit
    res = kedit.run_sweep("sweep.yaml", out="runs/sweep")  # SweepResult (kedit.sweep.sweep)
    res.to_pandas(); res.failed

``OUT`` holds ``sweep.json`` (the grid), ``cells.jsonl`` (each finished cell: done or failed, its
error, attempts, seconds), ``cells/<cell id>/`` (each cell's keval run folder) and the merged
``sweep_summary.csv`` / ``.md``, ``sweep_ranking.json`` and ``sweep_heatmap.png``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..atomic import PathLock
from ..errors import KeditError
from ..runtime import Runtime
from .merge import SweepResult, merge
from .runner import STATE, cell_dir, read_state, run_cells, write_spec
from .spec import Cell, SweepSpec, read_sweep

__all__ = ["sweep", "run_sweep", "read_sweep", "SweepSpec", "SweepResult", "Cell"]
log = logging.getLogger(__name__)


def sweep(spec: SweepSpec | str | Path, out: str | Path, *, local: bool = False, address: str | None = None,
          retries: int = 2, cpus_per_cell: int = 1, weights: str | None = None, runtime: Runtime | None = None,
          cache: str | Path | None = None, progress: bool = True,
          on_cell: Callable[[int, int, Cell, dict[str, Any]], None] | None = None) -> SweepResult:
    """Run every cell of ``spec`` (a ``SweepSpec`` or a sweep file) not already done in ``out``, then
    merge all done cells (see the module docs).

    ``local``: one cell after another in this process (no Ray); else on Ray, a local cluster or the
    one at ``address`` (``ray://HOST:PORT``, ``HOST:PORT`` or ``auto``), each cell retried
    ``retries`` times if its worker dies. ``runtime``: the cells' dtype, device and batch budget.
    ``cache``: the folder of shared artefacts every worker sees (default: kedit's cache).
    ``on_cell(i, n, cell, outcome)`` is called as each cell finishes.
    """
    from ..settings import cache_root

    if retries < 0 or cpus_per_cell < 1:
        raise KeditError(f"--retries must be 0 or more and --cpus-per-cell at least 1, got {retries} and {cpus_per_cell}")
    if not isinstance(spec, SweepSpec):
        spec = read_sweep(spec)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise KeditError(f"--out {out} is a file; give a folder for the sweep")
    rt = runtime or Runtime(device=None)
    rt_conf = rt.to_config()
    cache = Path(cache) if cache else cache_root()
    out.mkdir(parents=True, exist_ok=True)
    cells = spec.cells()
    with PathLock(out / ".sweep.lock", f"sweep folder {out}"):
        write_spec(out, spec, rt_conf)
        state = read_state(out)
        todo = [c for c in cells if state.get(c.cell_id, {}).get("status") != "done"]
        if len(todo) < len(cells):
            log.warning("%s: %d of %d cells already done; running the other %d", out, len(cells) - len(todo), len(cells),
                        len(todo))
        finished = len(cells) - len(todo)
        bar = _bar(len(cells), finished, progress)
        with (out / STATE).open("a", encoding="utf-8") as fh:
            def on_done(cell: Cell, outcome: dict[str, Any]) -> None:
                nonlocal finished
                finished += 1
                attempts = _attempts(cell_dir(out, cell))
                rec = {"cell": cell.cell_id, **outcome, "attempts": attempts, "finished_at": time.time()}
                fh.write(json.dumps(rec, default=str) + "\n")
                fh.flush()
                if bar is not None:
                    bar.update(1)
                if on_cell is not None:
                    on_cell(finished, len(cells), cell, rec)
                else:
                    log.info("[%d/%d] %s %s%s", finished, len(cells), outcome["status"], cell.cell_id,
                             f": {outcome.get('error')}" if outcome.get("error") else "")

            try:
                run_cells(spec, todo, out, local=local, address=address, retries=retries, cpus_per_cell=cpus_per_cell,
                          runtime=rt_conf, cache=cache, on_done=on_done)
            finally:
                if bar is not None:
                    bar.close()
        return merge(out, spec, cells, weights)


run_sweep = sweep  # the name kedit exports (``kedit.sweep`` is this package)


def _attempts(folder: Path) -> int:
    path = folder / "attempts"
    return len(path.read_text().split()) if path.is_file() else 0


def _bar(total: int, initial: int, progress: bool):
    if not progress:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, unit="cell", desc="sweep")
