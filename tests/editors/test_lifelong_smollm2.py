"""The lifelong editors on SmolLM2-135M (slow): a sequential run of 3 demo facts each, through keval,
with their SmolLM2 values; the edits so far must hold at the end and restore must leave no hook."""

from __future__ import annotations

import pytest

import kedit
from tests.editors.test_memit import DEMO_BENCH


@pytest.mark.slow
@pytest.mark.parametrize("name", ["grace", "wise", "t-patcher", "calinet"])
def test_a_sequence_of_three_demo_facts_holds(name, tmp_path, one_thread):
    from kedit.eval.cli import main

    out = tmp_path / name
    assert main(["run", "--model", "smollm2-135m", "--bench", str(DEMO_BENCH), "--out", str(out), "-q", "--no-generate",
                 "--editors", name, "--mode", "sequential", "--limit", "3", "--every", "3"]) == 0
    rep = kedit.load_report(out)
    acc = {(r.split, r.metric): r.value for r in rep.rows if r.editor == name}
    assert not rep.failed
    # the edits so far after the third (token_acc reliability / locality), measured: GRACE 1.0 / 1.0, WISE 0.333 / 1.0
    # (only the latest edit holds: on SmolLM2's 576 x 1536 down_proj each edit's training in the one shard overwrites
    # the earlier ones; single mode on 20 facts: 0.975), T-Patcher 0.667 / 1.0, CaliNet 0.667 / 0.667
    assert acc[("reliability", "token_acc")] > acc[("reliability", "token_acc.pre")]
    assert acc[("locality", "token_acc")] >= 0.5


@pytest.mark.slow
def test_ultraedit_writes_demo_facts_with_its_llama_family_values(tmp_path, one_thread):
    """UltraEdit, one turn per fact (single mode), with kedit/editors/hparams/ultraedit/llama.yaml (EasyEdit's GPT-J
    lr writes nothing on SmolLM2)."""
    from kedit.eval.cli import main

    out = tmp_path / "ultraedit"
    assert main(["run", "--model", "smollm2-135m", "--bench", str(DEMO_BENCH), "--out", str(out), "-q", "--no-generate",
                 "--editors", "ultraedit", "--mode", "single", "--limit", "3"]) == 0
    rep = kedit.load_report(out)
    acc = {(r.split, r.metric): r.value for r in rep.rows}
    assert not rep.failed
    # measured on these 3 facts: reliability token_acc 0.0 -> 1.0, locality 1.0 (20 facts: 0.75 / 0.975; with
    # EasyEdit's GPT-J lr 1e-6: 0.0 / 1.0, nothing written)
    assert acc[("reliability", "token_acc")] > acc[("reliability", "token_acc.pre")] + 0.3
    assert acc[("locality", "token_acc")] >= 0.8
