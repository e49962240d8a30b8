"""The editor contract: one protocol, one registry, a result that restores the model bit for bit.

An editor is a class registered with ``@register_editor("name")``. It declares its frozen
hyper-parameter dataclass and implements

* ``prepare(model, tok, hp)`` -- pre-computation shared by all edits (covariance statistics,
  demonstration index); timed and reported apart from the edits. Optional.
* ``edit(model, tok, requests, hp) -> EditResult`` -- applies all ``requests`` at once.

``EditResult.restore()`` puts back every tensor the edit touched, bitwise. Editors that work in the
prompt (IKE) leave the weights alone and rewrite prompts through ``EditResult.wrap``; lifelong
editors that add memory beside the weights (GRACE) leave them alone too, and ``restore()`` (through
``EditResult.undo``) removes what they added, hooks included.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Iterable, Sequence

import torch
from torch import nn

from ..errors import KeditError
from ..registry import Registry


@dataclass(frozen=True)
class EditRequest:
    """One fact to write: ``prompt`` contains ``subject`` and should continue with ``target_new``."""

    prompt: str
    subject: str
    target_new: str
    target_true: str | None = None
    case_id: str = ""

    @property
    def template(self) -> str:
        """The prompt with the subject replaced by ``{}`` (ROME's request format)."""
        i = self.prompt.find(self.subject)
        if i < 0:
            raise KeditError(f"edit prompt {self.prompt!r} does not contain its subject {self.subject!r}")
        return self.prompt[:i].replace("{", "{{").replace("}", "}}") + "{}" + self.prompt[i + len(self.subject):].replace("{", "{{").replace("}", "}}")


class ParamSnapshot:
    """Exact copies of named parameters taken before an edit; ``restore`` copies them back."""

    def __init__(self, model: nn.Module, names: Iterable[str]):
        self._model = model
        self._saved: dict[str, torch.Tensor] = {}
        self._params: dict[str, nn.Parameter] = {}
        self.add(names)

    def add(self, names: Iterable[str]) -> None:
        """Save more parameters before they change (an editor that finds what to edit as it goes: KN);
        ones already saved keep their first copy."""
        params = dict(self._model.named_parameters())
        for n in names:
            if n not in self._saved:
                self._saved[n] = params[n].detach().clone()
                self._params[n] = params[n]

    @property
    def names(self) -> list[str]:
        return list(self._saved)

    def drop(self, names: Iterable[str]) -> None:
        """Forget the saved copies of ``names``. For edits that are only ever undone all together, in
        reverse (a sequence), an earlier edit's copy of a tensor is the one that matters: a later
        edit can drop its own, and the model still comes back bitwise (its memory stays one copy)."""
        for n in names:
            self._saved.pop(n, None)
            self._params.pop(n, None)

    @property
    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self._saved.values())

    def original(self, name: str) -> torch.Tensor:
        """The saved copy of a parameter as it was before the edit (read-only by convention)."""
        return self._saved[name]

    @torch.no_grad()
    def restore(self) -> None:
        for n, p in self._params.items():
            p.copy_(self._saved[n])

    @torch.no_grad()
    def nonfinite(self) -> list[str]:
        """Names of the snapshotted parameters that now hold NaN or Inf."""
        return [n for n, p in self._params.items() if not bool(torch.isfinite(p).all())]


class PromptFailure(str):
    """What ``EditResult.wrap`` returns for a prompt it could not rewrite (an endpoint that stayed down
    for MeLLo): the text is the reason. The probe is recorded failed with it and not scored."""


@dataclass
class EditResult:
    editor: str
    requests: Sequence[EditRequest]
    snapshot: ParamSnapshot | None = None
    wrap: Callable[[Sequence[str]], list[str]] | None = None  # prompt rewriting (in-context editors); a PromptFailure fails that probe
    seconds: float = 0.0
    peak_memory_bytes: int | None = None
    info: dict[str, Any] = field(default_factory=dict)
    undo: Callable[[], None] | None = None  # undoes what the editor keeps outside the weights

    @property
    def changed(self) -> list[str]:
        return self.snapshot.names if self.snapshot else []

    def wrap_prompts(self, prompts: Sequence[str]) -> list[str]:
        return list(prompts) if self.wrap is None else self.wrap(prompts)

    def restore(self) -> None:
        if self.snapshot is not None:
            self.snapshot.restore()
        if self.undo is not None:  # state the editor keeps beside the weights (AlphaEdit's past keys)
            self.undo()
            self.undo = None


class Editor:
    name: ClassVar[str] = ""
    hparams_cls: ClassVar[type]
    supports_batch: ClassVar[bool] = True  # False: a batch is applied one request after another
    in_context: ClassVar[bool] = False  # True: edits live in the prompt (EditResult.wrap), weights untouched
    beside_weights: ClassVar[bool] = False  # True: edits live in hooks or memory added beside the weights (GRACE), weights untouched

    def prepare(self, model: nn.Module, tok, hp) -> dict[str, Any]:
        return {}

    def edit(self, model: nn.Module, tok, requests: Sequence[EditRequest], hp) -> EditResult:
        raise NotImplementedError

    def side_state(self, model: nn.Module) -> dict[str, torch.Tensor] | None:
        """What this editor keeps for ``model`` outside the weights and later edits read (AlphaEdit's
        Σ K Kᵀ, UltraEdit's normalisers), as named tensors a sequence checkpoint can save; None where
        it cannot be saved (an interrupted sequence of this editor then runs again from the start)."""
        return None

    def load_side_state(self, model: nn.Module, tensors: dict[str, torch.Tensor]) -> Callable[[], None]:
        """Put back what ``side_state`` returned (a sequence resuming); returns the undo that puts back
        what the editor kept before."""
        raise NotImplementedError(f"{self.name} keeps no side state to load")


EDITORS: Registry[type[Editor]] = Registry("editor", entry_points="kedit.editors")


def register_editor(name: str):
    def deco(cls: type[Editor]) -> type[Editor]:
        cls.name = name
        return EDITORS.register(name)(cls)

    return deco


def device_of(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def timed_edit(editor: Editor, model, tok, requests, hp) -> EditResult:
    """Run ``editor.edit`` and fill in wall time and peak memory (RSS on CPU, max allocated on CUDA).
    An update that leaves NaN or Inf in a weight it changed is undone and raised as this edit's error."""
    from ..resources import PeakMemory

    with PeakMemory(device_of(model)) as mem:
        t0 = time.perf_counter()
        result = editor.edit(model, tok, requests, hp)
        result.seconds = time.perf_counter() - t0
    bad = result.snapshot.nonfinite() if result.snapshot is not None else []
    if bad:  # a diverged update is an error of this edit, never a silent 0.0
        result.restore()
        raise KeditError(f"{editor.name}: the update left NaN or Inf in {', '.join(bad[:3])}; the edit is undone "
                         "(a smaller learning rate or step usually fixes this)")
    result.peak_memory_bytes = mem.peak
    return result
