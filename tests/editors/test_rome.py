"""ROME on the tiny knowledge-graph GPT-2 (Conv1D weights): the edit takes, paraphrases follow,
unrelated facts stay, and restore() is bitwise."""

from __future__ import annotations

import dataclasses
import warnings

import pytest
import torch

from kedit.editors import EDITORS, EditRequest, load_hparams, timed_edit
from kedit.editors import rome as rome_mod
from kedit.editors.rome import ROME, ROMEHyperParams
from kedit.editors.stats import CovarianceWarning
from kedit.errors import KeditError, RunError
from kedit.eval.scoring import teacher_forced
from kedit.models.roles import module_at, path_of, roles_for

N_CASES = 8  # one per base relation of tinykg with a one-word object


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("KEDIT_CACHE", str(tmp_path))
    return tmp_path


def tiny_hparams(kg, **kw) -> ROMEHyperParams:
    """The tiny model's ROME settings: layer 1 of 4, fixed context prefixes made of other facts.

    The key is read at the prompt's last token (``fact_token: last``): the 4-layer model does not
    look facts up at the subject's last token -- a perturbation as large as the residual stream
    there moves the answer's log-probabilities by < 0.5, the same at the last token by 8-20 -- so
    an edit at the subject cannot take. (The subject-token path is tested on SmolLM2 below.)
    """
    prefixes = tuple(f"{s} {{}}" for s in kg.corpus[::450][:3])
    over = {"layer": 1, "fact_token": "last", "clamp_norm_factor": 10.0, "context_templates": prefixes,
                "mom2_n_samples": len(kg.corpus), "mom2_max_tokens": 32, "v_weight_decay": 1e-3, "v_num_grad_steps": 25} | kw
    return load_hparams(ROMEHyperParams, "rome", kg.model, over)


def single_token_cases(kg, n: int):
    """Cases whose new target is one token: the tiny model cannot be steered to the second word of
    a two-word name (a CEO) through one position's MLP output."""
    tok = kg.tokenizer
    return [c for c in kg.cases if len(tok(" " + c.target_new, add_special_tokens=False)["input_ids"]) == 1][:n]


def request_of(case) -> EditRequest:
    return EditRequest(case.prompt, case.subject, case.target_new, case.target_true, case.case_id)


def params_of(model) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in model.named_parameters()}


def accuracy(model, tok, probes) -> list[float]:
    return [s.token_accuracy for s in teacher_forced(model, tok, [(p.prompt, p.answers[0]) for p in probes])]


@pytest.fixture
def prepared(tiny_kg, cache):
    editor = EDITORS.get("rome")()
    hp = tiny_hparams(tiny_kg)
    info = editor.prepare(tiny_kg.model, tiny_kg.tokenizer, hp, texts=tiny_kg.corpus)
    return editor, hp, info


def test_registered_with_hparams_from_data_files(tiny_kg):
    assert EDITORS.get("rome") is ROME
    assert ROME.supports_batch is False
    # gpt2.yaml on the defaults: gpt2-xl's layer 17, which the 4-layer tiny GPT-2 lacks (said at load)
    with pytest.raises(RunError, match=r"'layer' = 17 \(the default\).*4 layers.*--hparam rome.layer=3"):
        load_hparams(ROMEHyperParams, "rome", tiny_kg.model)
    hp = load_hparams(ROMEHyperParams, "rome", tiny_kg.model, {"layer": 2})
    assert hp.layer == 2 and hp.mom2_adjustment and hp.mom2_n_samples == 10000 and hp.mom2_max_tokens == 1024
    with pytest.raises(KeditError, match="did you mean 'v_lr'"):
        load_hparams(ROMEHyperParams, "rome", tiny_kg.model, {"v_lrr": 1})
    with pytest.raises(KeditError, match="out of range"):  # built without the model: prepare still refuses
        ROME().prepare(tiny_kg.model, tiny_kg.tokenizer, ROMEHyperParams())


