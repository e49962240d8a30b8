"""keval run end to end on the tiny trained model: outputs, modes, baseline reuse, resume, failures."""

import csv
import json
from dataclasses import dataclass

import pytest
import torch

from kedit.editors.base import EDITORS, EditResult, Editor, ParamSnapshot, register_editor
from kedit.eval.cli import main
from kedit.eval.report import COLUMNS
from kedit.models import module_at
from kedit.records import write_jsonl
from tests.fixtures.hparams import TINY_OVERRIDES, hparam_args


@dataclass(frozen=True)
class ShiftHP:
    fail_on: str = ""


class ShiftEditor(Editor):
    """Test double for runner mechanics: shifts one MLP weight, fails on a chosen case."""

    hparams_cls = ShiftHP
    calls: list = []

    def edit(self, model, tok, requests, hp):
        ShiftEditor.calls.append([r.case_id for r in requests])
        if any(r.case_id == hp.fail_on for r in requests):
            raise RuntimeError("deliberate failure")
        w = module_at(model, "mlp_out", 0).weight
        name = next(n for n, p in model.named_parameters() if p is w)
        snap = ParamSnapshot(model, [name])
        with torch.no_grad():
            w.add_(0.01)
        return EditResult(self.name, requests, snap)


@pytest.fixture(autouse=True, scope="module")
def shift_editor():
    """Registered only while this module's tests run, so registry contract tests never see it."""
    register_editor("test-shift")(ShiftEditor)
    yield ShiftEditor
    EDITORS.unregister("test-shift")


@pytest.fixture()
def bench(tiny_kg, tmp_path):
    return write_jsonl(tiny_kg.cases[:6], tmp_path / "bench.jsonl")


def keval(*args):
    return main([str(a) for a in args])


