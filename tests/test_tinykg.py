"""The test model itself: it knows its facts, its tokenizer fits kedit's scoring, it is cached, and
its edit cases are valid records."""

from __future__ import annotations

import json

import pytest
import torch

from kedit.models import module_at, roles_for
from kedit.records import SPLITS, case_from_dict
from kedit.records.schema import CHAIN_SPLITS
from tests.fixtures.tinykg import RELATIONS, build_kg, load_tiny_kg, tiny_random_model


@torch.no_grad()
def greedy_words(model, tok, prompts: list[str], n_new: int, batch_size: int = 256) -> list[list[str]]:
    """The first ``n_new`` words greedy decoding writes after each prompt (left-padded batches)."""
    tok.padding_side = "left"
    try:
        out = []
        for i in range(0, len(prompts), batch_size):
            enc = tok(prompts[i:i + batch_size], return_tensors="pt", padding=True)
            gen = model.generate(**enc, max_new_tokens=n_new, do_sample=False, pad_token_id=tok.pad_token_id)
            out += [tok.decode(row[enc["input_ids"].shape[1]:]).split() for row in gen]
        return out
    finally:
        tok.padding_side = "right"


def test_recalls_its_facts_under_every_template(tiny_kg):
    prompts, answers = zip(*tiny_kg.facts)
    words = greedy_words(tiny_kg.model, tiny_kg.tokenizer, list(prompts), n_new=max(len(a.split()) for a in answers))
    hits = [w[: len(a.split())] == a.split() for w, a in zip(words, answers)]
    recall = sum(hits) / len(hits)
    print(f"tinykg greedy recall {recall:.4f} over {len(hits)} facts")
    assert recall >= 0.95
    assert recall == pytest.approx(tiny_kg.recall)
    assert len(tiny_kg.facts) == len(set(prompts)), "every prompt must have exactly one answer"


def test_tokenizer_fits_kedit_scoring(tiny_kg):
    tok = tiny_kg.tokenizer
    prompt, answer = tiny_kg.facts[0]
    sentence = tok(f"{prompt} {answer} .")["input_ids"]
    prompt_ids = tok(prompt)["input_ids"]
    target_ids = tok(" " + answer, add_special_tokens=False)["input_ids"]
    assert sentence[: len(prompt_ids) + len(target_ids)] == prompt_ids + target_ids  # no specials added, " X" == "X"
    assert tok.unk_token_id not in sentence
    assert tok.pad_token_id is not None and tok.pad_token_id != tok.eos_token_id
    assert tok.decode(sentence) == f"{prompt} {answer} ."
    for entity in {o for _, o in tiny_kg.facts}:
        assert tok(" " + entity, add_special_tokens=False)["input_ids"] == tok(entity)["input_ids"]

    from transformers import AutoTokenizer

    assert AutoTokenizer.from_pretrained(tiny_kg.path)(prompt)["input_ids"] == prompt_ids


def test_model_is_frozen_gpt2(tiny_kg):
    model = tiny_kg.model
    assert type(model.config).__name__ == "GPT2Config" and roles_for(model).weight_in_out
    assert not model.training and not any(p.requires_grad for p in model.parameters())


def test_second_load_reuses_the_cache(tiny_kg):
    again = load_tiny_kg()
    assert again.train_seconds is None and again.path == tiny_kg.path
    for (name, a), b in zip(tiny_kg.model.state_dict().items(), again.model.state_dict().values()):
        assert torch.equal(a, b), name
    assert [c.to_dict() for c in again.cases] == [c.to_dict() for c in tiny_kg.cases]


def test_a_fresh_cache_gets_the_committed_weights(tiny_kg, tmp_path, monkeypatch):
    """Every machine tests the same model: a cold cache is filled from tests/fixtures/tinykg_model (its key
    matches the KG and the training settings), not by training."""
    from tests.fixtures import tinykg

    assert tinykg._bundled_key() == tinykg.cache_key(build_kg(), tinykg.TrainConfig())
    monkeypatch.setenv("KEDIT_CACHE", str(tmp_path))
    monkeypatch.delenv("KEDIT_TINYKG_TRAIN", raising=False)
    fresh = load_tiny_kg()
    assert fresh.train_seconds is None and fresh.path.parent == tmp_path / "test-models"
    assert (fresh.path / "model.safetensors").read_bytes() == (tinykg.BUNDLED / "model.safetensors").read_bytes()
    assert fresh.recall == tiny_kg.recall


def test_kg_is_deterministic():
    assert build_kg.__wrapped__().triples == build_kg().triples


def test_cases_are_valid_records(tiny_kg):
    cases = tiny_kg.cases
    assert len(cases) >= 30 and len({c.case_id for c in cases}) == len(cases)
    known = dict(tiny_kg.facts)
    splits = {p.split for c in cases for p in c.probes}
    assert splits == set(SPLITS) - {"commonsense", *CHAIN_SPLITS}
    assert {c.relation.id for c in cases} == {r.id for r in RELATIONS.values() if not r.of}
    for case in cases:
        assert case_from_dict(json.loads(json.dumps(case.to_dict()))) == case  # as read back from JSON Lines
        assert known[case.prompt] == case.target_true != case.target_new
        for p in case.probes:
            if p.expect == "keep" and p.split != "distract_neighbor":
                assert known[p.prompt] == p.answers[0]
            for cond in p.conditions:
                assert known[cond.prompt] == cond.answers[0]


@pytest.mark.parametrize("config", ["GPT2Config", "GPTJConfig", "GPTNeoXConfig", "LlamaConfig"])
def test_tiny_random_models(config, tiny_kg):
    model = tiny_random_model(config)
    assert type(model.config).__name__ == config
    assert module_at(model, "mlp_out", 1) is not None
    ids = tiny_kg.tokenizer(tiny_kg.facts[0][0], return_tensors="pt")["input_ids"]
    assert model(input_ids=ids).logits.shape == (1, ids.shape[1], len(tiny_kg.tokenizer))