def test_edits_take_generalize_and_keep_locality(tiny_kg, prepared):
    editor, hp, info = prepared
    model, tok = tiny_kg.model, tiny_kg.tokenizer
    assert info["stats_tokens"] > 0 and info["ridge_lambda"] >= 0
    before = params_of(model)
    cases = single_token_cases(tiny_kg, N_CASES)
    rel, gen, loc = [], [], []
    for case in cases:
        result = timed_edit(editor, model, tok, [request_of(case)], hp)
        try:
            assert result.changed == [path_of(model, "mlp_out", hp.layer) + ".weight"]
            rel += accuracy(model, tok, case.probes_of("reliability"))
            gen += accuracy(model, tok, case.probes_of("generalization"))
            loc += accuracy(model, tok, case.probes_of("locality"))
            assert result.seconds > 0 and result.info["requests"][0]["nll_end"] < result.info["requests"][0]["nll_start"]
        finally:
            result.restore()
        for n, p in model.named_parameters():  # bitwise, every parameter, after every edit
            assert torch.equal(p, before[n]), n

    def mean(xs):
        return sum(xs) / len(xs)

    assert mean(rel) == 1.0, rel
    assert mean(gen) >= 0.8, gen
    assert mean(loc) >= 0.9, loc


def test_rank_one_update_maps_the_key_and_spares_other_keys(tiny_kg, prepared):
    """Conv1D path: the edited c_proj maps k* to v₀ + δ, and keys with (C⁻¹k*)ᵀk = 0 to what they were."""
    editor, hp, _ = prepared
    model, tok = tiny_kg.model, tiny_kg.tokenizer
    assert roles_for(model).weight_in_out  # GPT-2 Conv1D stores (in, out)
    state = editor._state(model, tok, hp)
    req = request_of(single_token_cases(tiny_kg, 1)[0])
    prompts = [t.format(req.template) for t in state.templates]
    k_star, v0 = rome_mod.key_and_value(model, tok, prompts, req.subject, hp)
    u = torch.linalg.solve(state.C, k_star.double())
    other = torch.randn_like(k_star, dtype=torch.float64)
    other = (other - (u @ other) / (u @ k_star.double()) * k_star.double()).float()  # (C⁻¹k*)ᵀ other = 0
    proj = module_at(model, "mlp_out", hp.layer)
    w0 = proj.weight.detach().clone()
    out_other = proj(other[None])[0]
    result = editor.edit(model, tok, [req], hp)
    try:
        assert proj.weight.shape == w0.shape
        delta = proj(k_star[None])[0] - v0
        assert torch.allclose(delta.norm(), torch.tensor(result.info["requests"][0]["delta_norm"]), rtol=1e-3)
        assert torch.allclose(proj(other[None])[0], out_other, atol=1e-3 * out_other.norm())
        diff = (proj.weight - w0).double()
        assert torch.linalg.matrix_rank(diff, rtol=1e-6) == 1
    finally:
        result.restore()
    assert torch.equal(proj.weight, w0)


def test_sequential_requests_and_one_restore(tiny_kg, prepared):
    editor, hp, _ = prepared
    model, tok = tiny_kg.model, tiny_kg.tokenizer
    before = params_of(model)
    cases = single_token_cases(tiny_kg, 3)[1:3]
    result = editor.edit(model, tok, [request_of(c) for c in cases], hp)  # one after another
    try:
        assert len(result.info["requests"]) == 2
        for case in cases:
            assert accuracy(model, tok, case.probes_of("reliability")) == [1.0]
    finally:
        result.restore()
    assert all(torch.equal(p, before[n]) for n, p in model.named_parameters())


