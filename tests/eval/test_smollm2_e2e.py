"""keval end to end on the real built-in model (SmolLM2-135M) and the bundled demo benchmark."""

import csv
import json
from pathlib import Path

import pytest

from kedit.eval.cli import main

DEMO = Path(__file__).resolve().parents[2] / "data" / "demo" / "bench.jsonl"


@pytest.mark.slow
def test_demo_run_with_three_editors(tmp_path, capsys):
    out = tmp_path / "run"
    rc = main(["run", "--model", "smollm2-135m", "--bench", str(DEMO), "--editors", "ft-l,rome,ike",
               "--mode", "single", "--limit", "3", "--out", str(out)])
    assert rc == 0, capsys.readouterr().err
    rows = list(csv.DictReader((out / "summary.csv").open()))
    val = {(r["editor"], r["split"], r["metric"]): float(r["value"]) for r in rows}
    for ed in ("ft-l", "rome", "ike"):
        assert val[(ed, "reliability", "token_acc")] > val[(ed, "reliability", "token_acc.pre")]
        for split in ("generalization", "locality", "subject_replace", "reverse_relation", "one_hop",
                      "other_relation", "distract_neighbor"):
            assert (ed, split, "token_acc") in val, (ed, split)
        assert (ed, "commonsense", "mc_acc") in val
    assert val[("rome", "reliability", "token_acc")] >= 0.9
    conf = json.loads((out / "config.json").read_text())
    assert conf["precompute_seconds"]["rome"] >= 0 and conf["model_fingerprint"].startswith("builtin:smollm2-135m")
    assert (out / "bars_single.png").stat().st_size > 1000
