"""UltraEdit: training-, subject- and memory-free lifelong editing (Gu et al. 2025, "UltraEdit:
Training-, Subject-, and Memory-Free Lifelong Editing in Large Language Models", arXiv 2505.14679),
as EasyEdit implements it (easyeditor/models/ultraedit/ULTRAEDIT.py, after MALMEN's cache and solve).

Each edit call is one turn. For every edited linear layer W (d_in → d_out) of the band:

1. one forward and backward pass of the turn's "prompt + target" sequences, the loss the mean
   cross-entropy of the targets' tokens, gives at every token t the layer's input k_t (d_in) and
   the loss's gradient at its output g_t = ∂L/∂(W k_t) (d_out). ``token="mask"`` (the reference's
   choice in every file): every real token; ``"ans"``: where the loss is read, the positions that
   predict the target's tokens (the prompt's last token and the target's but its last; at the
   target's own tokens the last one's gradient is 0, and all of a one-token target's);
2. the lifelong normaliser -- a running mean μ and standard deviation σ of z = [k; g], carried
   across every turn so far (Welford's parallel update) -- standardises ẑ = (z − μ) / σ = [k̂; ĝ];
3. the pseudo values are a normalised gradient step, v_t = −lr · ‖k̂_t‖² · ĝ_t;
4. the update is the ridge regression from the raw keys to them,

       Δ = Vᵀ K (K ᵀ K + λ I)⁻¹      (K: (T, d_in), V: (T, d_out); λ = ``ridge``, 1 in the reference)

   which is MEMIT's solve with C = I (``locate.solves.batch_update``), written by the family's one
   weight write (``locate.solves.add_to_weight``, GPT-2's Conv1D layout included).

No covariance statistics, no optimisation loop: one pass and one d_in × d_in solve per layer and
turn. ``restore()`` undoes a turn's weights and its normaliser update (turns undo in reverse order).
Defaults: EasyEdit's GPT-J values (hparams/UltraEdit/gpt-j-6B.yaml: fc_out of layers 18-26, lr 1e-6,
token "mask"); per-family files set kedit's values.
"""

from __future__ import annotations

import contextlib
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Callable, ClassVar

import torch
from torch import nn

from .. import runtime
from ..errors import KeditError
from ..models.roles import module_at, path_of
from ..models.text import encode_prompts, encode_targets, length_batches, pad_batch, pad_id
from .base import EditRequest, EditResult, Editor, ParamSnapshot, register_editor
from .hparams import HyperParams
from .locate.keys import body
from .locate.solves import add_to_weight, batch_update
from .locate.values import frozen

TOKENS = ("mask", "ans")


@dataclass(frozen=True)
class UltraEditHyperParams(HyperParams):
    editor: ClassVar[str] = "ultraedit"
    layer_fields: ClassVar[tuple[str, ...]] = ("layers",)

    layers: tuple[int, ...] = (18, 19, 20, 21, 22, 23, 24, 25, 26)  # GPT-J-6B's band (of 28)
    role: str = "mlp_out"  # the edited linear layer of each block: mlp_out (GPT-J's fc_out) or mlp_in
    lr: float = 1e-6  # the normalised step's size
    token: str = "mask"  # where keys and gradients are taken: every real token, or where the target is predicted ("ans")
    ridge: float = 1.0  # λ of (KᵀK + λI)
    batch_tokens: int = 0  # token budget of one forward/backward pass (0: the runtime's --batch-tokens)

    def check(self) -> None:
        if not self.layers:
            raise KeditError("ultraedit: 'layers' is empty; name the layers to edit, e.g. [3, 4, 5]")
        if self.role not in ("mlp_out", "mlp_in"):
            raise KeditError(f"ultraedit: role must be mlp_out or mlp_in, not {self.role!r}")
        if self.token not in TOKENS:
            raise KeditError(f"ultraedit: token must be one of {', '.join(TOKENS)}, not {self.token!r}")
        if not self.lr > 0 or not self.ridge > 0:
            raise KeditError("ultraedit: lr and ridge must be > 0")


