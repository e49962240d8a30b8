"""A bad case never ends the run; a run error stops it before any work; every editor leaves the model
as it found it when it fails half-way; one run folder has one writer; results are typed and versioned."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import threading
from dataclasses import dataclass, replace

import pytest
import torch

import kedit
from kedit.atomic import FolderLock, atomic_write
from kedit.editors import EDITORS, load_hparams, timed_edit
from kedit.errors import KeditError
from kedit.eval.cli import main
from kedit.eval.modes import request_of
from kedit.eval.results import RESULT_SCHEMA, read_results
from kedit.records import write_jsonl
from tests.fixtures.hparams import TINY_OVERRIDES, hparam_args, tiny_hparams


class Boom(RuntimeError):
    pass


def _last_block(model):
    from kedit.models.roles import module_at, n_layers

    return module_at(model, "layer", n_layers(model) - 1)


class _FailAt:
    """A forward hook on the model's last block that raises on its n-th call (0: never), counting calls."""

    def __init__(self, model, n: int):
        self.n, self.calls = n, 0
        self.handle = _last_block(model).register_forward_hook(self)

    def __call__(self, *_):
        self.calls += 1
        if self.calls == self.n:
            raise Boom(f"injected failure at forward {self.n}")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.handle.remove()


@pytest.mark.parametrize("name", EDITORS.names())
def test_an_editor_that_fails_half_way_leaves_the_model_bitwise_unchanged(name, tiny_kg, tiny_artifacts, tmp_path, monkeypatch):
    """Contract over the registry, failure path: a forward pass raises in the middle of the edit (after
    the first request of two has been written, for editors that write one at a time)."""
    monkeypatch.setenv("KEDIT_CACHE", str(tmp_path))
    model, tok = tiny_kg.model, tiny_kg.tokenizer
    editor = EDITORS.get(name)()
    hp = load_hparams(editor.hparams_cls, name, model, tiny_hparams(name, tiny_artifacts))
    editor.prepare(model, tok, hp)
    requests = [request_of(c) for c in tiny_kg.cases[:2]]
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    with _FailAt(model, 0) as count:  # a clean edit, to count its forward passes
        timed_edit(editor, model, tok, requests, hp).restore()
    if count.calls == 0:  # an editor that never runs the model while editing (in-context) cannot fail there
        assert editor.in_context
        return
    # after the first forward pass where there are several (UltraEdit edits in one pass: its only one)
    for n in sorted({min(2, count.calls), max(min(2, count.calls), count.calls // 2 + 1), count.calls}):
        with _FailAt(model, n), pytest.raises(Boom):
            timed_edit(editor, model, tok, requests, hp)
        assert all(torch.equal(before[k], p) for k, p in model.named_parameters()), f"modified after a failure at forward {n}"
        assert not any(p.requires_grad for p in model.parameters())


def test_a_broken_case_is_recorded_and_the_others_are_scored(tiny_kg, tmp_path, monkeypatch):
    """ROME cannot edit a case whose prompt lacks its subject (the key is the subject's token); FT-L
    does not need the subject. The run finishes; the case is failed for ROME alone."""
    monkeypatch.setenv("KEDIT_CACHE", str(tmp_path / "cache"))
    model, tok = tiny_kg.model, tiny_kg.tokenizer
    cases = list(tiny_kg.cases[:4])
    cases[1] = replace(cases[1], subject="Nobody-At-All")
    before = [p.clone() for p in model.parameters()]
    rep = kedit.evaluate(model, tok, cases, editors=["rome", "ft-l"], hparams={k: TINY_OVERRIDES[k] for k in ("rome", "ft-l")},
                         out=tmp_path / "run", progress=False)
    assert [(r.editor, r.case_id) for r in rep.failed] == [("rome", cases[1].case_id)]
    assert "does not contain its subject" in rep.failed[0].error
    ok = [r for r in rep.results if not r.failed]
    assert len(ok) == 7 and all(r.probes for r in ok)
    rows = {(r.editor, r.split, r.metric): r for r in rep.rows}
    assert rows[("rome", "efficiency", "n_failed")].value == 1 and ("ft-l", "efficiency", "n_failed") not in rows
    assert rows[("rome", "reliability", "token_acc")].n_executed == 3
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    summary = list(csv.DictReader((tmp_path / "run" / "summary.csv").open()))
    assert any(r["editor"] == "rome" and r["metric"] == "n_failed" and float(r["value"]) == 1 for r in summary)
    # a rerun redoes only the failed case (it fails again, the others are kept)
    rep2 = kedit.evaluate(model, tok, cases, editors=["rome", "ft-l"], hparams={k: TINY_OVERRIDES[k] for k in ("rome", "ft-l")},
                          out=tmp_path / "run", progress=False)
    assert len(rep2.results) == 8 and len(rep2.failed) == 1


def test_a_run_error_stops_before_any_work_and_leaves_no_folder(tiny_kg, tmp_path, capsys):
    bench = write_jsonl(tiny_kg.cases[:2], tmp_path / "bench.jsonl")
    out = tmp_path / "run"
    rc = main(["run", "--model", str(tiny_kg.path), "--bench", str(bench), "--editors", "rome", "--out", str(out),
               "--hparam", "rome.layer=9"])
    err = capsys.readouterr().err
    assert rc == 2 and "out of range" in err and "rome.layer" in err and "Traceback" not in err
    assert not out.exists()


def test_a_second_run_on_a_folder_in_use_is_refused(tiny_kg, tmp_path, capsys):
    bench = write_jsonl(tiny_kg.cases[:2], tmp_path / "bench.jsonl")
    out = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from kedit.atomic import FolderLock; "
                               f"FolderLock({str(out)!r}).acquire(); print('held', flush=True); time.sleep(60)"],
                              stdout=subprocess.PIPE, text=True, cwd=os.getcwd())
    try:
        assert holder.stdout.readline().strip() == "held"
        rc = main(["run", "--model", str(tiny_kg.path), "--bench", str(bench), "--editors", "ft-l", "--out", str(out),
                   *hparam_args("ft-l")])
        err = capsys.readouterr().err
        assert rc == 2 and f"in use by PID {holder.pid}" in err
        assert not (out / "cases.jsonl").exists()
    finally:
        holder.kill()
        holder.wait()
    # the holder was killed: its lock is stale and the next run takes it over
    assert main(["run", "--model", str(tiny_kg.path), "--bench", str(bench), "--editors", "ft-l", "--out", str(out),
                 *hparam_args("ft-l")]) == 0
    assert not (out / ".lock").exists()


def test_a_lock_is_not_taken_twice_in_one_process(tmp_path):
    with FolderLock(tmp_path):
        with pytest.raises(KeditError, match="already in use by this process"):
            FolderLock(tmp_path).acquire()
    FolderLock(tmp_path).acquire().release()


def test_concurrent_atomic_writes_never_leave_a_torn_or_temporary_file(tmp_path):
    target = tmp_path / "config.json"
    payloads = [json.dumps({"writer": i, "pad": "x" * 200_000}) for i in range(8)]
    threads = [threading.Thread(target=lambda p=p: [atomic_write(target, p) for _ in range(5)]) for p in payloads]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert target.read_text() in payloads
    assert [p.name for p in tmp_path.iterdir()] == ["config.json"]
    assert oct(target.stat().st_mode & 0o777) == oct(0o666 & ~_umask())


def _umask() -> int:
    m = os.umask(0)
    os.umask(m)
    return m


def test_results_are_versioned_and_old_lines_still_read(tmp_path):
    path = tmp_path / "cases.jsonl"
    legacy = {"editor": "rome", "mode": "single", "case_id": "c1", "edit_seconds": 1.5, "peak_memory_bytes": 10,
              "probes": [{"index": 0, "split": "reliability", "expect": "new", "executed": True,
                          "metrics": {"token_acc": {"pre": 0.0, "post": 1.0}}, "generated": " Rome"},
                         {"index": 1, "split": "one_hop", "expect": "new", "executed": False}]}
    path.write_text(json.dumps(legacy) + "\n")
    (r,) = read_results(path)
    assert r.probes[0].metrics["token_acc"].post == 1.0 and not r.probes[1].executed and not r.failed
    assert r.to_dict()["schema"] == RESULT_SCHEMA
    assert {k: v for k, v in r.to_dict().items() if k != "schema"} == legacy  # same shape, now tagged
    path.write_text(json.dumps({**legacy, "schema": "kedit.result/9"}) + "\n")
    with pytest.raises(KeditError, match="kedit 9.0.0"):
        read_results(path, "9.0.0")


def test_report_on_a_run_from_a_newer_kedit_says_which_version_wrote_it(tiny_kg, tmp_path, capsys):
    bench = write_jsonl(tiny_kg.cases[:2], tmp_path / "bench.jsonl")
    out = tmp_path / "run"
    assert main(["run", "--model", str(tiny_kg.path), "--bench", str(bench), "--editors", "ft-l", "--out", str(out),
                 *hparam_args("ft-l")]) == 0
    lines = (out / "cases.jsonl").read_text().splitlines()
    assert all(json.loads(x)["schema"] == RESULT_SCHEMA for x in lines)
    conf = json.loads((out / "config.json").read_text())
    assert conf["schema"] == "kedit.run/1" and conf["kedit"] == kedit.__version__
    # a run written before the schema tags (kedit 0.1.0 at f4fce7b) reads as it is
    (out / "config.json").write_text(json.dumps({k: v for k, v in conf.items() if k != "schema"}))
    (out / "cases.jsonl").write_text("".join(json.dumps({k: v for k, v in json.loads(x).items() if k != "schema"}) + "\n"
                                             for x in lines))
    capsys.readouterr()
    assert main(["report", str(out)]) == 0 and "| ft-l | reliability |" in capsys.readouterr().out
    (out / "config.json").write_text(json.dumps({**conf, "schema": "kedit.run/2", "kedit": "0.7.0"}))
    assert main(["report", str(out)]) == 2
    assert "written by kedit 0.7.0" in capsys.readouterr().err


def test_sequential_resume_after_an_interruption_gives_the_uninterrupted_decay_curve(tiny_kg, tmp_path, monkeypatch):
    """Ctrl-C (or kill) in the middle of a sequence, then the same command again: decay.csv holds
    each point once, as an uninterrupted run writes it."""
    from kedit.editors import EditResult, Editor, ParamSnapshot, register_editor
    from kedit.models import module_at

    @dataclass(frozen=True)
    class HP:
        stop_at: str = ""

    class Stepper(Editor):
        stopped = False

        hparams_cls = HP

        def edit(self, model, tok, requests, hp):
            if requests[0].case_id == hp.stop_at and not Stepper.stopped:
                Stepper.stopped = True
                raise KeyboardInterrupt
            w = module_at(model, "mlp_out", 0).weight
            snap = ParamSnapshot(model, [next(n for n, p in model.named_parameters() if p is w)])
            with torch.no_grad():
                w.add_(0.003)
            return EditResult(self.name, requests, snap)

    register_editor("test-stepper")(Stepper)
    try:
        monkeypatch.setenv("KEDIT_CACHE", str(tmp_path / "cache"))
        bench = write_jsonl(tiny_kg.cases[:6], tmp_path / "bench.jsonl")
        args = ["run", "--model", str(tiny_kg.path), "--bench", str(bench), "--editors", "test-stepper",
                "--mode", "sequential", "--every", "2"]
        assert main(args + ["--out", str(tmp_path / "whole")]) == 0
        stop = ["--hparam", f"test-stepper.stop_at={tiny_kg.cases[4].case_id}"]
        assert main(args + ["--out", str(tmp_path / "cut")] + stop) == 130  # interrupted after 2 decay points
        assert len((tmp_path / "cut" / "decay.csv").read_text().splitlines()) == 1 + 3 * 3  # 0, 2 and 4 edits
        assert main(args + ["--out", str(tmp_path / "cut")] + stop) == 0
        whole = (tmp_path / "whole" / "decay.csv").read_text().splitlines()
        again = (tmp_path / "cut" / "decay.csv").read_text().splitlines()
        assert len(whole) == 1 + 4 * 3 and again == whole  # 0, 2, 4 and 6 edits
    finally:
        EDITORS.unregister("test-stepper")
