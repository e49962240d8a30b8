"""Run a sweep's cells on Ray, or one after another in this process (``--local``).

Each cell is a ``keval run`` of one editor (``kedit.eval.run.run``) into ``OUT/cells/<cell id>/``;
``OUT/cells.jsonl`` records every finished cell (done or failed, its error, attempts and seconds).

* **Shared artefacts, once per model.** Before a model's cells, one task per model loads it (a
  built-in's conversion happens there), computes the unedited answers of each benchmark and runs
  each (editor, hparams) pair's ``prepare`` (layer statistics, AlphaEdit's projectors), all into
  the cache folder every worker sees (``--cache``, exported to the workers as ``KEDIT_CACHE``).
  The cells then find them in the cache.
* **Resumable.** A rerun skips the cells recorded done and resumes the others from their folders
  (the run's own resume: finished case results are kept).
* **Failures.** A worker that dies (killed, out of host memory) is retried by Ray
  (``max_retries``); the retry resumes the cell's folder, so each case result is kept once. A cell
  that still fails, or fails with kedit's own error (bad settings, a model that cannot load), is
  recorded with its error and the sweep goes on; an out-of-memory error comes with a hint to
  lower ``--batch-tokens``.
* **Resources.** ``num_gpus=1`` per cell where the cluster has GPUs, else ``cpus_per_cell`` CPUs
  (and as many torch threads).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from ..atomic import atomic_write_json
from ..errors import KeditError
from .spec import Cell, SweepSpec

log = logging.getLogger(__name__)
STATE = "cells.jsonl"
OOM_HINT = "out of memory: lower --batch-tokens (or --max-batch) for this cell, or give it a larger device"
ENV_PASSED = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HOME", "HF_DATASETS_OFFLINE", "OMP_WAIT_POLICY")


def cell_dir(out: Path, cell: Cell) -> Path:
    return out / "cells" / cell.cell_id


def read_state(out: Path) -> dict[str, dict[str, Any]]:
    """The last record of each cell in ``OUT/cells.jsonl`` (a line cut short by a kill is skipped)."""
    path = out / STATE
    state: dict[str, dict[str, Any]] = {}
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(rec, dict) and "cell" in rec:
                state[rec["cell"]] = rec
    return state


def run_cell(cell: dict[str, Any], spec: dict[str, Any], out: str, runtime: dict[str, Any], threads: int | None,
             prepared: dict[str, Any] | None = None) -> dict[str, Any]:
    """One cell in this process (a Ray task, or ``--local``): its ``keval run``, and what it gives.
    Each attempt is counted in the cell folder's ``attempts`` file. ``prepared``: the outcome of its
    model's ``prepare_model`` (on Ray the cell waits for it)."""
    import torch

    from ..eval.run import RunConfig, run

    if threads:
        torch.set_num_threads(threads)
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "attempts").open("a") as fh:
        fh.write(f"{os.getpid()}\n")
    cfg = RunConfig(model=cell["model"], bench=cell["bench"], editors=[cell["editor"]], mode=cell["mode"], out=out,
                    limit=spec.get("limit"), batch_size=spec.get("batch_size", 10), every=spec.get("every", 0),
                    hparams={cell["editor"]: cell["hparams"]} if cell["hparams"] else {}, seed=cell["seed"],
                    generate=spec.get("generate", True), progress=False, **runtime)
    t0 = time.perf_counter()
    try:
        rep = run(cfg)
    except KeditError as e:  # the same on every attempt: recorded, not retried
        return {"status": "failed", "error": str(e), "seconds": time.perf_counter() - t0}
    except (MemoryError, torch.cuda.OutOfMemoryError) as e:
        return {"status": "failed", "error": f"{type(e).__name__}: {' '.join(str(e).split())[:300]}; {OOM_HINT}",
                "seconds": time.perf_counter() - t0}
    return {"status": "done", "seconds": time.perf_counter() - t0, "n_results": len(rep.results),
            "n_failed": len(rep.failed)}


def prepare_model(model: str, benches: Sequence[str], jobs: Sequence[tuple[str, dict]], spec: dict[str, Any],
                  runtime: dict[str, Any], threads: int | None) -> dict[str, Any]:
    """A model's shared artefacts, computed once into the cache: its conversion (built-ins), the
    unedited answers of each benchmark, and each (editor, hparams)'s ``prepare``."""
    import torch

    from ..editors import EDITORS, load_hparams
    from ..eval.baseline import compute_baseline
    from ..models import load_model
    from ..records import read_cases
    from ..runtime import Runtime, using

    if threads:
        torch.set_num_threads(threads)
    t0 = time.perf_counter()
    rt = Runtime(**runtime).resolved()
    lm = load_model(model, dtype=rt.torch_dtype, device=rt.device, device_map=rt.device_map)
    done: dict[str, Any] = {"model": model, "errors": []}
    with using(rt.resolved(lm.model)):
        for bench in benches:
            try:
                cases = read_cases(bench)[: spec.get("limit") or None]
                compute_baseline(lm.model, lm.tokenizer, cases, lm.fingerprint)
            except KeditError as e:
                done["errors"].append(f"{bench}: {e}")
        for editor, over in jobs:
            try:
                hp = load_hparams(EDITORS.get(editor).hparams_cls, editor, lm.model, over)
                EDITORS.get(editor)().prepare(lm.model, lm.tokenizer, hp)
            except KeditError as e:  # the cells of this editor fail with the same error, recorded there
                done["errors"].append(f"{editor}: {e}")
    done["seconds"] = time.perf_counter() - t0
    return done


