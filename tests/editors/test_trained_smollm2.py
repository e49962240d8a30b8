"""The trained editors on SmolLM2-135M (slow): a short ``keval train`` on the bundled KG seeds' edits (the
demo benchmark's subjects left out), then a sequential run of 3 demo facts through keval. The figures of
full trainings are benchmarks/trained_family.sh's."""

from __future__ import annotations

import pytest

import kedit
from kedit.settings import cache_dir, data_root
from tests.editors.test_memit import DEMO_BENCH

# a few minutes of CPU each: MEND reaches validation edit success ~0.9 within 20 steps on SmolLM2
SHORT = {"mend": {"train_steps": 30, "val_every": 15, "val_edits": 8},
         "ke": {"train_steps": 30, "val_every": 15, "val_edits": 8, "train_lr": 1e-3},
         "serac": {"train_steps": 20, "val_every": 10, "val_edits": 8}}


@pytest.mark.slow
@pytest.mark.parametrize("name", ["mend", "ke", "serac"])
def test_train_briefly_then_a_sequence_of_three_demo_facts(name, tmp_path, one_thread):
    from kedit.eval.cli import main

    train = tmp_path / "train.jsonl"
    cases = kedit.generate(kedit.read_cases(data_root() / "kg" / "seeds.jsonl"), backend="kg").cases
    kedit.write_jsonl(cases, train)
    art = cache_dir("test-models") / f"smollm2-{name}-short-v1"
    assert main(["train", "--editor", name, "--model", "smollm2-135m", "--train", str(train), "--bench", str(DEMO_BENCH),
                 "--drop-overlap", "--out", str(art), "-q", *[a for k, v in SHORT[name].items() for a in ("--hparam", f"{name}.{k}={v}")]]) == 0
    out = tmp_path / name
    assert main(["run", "--model", "smollm2-135m", "--bench", str(DEMO_BENCH), "--out", str(out), "-q", "--no-generate",
                 "--editors", name, "--mode", "sequential", "--limit", "3", "--every", "3", "--hparam", f"{name}.artifact={art}"]) == 0
    rep = kedit.load_report(out)
    acc = {(r.split, r.metric): r.value for r in rep.rows if r.editor == name}
    assert not rep.failed
    # measured after 3 sequential edits (token_acc reliability / locality; before the edits 0.0 / -): MEND 0.333 / 0.583,
    # KE 0.333 / 0.417, SERAC 0.0 / 1.0: its scope classifier routes the three edit prompts to their edits and the
    # unrelated ones to none, but SmolLM2 with the edit's statement in context does not answer with it (as RAG's 0.333
    # on 20 single edits), so SERAC's counterfactual side is where a 135M model falls short
    if name == "serac":
        assert acc[("locality", "token_acc")] == 1.0
        cases = kedit.read_cases(DEMO_BENCH)[:3]
        model, tok = kedit.load_model("smollm2-135m")
        result = kedit.edit(model, tok, "serac", cases, hparams={"artifact": str(art)})
        wrapped = result.wrap_prompts([c.prompt for c in cases])
        assert all(w.startswith(f"{c.prompt} {c.target_new}") for c, w in zip(cases, wrapped))
    else:
        assert acc[("reliability", "token_acc")] > acc[("reliability", "token_acc.pre")]
        assert acc[("locality", "token_acc")] >= 0.3