def test_single_mode_writes_every_output(tiny_kg, bench, tmp_path, capsys):
    out = tmp_path / "run"
    before = [p.clone() for p in tiny_kg.model.parameters()]
    assert keval("run", "--model", tiny_kg.path, "--bench", bench, "--editors", "test-shift,ft-l", "--mode", "single", "--out", out, *hparam_args("ft-l")) == 0
    printed = capsys.readouterr().out
    assert "| test-shift | reliability |" in printed and "ranking" in printed
    for name in ("config.json", "cases.jsonl", "summary.csv", "summary.md", "ranking.json", "bars_single.png"):
        assert (out / name).is_file(), name
    with (out / "summary.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == COLUMNS
    splits = {r["split"] for r in rows if r["editor"] == "ft-l"}
    assert {"reliability", "generalization", "locality", "efficiency"} <= splits
    records = [json.loads(line) for line in (out / "cases.jsonl").read_text().splitlines()]
    assert len(records) == 12
    rel = [p for r in records if r["editor"] == "ft-l" for p in r["probes"] if p["split"] == "reliability"]
    assert all(p["metrics"]["token_acc"]["pre"] is not None for p in rel)
    ftl = {r["metric"]: float(r["value"]) for r in rows if r["editor"] == "ft-l" and r["split"] == "reliability"}
    assert ftl["token_acc"] > ftl["token_acc.pre"]
    conf = json.loads((out / "config.json").read_text())
    assert conf["editor_hparams"]["ft-l"] and conf["model_fingerprint"].startswith("dir:")
    # keval report reprints the finished run, with other ranking weights if asked
    capsys.readouterr()
    assert keval("report", out, "--weights", "portability=2,locality=1") == 0
    again_md = capsys.readouterr().out
    assert "| ft-l | reliability |" in again_md and "portability=2" in again_md
    assert keval("report", tmp_path / "nowhere") == 2
    # the weights the runner was given are untouched (every edit restored)
    from kedit.models import load_model

    again = load_model(str(tiny_kg.path)).model
    assert all(torch.equal(a, b) for a, b in zip(before, again.parameters()))


def test_baseline_is_computed_once_and_reused(tiny_kg, bench, tmp_path, monkeypatch):
    monkeypatch.setenv("KEDIT_CACHE", str(tmp_path / "cache"))
    keval("run", "--model", tiny_kg.path, "--bench", bench, "--editors", "test-shift", "--out", tmp_path / "a")
    keval("run", "--model", tiny_kg.path, "--bench", bench, "--editors", "test-shift", "--mode", "batch", "--out", tmp_path / "b")
    a = json.loads((tmp_path / "a" / "config.json").read_text())["baseline"]
    b = json.loads((tmp_path / "b" / "config.json").read_text())["baseline"]
    assert a["cache_hit"] is False and b["cache_hit"] is True


def test_failing_case_is_recorded_and_run_goes_on(tiny_kg, bench, tmp_path):
    out = tmp_path / "run"
    fail = tiny_kg.cases[2].case_id
    assert keval("run", "--model", tiny_kg.path, "--bench", bench, "--editors", "test-shift", "--out", out,
                 "--hparam", f"test-shift.fail_on={fail}") == 0
    records = [json.loads(line) for line in (out / "cases.jsonl").read_text().splitlines()]
    assert len(records) == 6
    bad = [r for r in records if r.get("error")]
    assert [r["case_id"] for r in bad] == [fail] and "deliberate failure" in bad[0]["error"]
    rows = list(csv.DictReader((out / "summary.csv").open()))
    assert any(r["metric"] == "n_failed" and float(r["value"]) == 1 for r in rows)


def test_interrupted_run_resumes_where_it_stopped(tiny_kg, bench, tmp_path):
    out = tmp_path / "run"
    keval("run", "--model", tiny_kg.path, "--bench", bench, "--editors", "test-shift", "--out", out)
    lines = (out / "cases.jsonl").read_text().splitlines()
    (out / "cases.jsonl").write_text("\n".join(lines[:2]) + "\n" + lines[2][:40])  # killed mid-write
    ShiftEditor.calls.clear()
    keval("run", "--model", tiny_kg.path, "--bench", bench, "--editors", "test-shift", "--out", out)
    done_again = [c for call in ShiftEditor.calls for c in call]
    assert done_again == [c.case_id for c in tiny_kg.cases[2:6]]
    rows = list(csv.DictReader((out / "summary.csv").open()))
    rel = next(r for r in rows if r["split"] == "reliability" and r["metric"] == "token_acc")
    assert int(rel["n_executed"]) + int(rel["n_not_executed"]) == sum(len(c.probes_of("reliability")) for c in tiny_kg.cases[:6])
    # other settings in the same folder are refused, nothing overwritten
    assert keval("run", "--model", tiny_kg.path, "--bench", bench, "--editors", "test-shift", "--mode", "batch", "--out", out) == 2


def test_batch_and_sequential_modes(tiny_kg, bench, tmp_path):
    out = tmp_path / "batch"
    assert keval("run", "--model", tiny_kg.path, "--bench", bench, "--editors", "ft-l", "--mode", "batch", "--batch-size", "3", "--out", out, *hparam_args("ft-l")) == 0
    records = [json.loads(line) for line in (out / "cases.jsonl").read_text().splitlines()]
    assert {r["batch"] for r in records} == {0, 1} and all(r["batch_size"] == 3 for r in records)
    out = tmp_path / "seq"
    assert keval("run", "--model", tiny_kg.path, "--bench", bench, "--editors", "ft-l", "--mode", "sequential", "--every", "2", "--out", out, *hparam_args("ft-l")) == 0
    decay = list(csv.DictReader((out / "decay.csv").open()))
    assert sorted({int(r["n_edits"]) for r in decay}) == [0, 2, 4, 6]
    zero = {r["split"]: float(r["value"]) for r in decay if r["n_edits"] == "0"}
    assert zero["locality"] == 1.0 and zero["reliability"] < 0.5  # the unedited model: before any edit
    assert (out / "decay_sequential.png").is_file()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--editors", "rom"], "did you mean 'rome'"),
        (["--editors", "rome", "--mode", "singel"], "did you mean 'single'"),
        (["--editors", "rome", "--weights", "portabilty=2"], "did you mean 'portability'"),
        (["--editors", "rome", "--hparam", "rome.layr=3"], "did you mean 'layer'"),
    ],
)
def test_bad_arguments_get_one_line_with_what_to_do(tiny_kg, bench, tmp_path, capsys, args, message):
    rc = keval("run", "--model", tiny_kg.path, "--bench", bench, "--out", tmp_path / "x", *args)
    err = capsys.readouterr().err
    assert rc == 2 and message in err and "Traceback" not in err


