"""The batched scorer agrees with a plain full forward pass, whatever the batch and padding."""

import pytest
import torch

from kedit.eval.scoring import greedy, teacher_forced
from kedit.models.text import encode_prompts, encode_targets
from tests.fixtures.tinykg import build_tokenizer, tiny_random_model

ARCHS = ["GPT2Config", "GPTJConfig", "GPTNeoXConfig", "LlamaConfig"]


@pytest.fixture(scope="module")
def tok():
    return build_tokenizer()


def reference(model, tok, prompt, target):
    p, t = encode_prompts(tok, [prompt])[0], encode_targets(tok, [target])[0]
    with torch.no_grad():
        logp = model(torch.tensor([p + t])).logits[0].log_softmax(-1)  # (T, vocab)
    rows = logp[len(p) - 1: len(p) - 1 + len(t)]
    return [rows[j, tok_id].item() for j, tok_id in enumerate(t)], rows.argmax(-1).tolist(), t


@pytest.mark.parametrize("arch", ARCHS)
def test_teacher_forced_matches_full_forward(arch, tok, tiny_kg):
    model = tiny_random_model(arch)
    prompts = [p for p, _ in tiny_kg.facts[:12]]
    answers = [a for _, a in tiny_kg.facts[:12]]
    # mixed lengths: long prompts, multi-token targets, duplicates, several targets of one prompt
    # (one-token ones are read off the prompt's longest sequence)
    pairs = [(prompts[i], answers[i]) for i in range(12)] + [(prompts[0] + " and " + prompts[1], answers[2] + " " + answers[3]), (prompts[0], answers[0])]
    pairs += [(prompts[0], answers[5]), (prompts[0], answers[6] + " " + answers[7]), (prompts[1], answers[8])]
    scores = teacher_forced(model, tok, pairs, batch_tokens=64)  # small budget: several batches
    for (p, t), s in zip(pairs, scores):
        lp, am, ids = reference(model, tok, p, t)
        assert list(s.target_ids) == ids
        assert list(s.argmax_ids) == am
        assert s.logprobs == pytest.approx(lp, abs=1e-4)


def test_token_accuracy_definition(tiny_kg):
    s = teacher_forced(tiny_kg.model, tiny_kg.tokenizer, [tiny_kg.facts[0]])[0]
    assert s.token_accuracy == sum(a == t for a, t in zip(s.argmax_ids, s.target_ids)) / len(s.target_ids)
    assert s.exact == (s.token_accuracy == 1.0)


@pytest.mark.parametrize("arch", ["GPT2Config", "LlamaConfig"])
def test_greedy_matches_unpadded_generate(arch, tok, tiny_kg):
    model = tiny_random_model(arch)
    prompts = [p for p, _ in tiny_kg.facts[:6]] + ["x y z " + tiny_kg.facts[7][0]]
    got = greedy(model, tok, prompts, [3, 3, 3, 4, 4, 4, 5])
    for p, n, g in zip(prompts, [3, 3, 3, 4, 4, 4, 5], got):
        ids = torch.tensor([encode_prompts(tok, [p])[0]])
        ref = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=n, min_new_tokens=n,
                             do_sample=False, pad_token_id=tok.pad_token_id)[0, ids.shape[1]:]
        assert list(g) == ref.tolist()


def test_trained_model_knows_its_facts_through_the_scorer(tiny_kg):
    scores = teacher_forced(tiny_kg.model, tiny_kg.tokenizer, tiny_kg.facts)
    assert sum(s.exact for s in scores) / len(scores) >= 0.95


def test_greedy_from_teacher_forcing_equals_plain_greedy(tiny_kg):
    """Greedy tokens revealed by teacher forcing, completed by generation, equal plain greedy decoding."""
    from kedit.eval.scoring import greedy_prefix

    model, tok = tiny_kg.model, tiny_kg.tokenizer
    prompts = [p for p, _ in tiny_kg.facts[:20]]
    golds = [a for _, a in tiny_kg.facts[:20]]
    golds[::3] = [tiny_kg.facts[-1][1]] * len(golds[::3])  # some wrong golds: the prefix stops early
    forced = [greedy_prefix(s) for s in teacher_forced(model, tok, list(zip(prompts, golds)))]
    assert greedy(model, tok, prompts, 4, forced=forced) == greedy(model, tok, prompts, 4)
