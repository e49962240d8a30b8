"""RAG and MemPrompt: the edits as a memory retrieved into the prompt (MiniLM similarity), weights
untouched. The tiny model cannot read a context, so what is checked here is what each writes."""

from __future__ import annotations

import pytest

from kedit.editors import EDITORS, EditRequest, load_hparams, timed_edit
from kedit.editors.retrieval import fact_sentence
from kedit.errors import KeditError
from kedit.eval.modes import request_of


def _edit(name, tiny_kg, requests, **over):
    editor = EDITORS.get(name)()
    hp = load_hparams(editor.hparams_cls, name, tiny_kg.model, over)
    return timed_edit(editor, tiny_kg.model, tiny_kg.tokenizer, requests, hp)


def test_memprompt_writes_the_feedback_of_a_close_pattern_and_nothing_for_an_unrelated_query(tiny_kg):
    reqs = [EditRequest("The capital of France is", "France", "Lyon", "Paris", "c1"),
            EditRequest("The mother tongue of Danielle Darrieux is", "Danielle Darrieux", "English", "French", "c2")]
    res = _edit("memprompt", tiny_kg, reqs)
    para, unrelated = "The capital city of France is", "Bananas are rich in"
    wrapped = res.wrap_prompts([para, unrelated, reqs[1].prompt])
    assert wrapped[0] == "The capital of France is Lyon.\n" + para
    assert wrapped[1] == unrelated  # below the threshold: the query is left as it is (locality)
    assert wrapped[2] == fact_sentence(reqs[1]) + "\n" + reqs[1].prompt


def test_rag_writes_the_top_k_facts_most_similar_last(tiny_kg):
    reqs = [request_of(c) for c in tiny_kg.cases[:5]]
    res = _edit("rag", tiny_kg, reqs, k=2)
    query = tiny_kg.cases[3].prompt
    lines = res.wrap_prompts([query])[0].split("\n")
    assert len(lines) == 3 and lines[-1] == query and lines[1] == fact_sentence(reqs[3])
    assert _edit("rag", tiny_kg, reqs, k=2, min_similarity=0.99).wrap_prompts(["Bananas are rich in"]) == ["Bananas are rich in"]


@pytest.mark.parametrize("name", ["rag", "memprompt"])
def test_bad_hyper_parameters_are_refused(name):
    cls = EDITORS.get(name).hparams_cls
    for over in ({"k": 0}, {"min_similarity": 2.0}):
        with pytest.raises(KeditError, match=name):
            load_hparams(cls, name, None, over)
