"""The Python API on the tiny trained model: load, read, edit and restore, evaluate in memory and into
a run folder, generate and filter; stage functions return typed results and print nothing."""

from __future__ import annotations

import dataclasses

import pytest
import torch

import kedit
from kedit.eval.results import CaseResult
from tests.fixtures.hparams import TINY_OVERRIDES
from tests.fixtures.kgfolder import write_kg_folder


def test_load_model_unpacks_into_model_and_tokenizer(tiny_kg):
    model, tok = kedit.load_model(str(tiny_kg.path))
    assert isinstance(model, torch.nn.Module) and tok("a").input_ids


def test_edit_returns_a_result_that_restores_bitwise(tiny_kg, capsys):
    model, tok = tiny_kg.model, tiny_kg.tokenizer
    before = [p.clone() for p in model.parameters()]
    case = tiny_kg.cases[0]
    res = kedit.edit(model, tok, "ft-l", case, hparams=TINY_OVERRIDES["ft-l"])
    assert isinstance(res, kedit.EditResult) and res.changed and res.seconds > 0
    assert not all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    res.restore()
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    # a dict works as well as a case; a bad one says what is missing
    kedit.edit(model, tok, "ft-l", {"prompt": case.prompt, "subject": case.subject, "target_new": case.target_new},
               hparams=TINY_OVERRIDES["ft-l"]).restore()
    with pytest.raises(kedit.KeditError, match="target_new"):
        kedit.edit(model, tok, "ft-l", {"prompt": case.prompt, "subject": case.subject})
    with pytest.raises(kedit.KeditError, match="did you mean 'rome'"):
        kedit.edit(model, tok, "rom", case)
    assert capsys.readouterr().out == ""


def test_evaluate_in_memory_gives_a_typed_report_and_a_dataframe(tiny_kg, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("KEDIT_CACHE", str(tmp_path / "cache"))
    model, tok = tiny_kg.model, tiny_kg.tokenizer
    # the tiny model reads 64 tokens: IKE without demonstrations (the new fact alone) fits
    rep = kedit.evaluate(model, tok, tiny_kg.cases[:3], editors=["ft-l", "ike"], mode="single",
                         hparams={"ft-l": TINY_OVERRIDES["ft-l"], "ike": {"k": 0}}, progress=False)
    assert isinstance(rep, kedit.Report) and rep.out is None and not rep.failed
    assert len(rep.results) == 6 and all(isinstance(r, CaseResult) for r in rep.results)
    df = rep.to_pandas()
    assert list(df.columns) == ["editor", "mode", "split", "metric", "value", "n_executed", "n_not_executed", "n_written"]
    rel = df[(df.editor == "ft-l") & (df.split == "reliability") & (df.metric == "token_acc")]
    assert len(rel) == 1 and rel.value.iloc[0] == 1.0
    probes = rep.probes_to_pandas()
    assert {"post", "pre", "executed", "case_id"} <= set(probes.columns)
    assert "| ft-l | reliability |" in rep.markdown()
    assert capsys.readouterr().out == ""


def test_evaluate_into_a_folder_matches_the_report_read_back(tiny_kg, tmp_path, monkeypatch):
    monkeypatch.setenv("KEDIT_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "run"
    rep = kedit.evaluate(tiny_kg.model, tiny_kg.tokenizer, tiny_kg.cases[:2], editors=["ft-l"],
                         hparams={"ft-l": TINY_OVERRIDES["ft-l"]}, out=out, progress=False)
    again = kedit.load_report(out)
    assert rep.rows == again.rows and {r.key for r in rep.results} == {r.key for r in again.results}
    assert (out / "summary.csv").is_file() and not (out / ".lock").exists()


def test_generate_and_filter_cases_as_functions(tiny_kg, tmp_path, capsys):
    folder = write_kg_folder(tmp_path / "kg")
    gen = kedit.generate(tiny_kg.cases[:4], backend="kg", kg=str(folder), commonsense="none")
    assert isinstance(gen, kedit.GenerateResult) and gen.out is None and len(gen.cases) == 4
    assert gen.figures["generate"]["backend"] == "kg" and gen.figures["generate"]["probes_per_split"]["one_hop"] > 0
    plan = kedit.generate(tiny_kg.cases[:4], backend="kg", kg=str(folder), dry_run=True).plan
    assert plan["calls"] == 0 and plan["to_do"] == 4
    with pytest.raises(kedit.KeditError, match="did you mean 'kg'"):
        kedit.generate(tiny_kg.cases[:4], backend="kg", kgg=str(folder))
    res = kedit.filter_cases(gen.cases, model=tiny_kg.model, tok=tiny_kg.tokenizer)
    assert isinstance(res, kedit.FilterResult) and res.out is None
    assert len(res.kept) + sum(1 for c in res.dropped if not c.provenance["filter"]["passed"]) == 4
    kept_probes = sum(v["kept"] for v in res.probes_per_split.values())
    assert kept_probes == sum(len(c.probes) for c in res.kept) > 0
    # by name, into files: the same decisions
    out = tmp_path / "bench.jsonl"
    by_name = kedit.filter_cases(gen.cases, model=str(tiny_kg.path), out=out)
    assert [dataclasses.replace(c, provenance={}) for c in by_name.kept] == \
        [dataclasses.replace(c, provenance={}) for c in res.kept]
    assert out.is_file() and by_name.manifest.is_file()
    assert capsys.readouterr().out == ""
