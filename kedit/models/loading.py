"""Load a causal LM and its tokenizer from a Hub id, a local folder or a built-in name."""

from __future__ import annotations

import hashlib
import re
import weakref
from dataclasses import dataclass
from typing import Sequence
from pathlib import Path

import torch

from ..errors import KeditError, did_you_mean
from ..registry import Registry

BUILTINS: Registry = Registry("built-in model", "Or pass a Hub id (online) or a local model folder.")


@dataclass
class LoadedModel:
    model: torch.nn.Module
    tokenizer: object
    name: str  # what the user asked for
    fingerprint: str  # identifies the weights for cache keys (name + revision or file digest)

    def __iter__(self):
        """``model, tok = load_model(...)``."""
        return iter((self.model, self.tokenizer))


def _prepare_tokenizer(tok):
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


# a Hub repo id: "name" or "owner/name" (letters, digits, '-', '_', '.'; not starting with '.' or '-')
HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]{0,95}(/[A-Za-z0-9][\w.-]{0,95})?")


def close_to_builtin(name: str) -> bool:
    """A typo of a built-in name ("smollm2-13m") is refused with a suggestion, not sent to the Hub."""
    import difflib

    return name not in BUILTINS and bool(difflib.get_close_matches(name, BUILTINS.names(), n=1, cutoff=0.8))


