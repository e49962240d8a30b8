"""Running a sweep: in this process (--local) and on a local Ray cluster started by the test, with a
worker killed mid-cell; resumption, failed cells, the merged figures, and an address that does not
answer."""

from __future__ import annotations

import csv
import json
import os
import signal
import socket
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from kedit.errors import KeditError
from kedit.eval.cli import main
from kedit.eval.results import read_results
from kedit.sweep import read_sweep, sweep


def merged(out: Path) -> list[dict]:
    with (out / "sweep_summary.csv").open() as fh:
        return list(csv.DictReader(fh))


def check_each_cell_once(out: Path, cells, n_cases: int = 3) -> None:
    """Each done cell: its case results once each, and one reliability row in the merged summary."""
    rows = [r for r in merged(out) if r["split"] == "reliability" and r["metric"] == "token_acc"]
    assert Counter(r["cell"] for r in rows) == Counter({c.cell_id: 1 for c in cells})
    assert all(int(r["n_executed"]) == n_cases for r in rows)
    for c in cells:
        lines = [json.loads(ln) for ln in (out / "cells" / c.cell_id / "cases.jsonl").read_text().splitlines() if ln.strip()]
        keys = [(d["editor"], d["mode"], d["case_id"]) for d in lines]
        assert len(set(keys)) == n_cases and len(read_results(out / "cells" / c.cell_id / "cases.jsonl")) == n_cases


def test_a_local_sweep_records_failures_resumes_and_merges(sweep_file, tmp_path):
    bad = {"rome": {**sweep_file.tiny["rome"], "layer": 9}}  # out of range for the 4-layer model
    path = sweep_file(hparams=[sweep_file.tiny, bad])
    spec = read_sweep(path)
    seen = []
    res = sweep(spec, tmp_path / "out", local=True, progress=False, on_cell=lambda i, n, c, rec: seen.append((i, n, rec)))
    cells = spec.cells()
    assert len(cells) == 16 and [i for i, _, _ in seen] == list(range(1, 17))
    failed = {c.cell_id for c in cells if c.editor == "rome" and c.hparams_index == 1}
    assert set(res.failed) == failed and all("out of range" in e for e in res.failed.values())
    ok = [c for c in cells if c.cell_id not in failed]
    check_each_cell_once(tmp_path / "out", ok)
    labels = {r.editor for r in res.rows}
    assert labels == {"ft-l[h0]", "ft-l[h1]", "rome[h0]"}
    assert set(res.ranking) == {spec.models[0]} and len(res.ranking[spec.models[0]]) == 2
    assert (tmp_path / "out" / "sweep_heatmap.png").stat().st_size > 0
    md = (tmp_path / "out" / "sweep_summary.md").read_text()
    assert "12 of 16 cells done" in md and "## Failed cells" in md
    # a rerun skips the done cells and tries the failed ones again
    seen.clear()
    res2 = sweep(spec, tmp_path / "out", local=True, progress=False, on_cell=lambda i, n, c, rec: seen.append(c.cell_id))
    assert set(seen) == failed and set(res2.failed) == failed
    assert all((tmp_path / "out" / "cells" / c.cell_id / "attempts").read_text().count("\n") == 1 for c in ok)


def _kill_one_cell_mid_way(out: Path, stop: threading.Event, killed: list) -> None:
    """Kill the Ray worker of the first cell caught with some but not all of its case results written."""
    while not stop.is_set() and not killed:
        for cell in (out / "cells").glob("*") if (out / "cells").is_dir() else []:
            lock, cases = cell / ".lock", cell / "cases.jsonl"
            try:
                pid = int(lock.read_text().strip())
                n = len(cases.read_text().splitlines()) if cases.is_file() else 0
            except (OSError, ValueError):
                continue
            if 1 <= n < 3 and pid != os.getpid():
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    continue
                killed.append(cell.name)
                return
        time.sleep(0.002)


def test_a_ray_sweep_retries_a_killed_worker_and_keeps_each_cell_once(sweep_file, tmp_path):
    pytest.importorskip("ray")
    path = sweep_file("limit: 3\n")
    # sequential mode: a cell writes one result per edit, so a kill lands between results
    path_text = open(path).read().replace("modes: [single, batch]", "modes: [single, sequential]")
    open(path, "w").write(path_text + "every: 1\n")
    spec = read_sweep(path)
    out = tmp_path / "ray"
    stop, killed = threading.Event(), []
    killer = threading.Thread(target=_kill_one_cell_mid_way, args=(out, stop, killed), daemon=True)
    killer.start()
    try:
        res = sweep(spec, out, retries=2, progress=False)
    finally:
        stop.set()
        killer.join()
    assert killed, "no cell was caught mid-way"
    assert not res.failed, res.failed
    check_each_cell_once(out, spec.cells())
    state = {json.loads(ln)["cell"]: json.loads(ln) for ln in (out / "cells.jsonl").read_text().splitlines()}
    assert state[killed[0]]["attempts"] == 2 and state[killed[0]]["status"] == "done"
    assert all(v["attempts"] == 1 for k, v in state.items() if k != killed[0])
    # the shared artefacts were made once, by the model's preparation: every cell found them in the cache
    for c in spec.cells():
        conf = json.loads((out / "cells" / c.cell_id / "config.json").read_text())
        assert conf["baseline"]["cache_hit"], c.cell_id
        if c.editor == "rome":
            assert conf["precompute"]["rome"]["stats_cache_hit"], c.cell_id


def test_an_address_that_does_not_answer_is_an_error_in_seconds(sweep_file, tmp_path):
    pytest.importorskip("ray")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends: nothing listens there
    t0 = time.perf_counter()
    with pytest.raises(KeditError, match=r"the Ray cluster does not answer.*ray start --head"):
        sweep(sweep_file(), tmp_path / "x", address=f"ray://127.0.0.1:{port}", progress=False)
    assert time.perf_counter() - t0 < 10


def test_the_command_line(sweep_file, tmp_path, capsys):
    path = sweep_file()
    assert main(["sweep", path, "--out", str(tmp_path / "cli"), "--local", "-q"]) == 0
    out = capsys.readouterr().out
    assert out.count("] done ") == 8 and "# keval sweep (8 of 8 cells done)" in out
    text = open(path).read().replace("editors: [ft-l, rome]", "editors: [ft-l, romee]")
    open(path, "w").write(text)
    assert main(["sweep", path, "--out", str(tmp_path / "cli"), "--local"]) == 2
    assert "unknown editor 'romee'; did you mean 'rome'? " in capsys.readouterr().err


def test_out_of_memory_in_one_cell_is_recorded_with_a_hint_and_the_sweep_goes_on(sweep_file, tmp_path, monkeypatch):
    """Fault injection: the first ROME cell runs out of memory (as a GPU would); the others finish."""
    import torch

    import kedit.eval.run as run_mod

    real = run_mod.run
    hit = []

    def oom_once(cfg):
        if cfg.editors == ["rome"] and not hit:
            hit.append(cfg.out)
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real(cfg)

    monkeypatch.setattr(run_mod, "run", oom_once)
    res = sweep(read_sweep(sweep_file()), tmp_path / "oom", local=True, progress=False)
    assert len(res.failed) == 1
    (err,) = res.failed.values()
    assert "OutOfMemoryError" in err and "lower --batch-tokens" in err
    assert sum(v["status"] == "done" for v in res.cells.values()) == 7