def test_reference_key_mode_writes_the_plain_prompt_key(tiny_kg, prepared):
    """key_mode=reference (kmeng01/rome, EasyEdit): the plain prompt's key is mapped to W k + δ along
    C⁻¹k*; the default maps the averaged k* itself (the paper's equation, r-ROME's fix)."""
    from kedit.models.roles import weight_as_out_in

    editor, hp, _ = prepared
    model, tok = tiny_kg.model, tiny_kg.tokenizer
    state = editor._state(model, tok, hp)
    req = request_of(single_token_cases(tiny_kg, 1)[0])
    prompts = [t.format(req.template) for t in state.templates]
    mlp_out = module_at(model, "mlp_out", hp.layer)
    for mode in ("consistent", "reference"):
        h = dataclasses.replace(hp, key_mode=mode)
        k_star, v0 = rome_mod.key_and_value(model, tok, prompts, req.subject, h)
        k_plain, _ = rome_mod.key_and_value(model, tok, [req.template], req.subject, h)
        delta, _ = rome_mod.optimize_delta(model, tok, req, h, prompts, v0)  # deterministic: apply_rome finds the same δ
        W0 = weight_as_out_in(model, mlp_out).detach().double().clone()
        result = timed_edit(editor, model, tok, [req], h)
        try:
            W1 = weight_as_out_in(model, mlp_out).detach().double()
            k = k_plain if mode == "reference" else k_star
            assert torch.allclose((W1 - W0) @ k.double(), delta.double(), atol=1e-3 * float(delta.norm())), mode
        finally:
            result.restore()


def test_replayed_lower_layers_give_the_same_delta(tiny_kg, prepared):
    editor, hp, _ = prepared
    model, tok = tiny_kg.model, tiny_kg.tokenizer
    state = editor._state(model, tok, hp)
    req = request_of(single_token_cases(tiny_kg, 5)[4])
    prompts = [t.format(req.template) for t in state.templates]
    _, v0 = rome_mod.key_and_value(model, tok, prompts, req.subject, hp)
    fast, info_fast = rome_mod.optimize_delta(model, tok, req, hp, prompts, v0)
    slow, info_slow = rome_mod.optimize_delta(model, tok, req, dataclasses.replace(hp, replay_lower_layers=False), prompts, v0)
    assert info_fast["steps"] == info_slow["steps"]
    assert torch.allclose(fast, slow, rtol=1e-3, atol=1e-4 * float(v0.norm()))
    assert all(not p.requires_grad for p in model.parameters())
    assert all(type(b).__name__ != "_Replay" for b in model.transformer.h)  # blocks put back


def test_near_singular_statistics_warn_but_do_not_crash(tiny_kg, cache):
    model, tok = tiny_kg.model, tiny_kg.tokenizer
    editor = ROME()
    hp = tiny_hparams(tiny_kg, mom2_n_samples=2)
    with pytest.warns(CovarianceWarning):
        info = editor.prepare(model, tok, hp, texts=tiny_kg.corpus[:2])
    assert info["ridge_lambda"] > 0
    case = single_token_cases(tiny_kg, 3)[2]
    before = params_of(model)
    result = editor.edit(model, tok, [request_of(case)], hp)
    try:
        assert all(torch.isfinite(p).all() for p in model.parameters())
        assert accuracy(model, tok, case.probes_of("reliability")) == [1.0]
    finally:
        result.restore()
    assert all(torch.equal(p, before[n]) for n, p in model.named_parameters())


def test_singular_statistics_without_ridge_fail_each_case_clearly(tiny_kg, cache):
    """mom2_ridge = 0 on a singular covariance: no silent 0.0 score -- the edit raises, the model is
    untouched, and keval records the case as failed (the run goes on)."""
    from kedit.editors import timed_edit
    from kedit.errors import KeditError, RunError

    model, tok = tiny_kg.model, tiny_kg.tokenizer
    editor = ROME()
    hp = tiny_hparams(tiny_kg, mom2_n_samples=2, mom2_ridge=0.0)
    info = editor.prepare(model, tok, hp, texts=tiny_kg.corpus[:2])
    assert info["ridge_lambda"] == 0 and "Cholesky" in info["covariance_singular"]
    before = params_of(model)
    with pytest.raises(KeditError, match="singular") as e:
        timed_edit(editor, model, tok, [request_of(single_token_cases(tiny_kg, 1)[0])], hp)
    assert not isinstance(e.value, RunError)  # an error of the case: the runner records it and goes on
    assert all(torch.equal(p, before[n]) for n, p in model.named_parameters())