class RunningMeanStd:
    """Mean and standard deviation of the rows seen so far (Chan et al.'s parallel update of the sum
    of squared deviations); ``state()`` / ``load()`` save and put back a state (undo)."""

    def __init__(self, size: int, device: torch.device):
        self.n = 0
        self.mean = torch.zeros(size, dtype=torch.float64, device=device)
        self.m2 = torch.zeros(size, dtype=torch.float64, device=device)

    def update(self, x: torch.Tensor) -> None:  # x: (T, size)
        x = x.to(torch.float64)
        nb = x.shape[0]
        mean_b = x.mean(0)
        m2_b = ((x - mean_b) ** 2).sum(0)
        n = self.n + nb
        delta = mean_b - self.mean
        self.mean = self.mean + delta * nb / n
        self.m2 = self.m2 + m2_b + delta ** 2 * self.n * nb / n
        self.n = n

    @property
    def std(self) -> torch.Tensor:
        return (self.m2 / max(self.n - 1, 1)).sqrt()

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return (x.to(torch.float64) - self.mean) / (self.std + torch.finfo(torch.float32).eps)

    def state(self) -> tuple:
        return self.n, self.mean.clone(), self.m2.clone()

    def load(self, state: tuple) -> None:
        self.n, self.mean, self.m2 = state[0], state[1].clone(), state[2].clone()


@register_editor("ultraedit")
class UltraEdit(Editor):
    hparams_cls = UltraEditHyperParams
    supports_batch = True

    def __init__(self) -> None:
        # per model: one normaliser per edited layer shape (d_in, d_out), carried across turns
        self._norms: weakref.WeakKeyDictionary[nn.Module, dict[tuple, RunningMeanStd]] = weakref.WeakKeyDictionary()

    def edit(self, model: nn.Module, tok, requests: Sequence[EditRequest], hp: UltraEditHyperParams) -> EditResult:
        t0 = time.perf_counter()
        names = [path_of(model, hp.role, layer) + ".weight" for layer in hp.layers]
        snapshot = ParamSnapshot(model, names)
        norms = self._norms.setdefault(model, {})
        saved = {k: v.state() for k, v in norms.items()}
        added: set[tuple] = set()
        try:
            keys, grads = keys_and_gradients(model, tok, requests, hp)
            info: dict[str, Any] = {"requests": len(requests), "tokens": int(next(iter(keys.values())).shape[0])}
            for layer in hp.layers:
                K, G = keys[layer], grads[layer]  # (T, d_in), (T, d_out)
                shape = (K.shape[1], G.shape[1])
                if shape not in norms:
                    norms[shape] = RunningMeanStd(sum(shape), K.device)
                    added.add(shape)
                z = torch.cat([K, G], 1)
                norms[shape].update(z)
                k_hat, g_hat = norms[shape](z).split(list(shape), 1)
                V = -hp.lr * (k_hat ** 2).sum(1, keepdim=True) * g_hat  # (T, d_out)
                info[f"update_norm_l{layer}"] = add_to_weight(model, layer, batch_update(K, V, None, hp.ridge), hp.role)
        except BaseException:
            snapshot.restore()
            self._restore_norms(model, saved, added)
            raise
        info["seconds"] = round(time.perf_counter() - t0, 3)
        return EditResult(self.name, list(requests), snapshot=snapshot, info=info,
                          undo=lambda: self._restore_norms(model, saved, added))

    def side_state(self, model: nn.Module) -> dict[str, torch.Tensor]:
        """The normalisers carried across turns (``norm.<d_in>x<d_out>.{n,mean,m2}``), for a sequence checkpoint."""
        out = {}
        for (d_in, d_out), norm in self._norms.get(model, {}).items():
            n, mean, m2 = norm.state()
            out |= {f"norm.{d_in}x{d_out}.n": torch.tensor(n), f"norm.{d_in}x{d_out}.mean": mean,
                    f"norm.{d_in}x{d_out}.m2": m2}
        return out

    def load_side_state(self, model: nn.Module, tensors: dict[str, torch.Tensor]) -> Callable[[], None]:
        norms = self._norms.setdefault(model, {})
        saved = {k: v.state() for k, v in norms.items()}
        device = next(model.parameters()).device
        added: set[tuple] = set()
        for name in tensors:
            if name.endswith(".n"):
                base = name[:-2]
                shape = tuple(int(x) for x in base.split(".", 1)[1].split("x"))
                if shape not in norms:
                    norms[shape] = RunningMeanStd(sum(shape), device)
                    added.add(shape)
                norms[shape].load((int(tensors[name]), tensors[base + ".mean"].to(device), tensors[base + ".m2"].to(device)))
        return lambda: self._restore_norms(model, saved, added)

    def _restore_norms(self, model: nn.Module, saved: dict[tuple, tuple], added: set[tuple]) -> None:
        norms = self._norms.get(model, {})
        for shape, state in saved.items():
            norms[shape].load(state)
        for shape in added:
            norms.pop(shape, None)


