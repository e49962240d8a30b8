"""The one meta-training loop of the editors that learn to edit (MEND, KE, SERAC): ``keval train``.

Each such editor gives a ``Learner`` (an ``nn.Module`` of what it learns, with ``losses`` on a batch
of training edits and ``validate`` on held-out ones); this loop does the rest, the same for all:

* the split: a validation set of whole subjects (``split_by_subject``), and the subjects a training
  file shares with ``--bench`` refused (or, asked, dropped from training) with their count;
* Adam on the learner's parameter groups, gradient clipping, the batch of step s drawn from a seeded
  generator of (seed, s) alone, so a resumed run draws what an uninterrupted one would;
* validation every ``val_every`` steps; the best validation ``edit_success`` is the artifact
  (``learner.safetensors`` + ``manifest.json``); training stops early after ``patience``
  validations without improvement;
* a checkpoint (learner, optimizer state, step, history) after every validation and on an
  interruption; the same command resumes from it, and gives the same weights as a run that was
  never interrupted (tested);
* a NaN or Inf loss stops training, keeps the last good checkpoint and artifact, and says so.
"""

from __future__ import annotations

import json
import logging
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Sequence

import torch
from torch import nn

from ...errors import KeditError
from ..hparams import HyperParams
from .artifact import load_tensors, save_artifact, save_tensors, write_json
from .data import TrainEdit, bench_overlap, drop_subjects, edits_digest, split_by_subject

log = logging.getLogger(__name__)
CHECKPOINT = "checkpoint"


@dataclass(frozen=True)
class TrainedHyperParams(HyperParams):
    """What every trained editor's hyper-parameters have: the artifact to edit with, and the
    training loop's numbers (``keval train``)."""

    artifact: str | None = None  # folder written by `keval train`
    train_steps: int = 500  # outer steps at most
    train_lr: float = 1e-4  # Adam on the learner's parameters
    train_batch: int = 4  # training edits per step
    val_fraction: float = 0.2  # of the subjects, held out for validation
    val_edits: int = 16  # validation edits scored each time (the first ones of the held-out set)
    val_every: int = 50  # steps between validations (and checkpoints)
    patience: int = 4  # validations without a better edit_success before stopping
    grad_clip: float = 100.0
    seed: int = 0

    train_fields: ClassVar[tuple[str, ...]] = ("train_steps", "train_lr", "train_batch", "val_fraction", "val_edits",
                                               "val_every", "patience", "grad_clip", "seed")

    def check(self) -> None:
        if self.train_steps < 1 or self.train_batch < 1 or self.val_every < 1 or self.val_edits < 1 or self.patience < 1:
            raise KeditError(f"{self.editor}: train_steps, train_batch, val_every, val_edits and patience must be >= 1")
        if not self.train_lr > 0:
            raise KeditError(f"{self.editor}: train_lr must be > 0")


class Learner(nn.Module):
    """What a trained editor learns. Subclasses set ``editor`` and implement the three methods."""

    editor: ClassVar[str] = ""
    model_bound: ClassVar[bool] = True  # False: the artifact does not depend on the edited model (SERAC)

    def learned_state(self) -> dict[str, torch.Tensor]:
        """The tensors the artifact keeps (all of the state by default)."""
        return self.state_dict()

    def load_learned(self, tensors: dict[str, torch.Tensor]) -> None:
        self.load_state_dict(tensors)

    def architecture(self) -> dict[str, Any]:
        """The fields the network was built with; an artifact is only loaded into the same."""
        raise NotImplementedError

    def losses(self, model: nn.Module, tok, batch: Sequence[TrainEdit]) -> dict[str, torch.Tensor]:
        """``{"total": loss with a graph to the learner, other named parts}`` on a batch of edits."""
        raise NotImplementedError

    @torch.no_grad()
    def validate(self, model: nn.Module, tok, edits: Sequence[TrainEdit]) -> dict[str, float]:
        """Figures on held-out edits, ``edit_success`` (higher is better) among them."""
        raise NotImplementedError

    def param_groups(self, hp: TrainedHyperParams) -> list[dict[str, Any]]:
        return [{"params": [p for p in self.parameters() if p.requires_grad], "lr": hp.train_lr}]


@dataclass
class TrainResult:
    editor: str
    artifact: Path
    steps: int
    seconds: float
    best: dict[str, float]
    stopped: str  # "steps" | "early stop" | "nan at step N" | "interrupted"
    n_train: int
    n_val: int
    overlap_dropped: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)


