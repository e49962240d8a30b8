"""The editor contract, for every registered editor: edit, report, restore bit for bit."""

import pytest
import torch

from kedit.editors import EDITORS, load_hparams, timed_edit
from kedit.editors.lifelong.core import hook_count
from kedit.eval.modes import request_of
from tests.fixtures.hparams import tiny_hparams


@pytest.mark.parametrize("name", EDITORS.names())
def test_edit_then_restore_is_bitwise(name, tiny_kg, tiny_artifacts, tmp_path, monkeypatch):
    monkeypatch.setenv("KEDIT_CACHE", str(tmp_path))
    model, tok = tiny_kg.model, tiny_kg.tokenizer
    editor = EDITORS.get(name)()
    hp = load_hparams(editor.hparams_cls, name, model, tiny_hparams(name, tiny_artifacts))
    editor.prepare(model, tok, hp)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    modules, hooks = [n for n, _ in model.named_modules()], hook_count(model)
    requests = [request_of(c) for c in tiny_kg.cases[:2]]
    result = timed_edit(editor, model, tok, requests, hp)
    assert result.seconds > 0 and result.peak_memory_bytes and result.editor == name
    after = dict(model.named_parameters())
    changed = {n for n in before if not torch.equal(before[n], after[n])}
    if editor.in_context:
        assert not changed and result.wrap is not None
        wrapped = result.wrap_prompts([tiny_kg.cases[0].prompt])[0]
        assert tiny_kg.cases[0].prompt in wrapped  # the query is kept (MeLLo asks it as its question)
    elif editor.beside_weights:  # the edit lives in what the editor added: hooks that change the output
        assert not changed and not result.changed and hook_count(model) > hooks
    else:
        assert changed and changed <= set(result.changed)  # it reports every tensor it touched
    result.restore()
    assert all(torch.equal(before[n], p) for n, p in model.named_parameters())
    assert [n for n, _ in model.named_modules()] == modules and hook_count(model) == hooks  # nothing added is left
    assert not any(p.requires_grad for p in model.parameters())
