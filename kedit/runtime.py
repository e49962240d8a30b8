"""Where and how a model runs: one ``Runtime`` (device, dtype, device map, the token budget of a
batch and its most rows) carried from the command line through the run config, the scorer, the
layer statistics and the editors.

``keval run``, ``keval train`` and ``kbuild filter`` take ``--device cpu|cuda|cuda:N|mps|auto``,
``--dtype float32|bfloat16|float16``, ``--device-map auto|FILE.json``, ``--batch-tokens N`` and
``--max-batch N``. Inside a run the runtime is *active* (``using``); the scorer and the statistics
read their budget from ``active()`` where no explicit one is given, so an editor's hyper-parameters
need not repeat it.

Whatever the model's dtype, editors do their sensitive algebra in float32 or float64 (keys, values
and statistics products in float32 at least, solves in float64) and write back in the model's dtype.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from .errors import KeditError, UnknownNameError

log = logging.getLogger(__name__)

DTYPES = ("float32", "bfloat16", "float16", "float64")  # float64: numerical checks
CPU_BATCH_TOKENS = 4096  # the budget on a CPU (and the floor of the automatic one on a GPU)
MAX_AUTO_BATCH_TOKENS = 65536
MAX_BATCH = 64


@dataclass(frozen=True)
class Runtime:
    device: str | None = "cpu"  # cpu, cuda, cuda:N, mps, auto (cuda when one is visible, else cpu, with a
    # warning) or None (the same, silently: the command line's default)
    dtype: str = "float32"  # the model's weights and activations
    batch_tokens: int = 0  # padded tokens in one forward batch (0: automatic, from free GPU memory)
    max_batch: int = MAX_BATCH  # rows in one forward batch at most
    device_map: str | dict | None = None  # accelerate's device map ("auto", a JSON file or a dict)

    def __post_init__(self) -> None:
        if self.dtype not in DTYPES:
            raise UnknownNameError("dtype", self.dtype, DTYPES)
        if self.batch_tokens < 0 or self.max_batch < 1:
            raise KeditError(f"--batch-tokens must be 0 (automatic) or more and --max-batch at least 1, "
                             f"got {self.batch_tokens} and {self.max_batch}")

    @property
    def torch_dtype(self):
        import torch

        return getattr(torch, self.dtype)

    def resolved(self, model=None) -> "Runtime":
        """The device made concrete (``auto``: cuda where visible, else cpu with a warning), the
        device map read, and the token budget chosen (from ``model``'s shape and free GPU memory
        when it is 0)."""
        device = resolve_device(self.device)
        dmap = read_device_map(self.device_map)
        tokens = self.batch_tokens or auto_batch_tokens(device, model, self.dtype)
        return dataclasses.replace(self, device=device, device_map=dmap, batch_tokens=tokens)

    def to_config(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def resolve_device(device: str | None) -> str:
    """``auto`` (or None) becomes cuda where torch sees one, else cpu (a warning when asked for
    ``auto`` by name); any other device must exist here (``models.loading.check_device``)."""
    import torch

    if device in (None, "auto"):
        if torch.cuda.is_available():
            return "cuda"
        if device == "auto":
            log.warning("--device auto: no CUDA device is visible here; running on the CPU")
        return "cpu"
    from .models.loading import check_device

    return str(check_device(device))


def read_device_map(device_map: str | dict | None) -> str | dict | None:
    """``auto`` / ``balanced`` / ``sequential`` as they are, a JSON file's mapping, a dict as it is."""
    if device_map is None or isinstance(device_map, dict) or device_map in ("auto", "balanced", "sequential"):
        return device_map
    path = Path(device_map)
    if not path.is_file():
        raise KeditError(f"--device-map {device_map}: give auto, balanced, sequential or a JSON file mapping module "
                         "names to devices ({\"model.layers.0\": 0, ..., \"lm_head\": \"cpu\"})")
    try:
        dmap = json.loads(path.read_text())
    except (ValueError, RecursionError, UnicodeDecodeError) as e:
        raise KeditError(f"--device-map {path}: not JSON ({str(e)[:120]})") from None
    if not isinstance(dmap, dict) or not dmap:
        raise KeditError(f"--device-map {path}: expected an object mapping module names to devices")
    return dmap