def test_context_prefixes_are_made_once_in_prepare(tiny_kg, cache, monkeypatch):
    model, tok = tiny_kg.model, tiny_kg.tokenizer
    editor = ROME()
    hp = tiny_hparams(tiny_kg, context_templates=(), context_template_length_params=((3, 2), (5, 2)), mom2_adjustment=False)
    editor.prepare(model, tok, hp)
    templates = editor._state(model, tok, hp).templates
    assert templates[0] == "{}" and len(templates) == 5
    assert all(t.endswith(". {}") and t.count("{}") == 1 for t in templates[1:])
    assert templates == rome_mod.context_templates(model, tok, hp)  # seeded: reproducible

    def no_generate(*a, **k):
        raise AssertionError("edit() must not generate context prefixes")

    monkeypatch.setattr(model, "generate", no_generate)
    result = editor.edit(model, tok, [request_of(tiny_kg.cases[3])], hp)
    result.restore()


def test_edit_without_prepare_prepares(tiny_kg, cache):
    model, tok = tiny_kg.model, tiny_kg.tokenizer
    hp = tiny_hparams(tiny_kg, mom2_corpus="wiki-offline", mom2_n_samples=20)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CovarianceWarning)  # wiki text is mostly [UNK] to the tiny tokenizer
        result = ROME().edit(model, tok, [request_of(tiny_kg.cases[5])], hp)
    result.restore()
    assert result.info["requests"][0]["steps"] >= 1


def test_subject_last_token_lookup(tiny_kg):
    tok = tiny_kg.tokenizer
    case = tiny_kg.cases[0]
    req = request_of(case)
    prompts = ["{}", "Gilran is a city in Shanthel . {}"]
    prompts = [p.format(req.template) for p in prompts]
    idx = rome_mod.lookup_indices(tok, prompts, req.subject, "subject_last")
    last_word = req.subject.split()[-1]
    for p, i in zip(prompts, idx):
        assert tok.convert_ids_to_tokens(tok(p.format(req.subject))["input_ids"])[i] == last_word
    assert rome_mod.lookup_indices(tok, prompts, req.subject, "last") == [len(tok(p.format(req.subject))["input_ids"]) - 1 for p in prompts]


@pytest.mark.slow
def test_rome_on_smollm2_real_facts(tmp_path, monkeypatch):
    """The paper's setting on a real model: subject-token keys, generated prefixes, wiki statistics."""
    from kedit.models import load_model
    from kedit.settings import cache_dir

    lm = load_model("smollm2-135m")  # from the user's cache
    monkeypatch.setenv("KEDIT_CACHE", str(tmp_path))
    model, tok = lm.model, lm.tokenizer
    editor = ROME()
    hp = load_hparams(ROMEHyperParams, "rome", model, {"mom2_n_samples": 200})
    assert hp.layer == 5 and hp.fact_token == "subject_last"
    editor.prepare(model, tok, hp, fingerprint=lm.fingerprint)
    assert any(cache_dir("stats").glob("mom2-*.pt"))
    before = params_of(model)
    req = EditRequest("The capital of France is", "France", "Rome", "Paris")
    result = editor.edit(model, tok, [req], hp)
    try:
        scores = teacher_forced(model, tok, [
            ("The capital of France is", "Rome"), ("The capital city of France is", "Rome"),
            ("The capital of Germany is", "Berlin"), ("The capital of Japan is", "Tokyo"), ("The capital of Spain is", "Madrid"),
        ])
        assert [s.token_accuracy for s in scores] == [1.0] * 5
    finally:
        result.restore()
    assert all(torch.equal(p, before[n]) for n, p in model.named_parameters())


def test_a_failing_request_leaves_the_model_as_it_was(tiny_kg, prepared):
    editor, hp, _ = prepared
    model, tok = tiny_kg.model, tiny_kg.tokenizer
    before = params_of(model)
    good = request_of(single_token_cases(tiny_kg, 1)[0])
    bad = EditRequest("a prompt without its subject", "Nobody", "x")
    with pytest.raises(KeditError, match="does not contain its subject"):
        editor.edit(model, tok, [good, bad], hp)
    assert all(torch.equal(p, before[n]) for n, p in model.named_parameters())