def load_model(name: str, dtype: torch.dtype | str = torch.float32, device: str | torch.device = "cpu",
               device_map: str | dict | None = None) -> LoadedModel:
    """The model and tokenizer ``name`` names, in ``dtype``, on ``device`` or placed by accelerate's
    ``device_map`` ("auto" or a map of module names to devices; every weight must stay
    materialised: a map that offloads weights to "disk" or "meta" is refused, since an editor
    writes weights). The fingerprint names the dtype when it is not float32 (the unedited answers
    and the layer statistics of a bfloat16 model are its own)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if isinstance(dtype, str):
        dtype = getattr(torch, dtype)
    device = check_device(device)
    if isinstance(device_map, dict):
        refuse_offload(device_map)
    if name in BUILTINS:
        lm = BUILTINS.get(name)(dtype)
    else:
        path = Path(name).expanduser()
        if path.is_dir():
            src, fp = str(path), f"dir:{path.resolve()}:{_dir_digest(path)}"
        elif close_to_builtin(name) or not HUB_ID.fullmatch(name):
            raise did_you_mean("model", name, BUILTINS.names(),
                               "Give a built-in name (Known above), an existing local folder or a Hub id "
                               "(name or owner/name).")
        elif not path.exists():
            src, fp = name, f"hub:{name}"  # gpt2-xl, bert-base-uncased, meta-llama/Llama-2-7b-hf
        else:
            raise KeditError(f"model '{name}': {path} is not a model folder")
        try:
            tok = AutoTokenizer.from_pretrained(src)
            placed = {"device_map": device_map} if device_map is not None else {}
            model = AutoModelForCausalLM.from_pretrained(src, dtype=dtype, **placed)
        except ValueError as e:
            if device_map is None:
                raise
            raise bad_map(name, e) from None
        except OSError as e:
            why = " ".join(str(e).split()).rstrip(".")  # transformers' messages run over several lines
            raise KeditError(
                f"could not load model '{name}': {why}. Offline? Use a local folder or the built-in 'smollm2-135m'."
            ) from None
        if fp.startswith("hub:"):
            fp += f"@{getattr(model.config, '_commit_hash', None) or 'main'}"
        lm = LoadedModel(model, _prepare_tokenizer(tok), name, fp)
    if dtype != torch.float32:
        lm.fingerprint += f":{str(dtype).removeprefix('torch.')}"
    if device_map is None:
        lm.model.to(device)
    elif not any(hasattr(m, "_hf_hook") for m in lm.model.modules()):  # loaded whole (a built-in, a one-device map)
        dispatch(lm.model, getattr(lm.model, "hf_device_map", None) or device_map, dtype)
    check_materialised(lm.model, name)
    lm.model.eval()
    lm.model.requires_grad_(False)
    _FINGERPRINTS[lm.model] = lm.fingerprint
    return lm


def dispatch(model: torch.nn.Module, device_map: str | dict, dtype: torch.dtype = torch.float32) -> torch.nn.Module:
    """Place a loaded model with accelerate: ``device_map`` "auto" / "balanced" / "sequential" (inferred
    from the devices' free memory) or an explicit map. accelerate's hooks go on every mapped module
    (also when the map names one device), so a run exercises the same path as on several GPUs."""
    from accelerate import dispatch_model, infer_auto_device_map

    if isinstance(device_map, str):
        no_split = getattr(model, "_no_split_modules", None) or []
        device_map = infer_auto_device_map(model, no_split_module_classes=no_split, dtype=dtype)
    refuse_offload(device_map)
    try:
        dispatch_model(model, device_map=device_map, force_hooks=True)
    except ValueError as e:
        raise bad_map(getattr(model.config, "name_or_path", "") or type(model).__name__, e) from None
    model.hf_device_map = dict(device_map)
    return model


def bad_map(name: str, e: ValueError) -> KeditError:
    why = " ".join(str(e).split())
    return KeditError(f"model '{name}': the device map does not place every weight ({why[:200]}{'...' if len(why) > 200 else ''}); "
                      "map every top-level module (or '' for the whole model) to a device, or use --device-map auto")


def refuse_offload(device_map: dict) -> None:
    bad = sorted({str(d) for d in device_map.values()} & {"disk", "meta"})
    if bad:
        raise KeditError(f"the device map offloads modules to {', '.join(bad)}; editors write weights, so every weight "
                         "must live on a device (cpu, cuda:N): give the devices more memory or map those modules to cpu")


def check_materialised(model: torch.nn.Module, name: str) -> None:
    """Every parameter holds real values (accelerate's offload leaves "meta" parameters behind)."""
    meta = [n for n, p in model.named_parameters() if p.device.type == "meta"]
    if meta:
        raise KeditError(f"model '{name}': {len(meta)} parameters were offloaded (e.g. {meta[0]}) and are not in memory; "
                         "editors write weights, so use a device map that keeps every module on a cpu or cuda device")


def check_device(device: str | torch.device) -> torch.device:
    """The device, if this machine has it; else a KeditError that says which to use."""
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise KeditError(f"unknown device '{device}': use cpu, cuda, cuda:N or mps") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise KeditError(f"device '{device}': no CUDA device is visible here (torch.cuda.is_available() is "
                             "False; a CPU build of torch?); use --device cpu")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise KeditError(f"device '{device}': this machine has {torch.cuda.device_count()} CUDA device(s)")
    elif dev.type == "mps" and not torch.backends.mps.is_available():
        raise KeditError(f"device '{device}': MPS is not available here; use --device cpu")
    elif dev.type not in ("cpu", "cuda", "mps"):
        raise KeditError(f"device '{device}': kedit runs on cpu, cuda or mps")
    return dev


_FINGERPRINTS: "weakref.WeakKeyDictionary[torch.nn.Module, str]" = weakref.WeakKeyDictionary()


def fingerprint_of(model: torch.nn.Module) -> str:
    """What identifies a model's weights in cache keys: the fingerprint ``load_model`` gave it, else
    (a model the user built or changed) a digest of the weights themselves."""
    fp = _FINGERPRINTS.get(model)
    return fp if fp is not None else weights_fingerprint(model)


def weights_fingerprint(model: torch.nn.Module, exclude: Sequence[str] = (), sample: int = 4096) -> str:
    """A cheap content fingerprint of a model's weights, for callers that have no better one.

    Hashes the config class, ``name_or_path``, and for every parameter its name, shape, dtype and a
    strided sample of at most ``sample`` values (any fine-tune or rank-one edit moves those).
    Parameters whose name starts with one of ``exclude`` are skipped: an editor excludes the matrix
    it edits, whose input statistics do not depend on it.
    """
    h = hashlib.sha256()
    h.update(type(model.config).__name__.encode() if hasattr(model, "config") else b"")
    h.update(str(getattr(getattr(model, "config", None), "name_or_path", "")).encode())
    with torch.no_grad():
        for name, p in model.named_parameters():
            if any(name.startswith(e) for e in exclude):
                continue
            flat = p.detach().reshape(-1)
            step = max(1, flat.numel() // sample)
            vals = flat[::step][:sample].float().cpu().numpy()
            h.update(f"{name}:{tuple(p.shape)}:{p.dtype}".encode())
            h.update(vals.tobytes())
    return f"weights:{h.hexdigest()[:20]}"


def _dir_digest(path: Path) -> str:
    """Cheap identity of a model folder: names, sizes and mtimes of its files."""
    import hashlib

    h = hashlib.sha256()
    for f in sorted(path.iterdir()):
        if f.is_file():
            st = f.stat()
            h.update(f"{f.name}:{st.st_size}:{int(st.st_mtime)}".encode())
    return h.hexdigest()[:16]
