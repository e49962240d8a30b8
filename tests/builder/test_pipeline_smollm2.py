"""The README's pipeline on the embedded default: kg generate on the bundled seeds, filter with the
built-in SmolLM2-135M, keval run on what survives, export, load_dataset."""

from __future__ import annotations

import json

import pytest

from kedit.builder.cli import main as kbuild
from kedit.eval.asking import conditions_pass
from kedit.records import SPLITS, read_cases, read_jsonl
from kedit.records.manifest import read_manifest, stage_entries
from kedit.settings import data_root

SEEDS = data_root() / "kg" / "seeds.jsonl"


def test_kg_generate_on_the_bundled_seeds_makes_every_split(tmp_path):
    out = tmp_path / "gen.jsonl"
    assert kbuild(["generate", "--backend", "kg", "--in", str(SEEDS), "--out", str(out)]) == 0
    cases = read_jsonl(out)
    assert len(cases) == len(read_jsonl(SEEDS)) >= 300
    per_split = read_manifest(out)["generate"]["probes_per_split"]
    assert set(per_split) == set(SPLITS)  # the kg backend knows the old chains: one_hop_unedited too
    for split in ("subject_replace", "reverse_relation", "one_hop", "one_hop_unedited", "other_relation", "distract_neighbor"):
        assert per_split[split] >= 100, split
    for c in cases:
        for p in c.probes_of("one_hop"):
            assert p.conditions[0].triple[0] == c.target_new and p.conditions[0].triple[2] == p.answers[0]


@pytest.mark.slow
def test_generate_filter_keval_export_on_smollm2(tmp_path, one_thread, capsys):
    from kedit.eval.cli import main as keval
    from kedit.models import load_model

    gen, bench = tmp_path / "gen.jsonl", tmp_path / "bench.jsonl"
    assert kbuild(["generate", "--backend", "kg", "--in", str(SEEDS), "--limit", "40", "--out", str(gen)]) == 0
    assert kbuild(["filter", "--model", "smollm2-135m", "--in", str(gen), "--out", str(bench)]) == 0
    kept = read_jsonl(bench)
    f = read_manifest(bench)["filter"]
    assert 0 < len(kept) < 40 and f["cases"]["kept"] == len(kept)
    # what the filter kept, the model knows: asked again, independently, probe by probe
    lm = load_model("smollm2-135m")
    conds = [cond for c in kept for p in c.probes for cond in p.conditions]
    assert conds and all(conditions_pass(lm.model, lm.tokenizer, conds))
    dropped = read_jsonl(tmp_path / "bench.dropped.jsonl")
    reasons = {p.provenance["filter"]["reason"] for c in dropped for p in c.probes}
    assert reasons <= {"original_fact_unknown", "condition_unknown"} and "original_fact_unknown" in reasons
    run = tmp_path / "run"
    assert keval(["run", "--model", "smollm2-135m", "--bench", str(bench), "--editors", "ft-l", "--limit", "2",
                  "--out", str(run), "--no-generate"]) == 0, capsys.readouterr().err
    rows = [json.loads(x) for x in (run / "cases.jsonl").read_text().splitlines()]
    assert len(rows) == 2 and not any(r.get("error") for r in rows)
    ds = tmp_path / "dataset"
    assert kbuild(["export", "--in", str(bench), "--out", str(ds)]) == 0
    assert [c.to_dict() for c in read_cases(ds)] == [c.to_dict() for c in kept]
    assert [s["stage"] for s in stage_entries(read_manifest(ds))] == ["generate", "filter", "export"]
    card = (ds / "README.md").read_text()
    assert "smollm2-135m" in card and "kg" in card