def keys_and_gradients(model: nn.Module, tok, requests: Sequence[EditRequest], hp: UltraEditHyperParams
                       ) -> tuple[dict[int, torch.Tensor], dict[int, torch.Tensor]]:
    """Per edited layer, the inputs (T, d_in) and output gradients (T, d_out) at the chosen tokens of
    every request's "prompt + target" (the loss: mean target cross-entropy of each length batch)."""
    device = next(model.parameters()).device
    prompts = encode_prompts(tok, [r.prompt for r in requests])
    targets = encode_targets(tok, [r.target_new for r in requests])
    for r, t in zip(requests, targets):
        if not t:
            raise KeditError(f"ultraedit: case {r.case_id}: target {r.target_new!r} is empty after tokenization")
    seqs = [p + t for p, t in zip(prompts, targets)]
    keys: dict[int, list[torch.Tensor]] = {layer: [] for layer in hp.layers}
    grads: dict[int, list[torch.Tensor]] = {layer: [] for layer in hp.layers}
    with frozen(model):
        for batch in length_batches([len(s) for s in seqs], runtime.batch_tokens(hp.batch_tokens)):
            ids, mask = pad_batch([seqs[i] for i in batch], pad_id(tok))  # (B, T), right-padded
            ids, mask = ids.to(device), mask.to(device)
            tgt = torch.zeros_like(mask, dtype=torch.bool)  # target tokens
            for row, i in enumerate(batch):
                tgt[row, len(prompts[i]):len(seqs[i])] = True
            prev = torch.zeros_like(tgt)
            prev[:, :-1] = tgt[:, 1:]  # position t predicts token t + 1
            where = mask.bool() if hp.token == "mask" else prev
            outs: dict[int, torch.Tensor] = {}
            with contextlib.ExitStack() as stack, torch.enable_grad():
                for layer in hp.layers:
                    stack.enter_context(_capture(module_at(model, hp.role, layer), layer, keys, outs, where))
                hidden = body(model)(input_ids=ids, attention_mask=mask, use_cache=False).last_hidden_state
                logits = model.get_output_embeddings()(hidden[prev]).float()  # (n_target, vocab)
                loss = torch.nn.functional.cross_entropy(logits, ids[tgt])
                got = torch.autograd.grad(loss, [outs[layer] for layer in hp.layers])
            for layer, g in zip(hp.layers, got):
                grads[layer].append(g[where].detach().float())
    return ({layer: torch.cat(v) for layer, v in keys.items()}, {layer: torch.cat(v) for layer, v in grads.items()})


@contextlib.contextmanager
def _capture(module: nn.Module, layer: int, keys: dict, outs: dict, where: torch.Tensor):
    """Record the module's input at ``where`` and make its output a tensor the loss can be
    differentiated by."""
    def hook(_m, inputs, output):
        keys[layer].append(inputs[0][where].detach().float())
        out = output[0] if isinstance(output, tuple) else output
        if not out.requires_grad:  # the first edited layer: nothing below it needs a gradient
            out.requires_grad_(True)
        outs[layer] = out
        return output

    handle = module.register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()