def check_address(address: str, timeout: float = 5.0) -> None:
    """A cluster address that does not answer is an error within ``timeout`` seconds (Ray itself
    would wait much longer)."""
    if address in ("auto", "local"):
        return
    url = urlparse(address if "://" in address else f"tcp://{address}")
    if not url.hostname or not url.port:
        raise KeditError(f"--address {address}: give ray://HOST:PORT (Ray Client), HOST:PORT (a head node) or auto")
    try:
        with socket.create_connection((url.hostname, url.port), timeout=timeout):
            pass
    except OSError as e:
        raise KeditError(f"--address {address}: the Ray cluster does not answer ({e.strerror or e}); start it with "
                         "`ray start --head` there, check the address, or run without --address for a local cluster") from None


def run_cells(spec: SweepSpec, cells: Sequence[Cell], out: Path, *, local: bool, address: str | None, retries: int,
              cpus_per_cell: int, runtime: dict[str, Any], cache: Path, on_done: Callable[[Cell, dict], None]) -> None:
    """Run ``cells`` (the ones not done yet) and call ``on_done`` with each one's outcome as it finishes."""
    sd = spec.to_dict()
    if local:
        for cell in cells:
            on_done(cell, _guarded(cell, sd, out, runtime, cpus_per_cell))
        return
    from ..optional import require

    ray = require("ray", "keval sweep (or run the cells here one after another with --local)")
    if address:
        check_address(address)
    env = {k: os.environ[k] for k in ENV_PASSED if k in os.environ} | {"KEDIT_CACHE": str(cache)}
    started = not ray.is_initialized()
    if started:
        try:
            ray.init(address=address or None, include_dashboard=False, log_to_driver=False,
                     runtime_env={"env_vars": env}, logging_level=logging.WARNING)
        except (ConnectionError, RuntimeError, ValueError) as e:
            raise KeditError(f"could not start or reach Ray ({' '.join(str(e).split())[:300]})") from None
    try:
        gpus = ray.cluster_resources().get("GPU", 0)
        res = {"num_gpus": 1, "num_cpus": 1} if gpus else {"num_cpus": cpus_per_cell}
        prep = ray.remote(max_retries=retries, **res)(prepare_model)
        task = ray.remote(max_retries=retries, retry_exceptions=False, **res)(run_cell)
        threads = None if gpus else cpus_per_cell
        preps = {}
        for model in dict.fromkeys(c.model for c in cells):
            jobs = list({(c.editor, json.dumps(c.hparams, sort_keys=True)): (c.editor, c.hparams) for c in cells
                         if c.model == model}.values())
            preps[model] = prep.remote(model, sorted({c.bench for c in cells if c.model == model}), jobs, sd, runtime, threads)
        pending = {task.options(name=cell.cell_id).remote(cell.__dict__, sd, str(cell_dir(out, cell)), runtime, threads,
                                                          preps[cell.model]): cell
                   for cell in cells}
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                cell = pending.pop(ref)
                try:
                    outcome = ray.get(ref)
                except Exception as e:  # noqa: BLE001 -- the last retry failed (a dead worker, a crash): record it
                    outcome = {"status": "failed", "error": _short(e)}
                    if "OutOfMemory" in type(e).__name__ or "OutOfMemory" in str(e):
                        outcome["error"] += f"; {OOM_HINT}"
                on_done(cell, outcome)
        for model, ref in preps.items():
            try:
                got = ray.get(ref)
                for err in got.get("errors", []):
                    log.warning("preparing %s: %s", model, err)
            except Exception as e:  # noqa: BLE001
                log.warning("preparing %s failed: %s", model, _short(e))
    finally:
        if started:
            ray.shutdown()


def _guarded(cell: Cell, sd, out: Path, runtime, threads) -> dict[str, Any]:
    """``run_cell`` in this process (--local); a crash is this cell's recorded failure."""
    try:
        return run_cell(cell.__dict__, sd, str(cell_dir(out, cell)), runtime, threads)
    except Exception as e:  # noqa: BLE001 -- one cell's crash is recorded; the sweep goes on
        log.debug("cell %s: %s", cell.cell_id, traceback.format_exc())
        return {"status": "failed", "error": _short(e)}


def _short(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return f"{type(e).__name__}: {text[:400]}"


def write_spec(out: Path, spec: SweepSpec, runtime: dict[str, Any]) -> None:
    """``OUT/sweep.json``: the grid and runtime this folder holds (a rerun with another grid adds cells)."""
    atomic_write_json(out / "sweep.json", {"schema": "kedit.sweep/1", "spec": spec.to_dict(), "runtime": runtime})
