"""The base of the lifelong editors that add memory beside the weights (GRACE, WISE, T-Patcher).

One state per model (its codebook, side memory or patches, and the hooks that apply it), created by
``attach`` at the first edit. Requests are written one at a time (``edit_one`` gets each request), or
all at once by an editor that ``supports_batch`` (``edit_one`` gets the list); before each call a
``checkpoint`` of the state is taken, and ``restore()`` rolls the checkpoints back in reverse
(``rollback``). When the state holds no edit any more (``empty``) its hooks are removed and it is
dropped, so an unedited model carries nothing. A request that fails rolls back the whole call.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from ...errors import KeditError
from ...models.roles import n_layers
from ..base import EditRequest, EditResult, Editor


class SideEditor(Editor):
    supports_batch = False  # each method writes one fact at a time, as its paper
    beside_weights = True

    def __init__(self) -> None:
        self._states: weakref.WeakKeyDictionary[nn.Module, Any] = weakref.WeakKeyDictionary()

    # what each method implements
    def attach(self, model: nn.Module, tok, layer: int, hp) -> Any:
        """The method's empty state for ``model``, with its hooks installed (``state.hooks``)."""
        raise NotImplementedError

    def checkpoint(self, state) -> Any:
        return None

    def edit_one(self, model: nn.Module, tok, state, request: EditRequest, hp, layer: int, checkpoint) -> dict[str, Any]:
        raise NotImplementedError

    def rollback(self, state, checkpoint) -> None:
        raise NotImplementedError

    def empty(self, state) -> bool:
        raise NotImplementedError

    def summary(self, state, info: dict[str, Any]) -> dict[str, Any]:
        return {}

    def state_bytes(self, state) -> int:
        """Bytes of the tensors the state holds (codebook, side memory, neurons): what the method added."""
        return tensor_bytes(state)

    # the shared loop
    def state_of(self, model: nn.Module) -> Any:
        return self._states.get(model)

    def edit(self, model: nn.Module, tok, requests: Sequence[EditRequest], hp) -> EditResult:
        layer = hp.layer % n_layers(model)
        state = self._states.get(model)
        before = 0 if state is None else self.state_bytes(state)
        if state is None:
            state = self._states[model] = self.attach(model, tok, layer, hp)
        undo: list[Any] = []
        info: dict[str, Any] = {"layer": layer}
        try:
            for r in ([list(requests)] if self.supports_batch else requests):
                undo.append(self.checkpoint(state))
                one = self.edit_one(model, tok, state, r, hp, layer, undo[-1])
                if one.get("converged") is False:
                    one["n_unconverged"] = 1
                    if getattr(hp, "unconverged", "score") == "fail":
                        ids = ", ".join(x.case_id for x in (r if isinstance(r, list) else [r]))
                        loss = f", loss {one['loss_end']:.3g}" if "loss_end" in one else ""
                        raise KeditError(f"{self.name}: the edit of {ids} did not converge ({one.get('steps')} steps{loss}); "
                                         "it is undone and recorded failed (unconverged=fail)")
                for k, v in one.items():
                    info[k] = info.get(k, 0) + v if k in info and k.startswith("n_") else v
        except BaseException:
            self._undo(model, undo)
            raise
        info.update(self.summary(state, info))
        held = self.state_bytes(state)  # everything the state holds, fixed parts (T-Patcher's memory, WISE's copy) included
        info.setdefault("added_bytes", held - before)  # a method's own count of its new parameters comes first
        info.update(held_bytes=held, edits_in_call=len(requests))
        return EditResult(self.name, list(requests), info=info, undo=lambda: self._undo(model, undo))

    def _undo(self, model: nn.Module, undo: list) -> None:
        state = self._states.get(model)
        if state is None:
            return
        for cp in reversed(undo):
            self.rollback(state, cp)
        undo.clear()
        if self.empty(state):
            state.hooks.remove()
            del self._states[model]


def tensor_bytes(obj: Any, _seen: set[int] | None = None, _depth: int = 0) -> int:
    """Bytes of every distinct tensor reachable from ``obj`` through attributes, lists, tuples, dicts
    and module parameters and buffers (a few levels deep; hooks and the model itself are not walked)."""
    seen = set() if _seen is None else _seen
    if id(obj) in seen or _depth > 4:
        return 0
    seen.add(id(obj))
    if isinstance(obj, torch.Tensor):
        return obj.numel() * obj.element_size()
    if isinstance(obj, nn.Module):
        return sum(tensor_bytes(t, seen, _depth + 1) for t in [*obj.parameters(recurse=True), *obj.buffers(recurse=True)])
    if isinstance(obj, dict):
        return sum(tensor_bytes(v, seen, _depth + 1) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(tensor_bytes(v, seen, _depth + 1) for v in obj)
    if hasattr(obj, "__dict__") and not callable(obj):
        return sum(tensor_bytes(v, seen, _depth + 1) for k, v in vars(obj).items() if k not in ("hooks", "model"))
    return 0