def test_bad_bench_names_file_line_field(tiny_kg, tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    good = tiny_kg.cases[0].to_dict()
    broken = dict(good, case_id="x")
    del broken["target_new"]
    bad.write_text(json.dumps(good) + "\n" + json.dumps(broken) + "\n")
    assert keval("run", "--model", tiny_kg.path, "--bench", bad, "--editors", "ft-l", "--out", tmp_path / "x") == 2
    err = capsys.readouterr().err
    assert f"{bad}, line 2: field 'target_new': missing" in err


def test_runs_on_an_easyedit_file_detected_by_format(tiny_kg, tmp_path):
    """keval takes a bench in EasyEdit's ZsRE portability format as it is."""
    from pathlib import Path

    zsre = Path(__file__).resolve().parents[1] / "data" / "easyedit_zsre.json"
    out = tmp_path / "run"
    assert keval("run", "--model", tiny_kg.path, "--bench", zsre, "--editors", "test-shift", "--out", out) == 0
    conf = json.loads((out / "config.json").read_text())
    assert conf["n_cases"] >= 2
    rows = list(csv.DictReader((out / "summary.csv").open()))
    assert {"reliability", "generalization", "locality"} <= {r["split"] for r in rows}


def test_runs_on_an_exported_dataset_folder_through_the_cli(tiny_kg, bench, tmp_path):
    """The README and the dataset card promise ``keval run --bench DIR`` on a ``kbuild export`` folder."""
    from kedit.builder.cli import main as kbuild

    ds = tmp_path / "dataset"
    assert kbuild(["export", "--in", str(bench), "--out", str(ds)]) == 0
    out = tmp_path / "run"
    assert keval("run", "--model", tiny_kg.path, "--bench", ds, "--editors", "test-shift", "--out", out) == 0
    conf = json.loads((out / "config.json").read_text())
    assert conf["n_cases"] == 6 and len(conf["bench_sha256"]) == 64
    from_file = tmp_path / "run-file"
    assert keval("run", "--model", tiny_kg.path, "--bench", bench, "--editors", "test-shift", "--out", from_file) == 0
    # the same cases, whether read from the JSONL or from its export: the same digest and figures
    assert json.loads((from_file / "config.json").read_text())["bench_sha256"] == conf["bench_sha256"]
    scores = lambda d: [r for r in csv.DictReader((d / "summary.csv").open()) if r["split"] != "efficiency"]  # noqa: E731
    assert scores(out) == scores(from_file)


def test_a_probe_another_case_edits_is_counted_apart_in_batch_and_sequential_modes(tiny_kg):
    """The tiny KG's locality probes are often other cases' edit prompts: with both cases edited those
    probes measure the other edit, not locality, and are flagged written (single mode has none)."""
    import kedit
    from kedit.closure import normalize_prompt

    cases = tiny_kg.cases[:12]
    prompts = {normalize_prompt(c.prompt): c.case_id for c in cases}
    clash = {(c.case_id, p.prompt) for c in cases for p in c.probes
             if p.split != "reliability" and prompts.get(normalize_prompt(p.prompt), c.case_id) != c.case_id}
    assert clash, "the fixture should have a probe that is another case's edit prompt"
    for mode in ("single", "batch", "sequential"):
        rep = kedit.evaluate(tiny_kg.model, tiny_kg.tokenizer, cases, editors=["grace"], mode=mode, batch_size=12, every=12,
                             hparams={"grace": {"layer": 2, "steps": 2}}, progress=False, generate=False)
        written = {(r.case_id, p.prompt) for r in rep.results for p in r.probes if p.written}
        assert written == (set() if mode == "single" else clash), mode
        assert sum(r.n_written for r in rep.rows if r.metric == "token_acc") == len(written)


def test_sequential_turns_write_several_edits_per_call(tiny_kg, bench, tmp_path):
    """--turn-size 3: the test editor gets three cases per call; the decay curve is still in edits."""
    ShiftEditor.calls.clear()
    out = tmp_path / "turns"
    assert keval("run", "--model", tiny_kg.path, "--bench", bench, "--editors", "test-shift", "--mode", "sequential",
                 "--turn-size", "3", "--every", "3", "--out", out, "--no-generate") == 0
    assert [len(c) for c in ShiftEditor.calls] == [3, 3]
    decay = list(csv.DictReader((out / "decay.csv").open()))
    assert sorted({int(r["n_edits"]) for r in decay}) == [0, 3, 6]
    assert json.loads((out / "config.json").read_text())["turn_size"] == 3
    records = [json.loads(line) for line in (out / "cases.jsonl").read_text().splitlines()]
    assert len(records) == 6 and not any(r.get("error") for r in records)


def test_a_failed_turn_records_each_of_its_cases_and_the_sequence_goes_on(tiny_kg):
    import kedit

    failing = tiny_kg.cases[4].case_id
    rep = kedit.evaluate(tiny_kg.model, tiny_kg.tokenizer, tiny_kg.cases[:6], editors=["test-shift"], mode="sequential",
                         turn_size=3, every=3, hparams={"test-shift": {"fail_on": failing}}, progress=False, generate=False)
    failed = {r.case_id for r in rep.results if r.failed}
    assert failed == {c.case_id for c in tiny_kg.cases[3:6]}
    assert all(r.n_edits == 3 for r in rep.results if not r.failed)


def test_a_sequence_keeps_one_copy_of_each_tensor_and_still_restores_bitwise(tiny_kg):
    """Ten FT-L edits of the same weight: one saved copy, not ten; the model comes back bit for bit."""
    import kedit
    from kedit.editors.base import ParamSnapshot

    model = tiny_kg.model
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    real_init = ParamSnapshot.__init__

    def spy(self, *a, **kw):
        real_init(self, *a, **kw)
        spy.snaps.append(self)
    spy.snaps = []

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ParamSnapshot, "__init__", spy)
        kedit.evaluate(model, tiny_kg.tokenizer, tiny_kg.cases[:10], editors=["ft-l"], mode="sequential", every=10,
                       hparams={"ft-l": TINY_OVERRIDES["ft-l"]}, progress=False, generate=False)
    sizes = [s.nbytes for s in spy.snaps]
    assert len(sizes) == 10 and sizes[0] > 0 and sum(sizes[1:]) == 0  # the first edit's copy is the only one
    assert all(torch.equal(before[n], p) for n, p in model.named_parameters())


def test_an_in_context_editor_reports_its_seconds_per_probe(tiny_kg):
    """Prompt editors pay at question time: the rewrite of the prompts is timed per probe."""
    import kedit

    rep = kedit.evaluate(tiny_kg.model, tiny_kg.tokenizer, tiny_kg.cases[:2], editors=["rag", "test-shift"], mode="single",
                         progress=False, generate=False)
    eff = {(r.editor, r.metric): r for r in rep.rows if r.split == "efficiency"}
    assert eff[("rag", "seconds_per_probe")].value > 0 and eff[("rag", "seconds_per_probe")].n_executed == 2
    assert ("test-shift", "seconds_per_probe") not in eff
    assert all(r.edit_info["wrapped_prompts"] == sum(p.executed for p in r.probes) for r in rep.results if r.editor == "rag")