def model_identity(model: nn.Module) -> tuple[str, str]:
    """(a readable name, the fingerprint an artifact is tied to)."""
    from ...models.loading import fingerprint_of

    fp = fingerprint_of(model)
    if fp.startswith("builtin:"):
        return fp.split(":")[1], fp
    name = str(getattr(getattr(model, "config", None), "name_or_path", "") or type(model).__name__)
    return name, fp


def _batch(edits: Sequence[TrainEdit], n: int, seed: int, step: int) -> list[TrainEdit]:
    rng = random.Random(f"{seed}:{step}")
    return rng.sample(list(edits), min(n, len(edits)))


def _opt_state(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    sd = opt.state_dict()
    tensors, scalars = {}, {}
    for i, st in sd["state"].items():
        for k, v in st.items():
            if torch.is_tensor(v):
                tensors[f"{i}.{k}"] = v
            else:
                scalars[f"{i}.{k}"] = v
    groups = [{k: v for k, v in g.items()} for g in sd["param_groups"]]
    return tensors, {"param_groups": groups, "scalars": scalars}


def _load_opt_state(opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
    state: dict[int, dict[str, Any]] = {}
    for key, v in list(tensors.items()) + list(meta["scalars"].items()):
        i, k = key.split(".", 1)
        state.setdefault(int(i), {})[k] = v
    opt.load_state_dict({"state": state, "param_groups": meta["param_groups"]})


def train_learner(learner: Learner, model: nn.Module, tok, edits: Sequence[TrainEdit], hp: TrainedHyperParams, out: str | Path,
                  bench_cases: Sequence | None = None, drop_overlap: bool = False, progress: bool = True,
                  stop_after: int | None = None) -> TrainResult:
    """Train ``learner`` on ``edits`` and write its artifact into ``out`` (resuming a checkpoint there).

    ``bench_cases``: the benchmark the artifact will be evaluated on; a shared subject is refused
    unless ``drop_overlap`` (then those edits are left out, and counted). ``stop_after``: stop after
    that many steps of this call, as an interruption would (the next call resumes)."""
    out = Path(out)
    editor = learner.editor
    dropped = 0
    if bench_cases is not None:
        shared = bench_overlap(edits, bench_cases)
        if shared and not drop_overlap:
            raise KeditError(f"{len(shared)} subject(s) of the training edits are in the benchmark too (e.g. "
                             f"{', '.join(shared[:5])}); training on them would leak the evaluation. Pass --drop-overlap "
                             "to train without those edits, or use another training file")
        if shared:
            kept = drop_subjects(edits, shared)
            dropped = len(edits) - len(kept)
            log.warning("%s: left out %d training edit(s) of %d subject(s) shared with the benchmark", editor, dropped, len(shared))
            edits = kept
    train, val = split_by_subject(edits, hp.val_fraction, hp.seed)
    if not train or not val:
        raise KeditError(f"{editor}: the split left {len(train)} training and {len(val)} validation edits; give more edits")
    val = val[: hp.val_edits]
    name, fp = model_identity(model)
    hp_dict = {k: getattr(hp, k) for k in hp.__dataclass_fields__ if k != "artifact"}  # type: ignore[attr-defined]
    data = {"train_sha256": edits_digest(train), "val_sha256": edits_digest(val), "n_train": len(train), "n_val": len(val),
            "overlap_dropped": dropped}
    opt = torch.optim.Adam(learner.param_groups(hp))
    ck = out / CHECKPOINT
    step, history, best, bad, seconds = 0, [], None, 0, 0.0
    if (ck / "state.json").is_file():
        state = json.loads((ck / "state.json").read_text(encoding="utf-8"))
        if state["data"] != data or state["hparams"] != json.loads(json.dumps(hp_dict)) or state["model_id"] != fp:
            raise KeditError(f"{out} holds a checkpoint of another training (other data, hyper-parameters or model); "
                             "pass a new --out, or delete that folder to start over")
        learner.load_learned(load_tensors(ck / "learner.safetensors"))
        _load_opt_state(opt, load_tensors(ck / "optimizer.safetensors"), state["optimizer"])
        step, history, best, bad, seconds = state["step"], state["history"], state["best"], state["bad"], state["seconds"]
        if state.get("stopped") in ("early stop", "steps") or (state.get("stopped") or "").startswith("nan"):
            log.info("%s: %s already finished (%s)", editor, out, state["stopped"])
            return _result(editor, out, step, seconds, best, state["stopped"], data, history)
        log.info("%s: resuming %s at step %d", editor, out, step)

    def save_checkpoint(stopped: str | None) -> None:
        ck.mkdir(parents=True, exist_ok=True)
        save_tensors(ck / "learner.safetensors", learner.learned_state())
        tensors, meta = _opt_state(opt)
        save_tensors(ck / "optimizer.safetensors", tensors)
        write_json(ck / "state.json", {"step": step, "history": history, "best": best, "bad": bad, "seconds": seconds,
                                       "data": data, "hparams": hp_dict, "model_id": fp, "optimizer": meta, "stopped": stopped})

    def save_best(figures: dict[str, float]) -> None:
        save_artifact(out, learner.learned_state(), {
            "editor": editor, "model_name": name, "model_id": fp if learner.model_bound else None, "architecture": learner.architecture(),
            "hparams": hp_dict, "data": data, "steps": step, "train_seconds": round(seconds, 1), "validation": figures,
            "torch": torch.__version__})

    from tqdm.auto import tqdm

    bar = tqdm(total=hp.train_steps, initial=step, desc=f"train {editor}", unit="step", disable=not progress)
    stopped, start_step = "steps", step
    running: dict[str, float] = {}  # training losses summed since the last validation (history: their means)
    running_n = 0
    params = [p for g in opt.param_groups for p in g["params"]]
    try:
        while step < hp.train_steps:
            if stop_after is not None and step - start_step >= stop_after:
                stopped = "interrupted"
                break
            t0 = time.perf_counter()
            torch.manual_seed(hp.seed * 1_000_003 + step)  # dropout draws of step s, the same after a resume
            learner.train()
            parts = learner.losses(model, tok, _batch(train, hp.train_batch, hp.seed, step))
            total = parts["total"]
            if not torch.isfinite(total.detach()):
                stopped = f"nan at step {step + 1}"
                log.warning("%s: the loss became %s at step %d; training stops, the last good checkpoint is kept",
                            editor, float(total.detach()), step + 1)
                break
            opt.zero_grad(set_to_none=True)
            total.backward()
            torch.nn.utils.clip_grad_norm_(params, hp.grad_clip)
            opt.step()
            step += 1
            seconds += time.perf_counter() - t0
            for k, v in parts.items():
                running[k] = running.get(k, 0.0) + float(v.detach())
            running_n += 1
            bar.update(1)
            bar.set_postfix({k: f"{float(v.detach()):.3g}" for k, v in parts.items()})
            if step % hp.val_every == 0 or step == hp.train_steps:
                learner.eval()
                t0 = time.perf_counter()
                figures = learner.validate(model, tok, val)
                seconds += time.perf_counter() - t0
                history.append({"step": step, **{k: round(v / running_n, 5) for k, v in running.items()},
                                **{f"val_{k}": round(v, 5) for k, v in figures.items()}})
                running, running_n = {}, 0
                log.info("%s step %d: %s", editor, step, history[-1])
                if best is None or figures["edit_success"] > best["edit_success"]:
                    best, bad = {**figures, "step": step}, 0
                    save_best(figures)
                else:
                    bad += 1
                if bad >= hp.patience:
                    stopped = "early stop"
                    save_checkpoint(stopped)
                    break
                save_checkpoint("steps" if step == hp.train_steps else None)
        else:
            stopped = "steps"
    except KeyboardInterrupt:
        save_checkpoint(None)
        raise
    finally:
        bar.close()
    if stopped == "interrupted":
        save_checkpoint(None)
    elif stopped.startswith("nan"):
        if ck.is_dir():
            state = json.loads((ck / "state.json").read_text(encoding="utf-8"))
            state["stopped"] = stopped
            write_json(ck / "state.json", state)
        if best is None:
            raise KeditError(f"{editor}: the loss became NaN or Inf at {stopped.split()[-1]} before any validation; "
                             f"nothing was saved. Lower train_lr (now {hp.train_lr}) and train again")
    if stopped != "interrupted" and best is None:
        raise KeditError(f"{editor}: training ended before its first validation; lower val_every (now {hp.val_every})")
    return _result(editor, out, step, seconds, best or {}, stopped, data, history)


def _result(editor: str, out: Path, step: int, seconds: float, best: dict | None, stopped: str, data: dict, history: list) -> TrainResult:
    return TrainResult(editor, out, step, seconds, dict(best or {}), stopped, data["n_train"], data["n_val"],
                       data["overlap_dropped"], list(history))

