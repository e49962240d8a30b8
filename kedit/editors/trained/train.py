"""``kedit.train`` / ``keval train``: resolve the editor, read the training edits, train, write the artifact."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ...errors import KeditError
from .data import TrainEdit, read_train_file, train_edits
from .trainer import TrainResult, train_learner


def train_editor(model, tok, editor: str, train: str | Path | Sequence, out: str | Path, *,
                 hparams: Mapping[str, Any] | None = None, bench: str | Path | Sequence | None = None,
                 drop_overlap: bool = False, progress: bool = False, stop_after: int | None = None) -> TrainResult:
    from .. import EDITORS, load_hparams
    from ..lifelong.core import out_of_scope_texts
    from .editor import TrainedEditor

    cls = EDITORS.get(editor)
    if not issubclass(cls, TrainedEditor):
        trained = [n for n, c in EDITORS.items() if issubclass(c, TrainedEditor)]
        raise KeditError(f"{editor} does not learn to edit; `keval train` trains {', '.join(trained)}")
    hp = load_hparams(cls.hparams_cls, editor, model, dict(hparams or {}))
    fallback = out_of_scope_texts(64, seed=2)
    if isinstance(train, (str, Path)):
        edits = read_train_file(train, fallback_unrelated=fallback)
    else:
        items = list(train)
        edits = items if all(isinstance(e, TrainEdit) for e in items) else train_edits(items, fallback)
    bench_cases = None
    if bench is not None:
        if isinstance(bench, (str, Path)):
            from ...records import read_cases

            bench_cases = read_cases(bench)
        else:
            bench_cases = list(bench)
    learner = cls.new_learner(model, tok, hp)
    learner.to(next(model.parameters()).device)
    return train_learner(learner, model, tok, edits, hp, out, bench_cases=bench_cases, drop_overlap=drop_overlap,
                         progress=progress, stop_after=stop_after)