def auto_batch_tokens(device: str, model=None, dtype: str = "float32") -> int:
    """The token budget of one forward batch: ``CPU_BATCH_TOKENS`` on a CPU; on a GPU, half its free
    memory over a token's cost in ``model`` (its KV cache over every layer, a few activations of the
    widest layer and one row of logits in float32), between ``CPU_BATCH_TOKENS`` and
    ``MAX_AUTO_BATCH_TOKENS``."""
    import torch

    if not device.startswith("cuda") or model is None:
        return CPU_BATCH_TOKENS
    free, _total = torch.cuda.mem_get_info(torch.device(device))
    return budget_from_memory(free, token_bytes(getattr(model, "config", None), dtype))


def token_bytes(config, dtype: str = "float32") -> int:
    """Bytes one token costs in a forward pass of a model with ``config`` (see ``auto_batch_tokens``)."""
    width = 2 if dtype in ("bfloat16", "float16") else 4
    hidden = int(getattr(config, "hidden_size", None) or getattr(config, "n_embd", 4096))
    layers = int(getattr(config, "num_hidden_layers", None) or getattr(config, "n_layer", 32))
    inter = int(getattr(config, "intermediate_size", None) or 4 * hidden)
    vocab = int(getattr(config, "vocab_size", 32000))
    return 2 * layers * hidden * width + 4 * (hidden + inter) * width + 4 * vocab


def budget_from_memory(free_bytes: int, per_token: int) -> int:
    tokens = int(free_bytes * 0.5) // max(per_token, 1)
    return max(CPU_BATCH_TOKENS, min(MAX_AUTO_BATCH_TOKENS, tokens))


_ACTIVE: contextvars.ContextVar[Runtime | None] = contextvars.ContextVar("kedit_runtime", default=None)


def active() -> Runtime:
    """The runtime of the run in progress (``using``), else the CPU default."""
    rt = _ACTIVE.get()
    return rt if rt is not None else Runtime(batch_tokens=CPU_BATCH_TOKENS)


def batch_tokens(explicit: int | None = None) -> int:
    """``explicit`` when given (and not 0), else the active runtime's budget."""
    return explicit or active().batch_tokens or CPU_BATCH_TOKENS


@contextlib.contextmanager
def using(runtime: Runtime) -> Iterator[Runtime]:
    token = _ACTIVE.set(runtime)
    try:
        yield runtime
    finally:
        _ACTIVE.reset(token)


def add_runtime_arguments(p) -> None:
    """The runtime options of ``keval run``, ``keval train`` and ``kbuild filter``."""
    from .cliargs import non_negative_int, positive_int

    g = p.add_argument_group("runtime (device, precision, batch sizes)")
    g.add_argument("--device", default=None, help="cpu, cuda, cuda:N, mps or auto (default: auto, cuda where one is "
                   "visible, else cpu)")
    g.add_argument("--dtype", default="float32", metavar="{" + ",".join(DTYPES[:3]) + "}",
                   help="the model's precision; editors still solve in float32/float64 and write back in it")
    g.add_argument("--device-map", metavar="auto|FILE.json", help="place a model larger than one device with "
                   "accelerate (auto, or a JSON map of module names to devices); every weight must stay materialised")
    g.add_argument("--batch-tokens", type=non_negative_int, default=0, help="padded tokens per forward batch of the "
                   "scorer and the statistics (0: automatic, 4096 on a CPU, from free memory on a GPU)")
    g.add_argument("--max-batch", type=positive_int, default=MAX_BATCH, help="rows per forward batch at most")
    g.add_argument("--threads", type=positive_int, help="torch CPU threads (default: torch's)")


def runtime_from_args(args) -> Runtime:
    """The ``Runtime`` of parsed ``add_runtime_arguments`` options (threads set on the way)."""
    if getattr(args, "threads", None):
        import torch

        torch.set_num_threads(args.threads)
    return Runtime(device=args.device, dtype=args.dtype, batch_tokens=args.batch_tokens,
                   max_batch=args.max_batch, device_map=args.device_map)
