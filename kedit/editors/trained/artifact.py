"""Artifacts of the trained editors: plain safetensors plus a JSON manifest, never pickle.

An artifact folder holds ``learner.safetensors`` (the learned tensors) and ``manifest.json``: the
editor, the model it was trained for (its kedit fingerprint and name), the architecture fields the
network was built with (edited parameters, rank, ...), the training hyper-parameters, the data
hashes, the steps and the time, and the validation figures. ``load_artifact`` refuses an artifact
of another editor, another model or another set of edited parameters, naming both sides, and a
missing one with the ``keval train`` command that makes it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import torch

from ...atomic import atomic_open
from ...errors import KeditError

SCHEMA = "kedit.trained-editor/1"
TENSORS = "learner.safetensors"
MANIFEST = "manifest.json"


def save_tensors(path: Path, tensors: dict[str, torch.Tensor]) -> None:
    from safetensors.torch import save

    data = save({k: v.detach().to("cpu").contiguous() for k, v in tensors.items()})
    with atomic_open(path, "wb") as fh:
        fh.write(data)


def load_tensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load

    return load(Path(path).read_bytes())


def write_json(path: Path, data: dict[str, Any]) -> None:
    with atomic_open(path) as fh:
        json.dump(data, fh, indent=2, sort_keys=True)
        fh.write("\n")


def save_artifact(folder: str | Path, tensors: dict[str, torch.Tensor], manifest: dict[str, Any]) -> Path:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    save_tensors(folder / TENSORS, tensors)
    write_json(folder / MANIFEST, {"schema": SCHEMA, **manifest})
    return folder


def train_command(editor: str, model_name: str) -> str:
    return f"keval train --editor {editor} --model {model_name} --train train.jsonl --out {artifact_folder(editor, model_name)}"


def artifact_folder(editor: str, model_name: str) -> str:
    """A suggested artifact folder: artifacts/<editor>-<the model's last path component>."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", Path(model_name.rstrip("/")).name).strip("-") or "model"
    return f"artifacts/{editor}-{slug}"


def load_artifact(folder: str | Path | None, editor: str, model_name: str, model_id: str,
                  architecture: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(tensors, manifest) of a trained ``editor`` for this model; ``architecture``: what the editor's
    hyper-parameters ask for (edited parameters, sizes), which the artifact must have been built with."""
    if not folder:
        raise KeditError(f"{editor} needs a trained artifact: make one with `{train_command(editor, model_name)}`, "
                         f"then pass --hparam {editor}.artifact={artifact_folder(editor, model_name)}")
    folder = Path(folder).expanduser()
    if not (folder / MANIFEST).is_file() or not (folder / TENSORS).is_file():
        raise KeditError(f"{editor}: no trained artifact in {folder} (it needs {MANIFEST} and {TENSORS}); make one "
                         f"with `{train_command(editor, model_name)}`")
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise KeditError(f"{editor}: cannot read {folder / MANIFEST} ({e}); retrain with `{train_command(editor, model_name)}`") from None
    if manifest.get("schema") != SCHEMA:
        raise KeditError(f"{folder}: not a kedit trained-editor artifact (schema {manifest.get('schema')!r}, expected {SCHEMA})")
    if manifest.get("editor") != editor:
        raise KeditError(f"{folder} is a {manifest.get('editor')} artifact, not a {editor} one; pass the folder "
                         f"`keval train --editor {editor}` wrote")
    if manifest.get("model_id") not in (None, model_id):
        raise KeditError(f"{editor}: {folder} was trained for model {manifest.get('model_name')} "
                         f"({manifest.get('model_id')}), not for {model_name} ({model_id}); train one for this model "
                         f"with `{train_command(editor, model_name)}`")
    trained = manifest.get("architecture", {})
    for key, want in architecture.items():
        have = trained.get(key)
        if _norm(have) != _norm(want):
            raise KeditError(f"{editor}: {folder} was trained with {key} {have}, but the hyper-parameters ask for "
                             f"{want}; drop the override, or train an artifact with it: `{train_command(editor, model_name)}`")
    return load_tensors(folder / TENSORS), manifest


def _norm(x: Any) -> Any:
    return json.loads(json.dumps(x))
