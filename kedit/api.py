"""kedit's Python API: the functions the CLIs call, for notebooks and scripts.

    import kedit
    model, tok = kedit.load_model("smollm2-135m")
    cases = kedit.read_cases("data/demo/bench.jsonl")
    result = kedit.edit(model, tok, "rome", cases[0])           # EditResult; result.restore()
    report = kedit.evaluate(model, tok, cases[:5], editors=["rome", "ft-l"], mode="single")
    report.to_pandas()                                           # the long-form summary
    generated = kedit.generate(cases, backend="kg")              # GenerateResult
    trained = kedit.train(model, tok, "mend", "train.jsonl", out="artifacts/mend")   # TrainResult
    kept = kedit.filter_cases(generated.cases, model=model, tok=tok)   # FilterResult
    swept = kedit.run_sweep("sweep.yaml", out="runs/sweep")     # SweepResult (keval sweep)
    rt = kedit.Runtime(device="cuda", dtype="bfloat16")          # evaluate(..., runtime=rt)

Every function returns a typed result and logs through ``logging`` (``logging.getLogger("kedit")``);
nothing prints.
"""

from __future__ import annotations

import weakref
from typing import Any, Mapping, Sequence

from .builder.filtering import FilterResult, filter_cases
from .builder.generate import GenerateResult, generate
from .editors import EDITORS, EditRequest, EditResult, Editor, load_hparams, timed_edit
from .editors.trained.trainer import TrainResult
from .errors import KeditError
from .eval.modes import request_of
from .eval.run import Report, evaluate, load_report, merge_reports
from .models import LoadedModel, load_model
from .records import EditCase, read_cases, write_jsonl

__all__ = ["load_model", "read_cases", "write_jsonl", "edit", "evaluate", "load_report", "merge_reports", "generate",
           "filter_cases", "train", "TrainResult",
           "export_dataset", "Report", "EditResult", "GenerateResult", "FilterResult", "LoadedModel"]

# one instance per editor name: editors keep their pre-computation (statistics, demonstration index)
# per model (weakly keyed); ``prepare`` runs once per model and hyper-parameters
_instances: dict[str, Editor] = {}
_prepared: "weakref.WeakKeyDictionary[Any, set[tuple[str, str]]]" = weakref.WeakKeyDictionary()


def _requests(what: Any) -> list[EditRequest]:
    items = what if isinstance(what, (list, tuple)) else [what]
    out = []
    for x in items:
        if isinstance(x, EditRequest):
            out.append(x)
        elif isinstance(x, EditCase):
            out.append(request_of(x))
        elif isinstance(x, Mapping):
            try:
                out.append(EditRequest(x["prompt"], x["subject"], x["target_new"], x.get("target_true"),
                                       str(x.get("case_id", ""))))
            except KeyError as e:
                raise KeditError(f"an edit given as a dict needs prompt, subject and target_new; {e.args[0]} is missing") from None
        else:
            raise KeditError(f"cannot edit a {type(x).__name__}: pass EditCases, EditRequests or dicts "
                             "{prompt, subject, target_new}")
    if not out:
        raise KeditError("nothing to edit: pass at least one case")
    return out


def edit(model, tok, editor: str, cases: Any, hparams: Mapping[str, Any] | None = None) -> EditResult:
    """Apply one editor to ``cases`` (an EditCase, an EditRequest, a dict, or a list of them, all at
    once) and return its ``EditResult``: ``result.restore()`` puts the weights back bit for bit,
    ``result.wrap_prompts(prompts)`` applies an in-context editor's edit to prompts.

    ``hparams`` override the editor's defaults for this model (``{"layer": 5}``)."""
    cls = EDITORS.get(editor)
    hp = load_hparams(cls.hparams_cls, editor, model, hparams)
    inst = _instances.get(editor)
    if inst is None or type(inst) is not cls:
        inst = _instances[editor] = cls()
    done = _prepared.setdefault(model, set())
    if (editor, repr(hp)) not in done:
        inst.prepare(model, tok, hp)
        done.add((editor, repr(hp)))
    return timed_edit(inst, model, tok, _requests(cases), hp)


def export_dataset(cases: Sequence[EditCase], out, **kw: Any) -> dict[str, Any]:
    """Write the Hugging Face dataset layout of ``cases`` into folder ``out`` (see ``kbuild export``)."""
    from .builder.export import export_dataset as _export

    return _export(list(cases), out, **kw)


def train(model, tok, editor: str, train: Any, out, *, hparams: Mapping[str, Any] | None = None, bench: Any = None,
          drop_overlap: bool = False, progress: bool = False, stop_after: int | None = None) -> TrainResult:
    """Train a learned editor (``mend``, ``ke``, ``serac``) for ``model`` on ``train`` (an edit file,
    or EditCases) and write its artifact into folder ``out`` (an interrupted training resumes from
    it). ``bench``: the benchmark it will be evaluated on; a shared subject is refused unless
    ``drop_overlap``. Edit with it through ``hparams={"artifact": out}``."""
    from .editors.trained.train import train_editor

    return train_editor(model, tok, editor, train, out, hparams=hparams, bench=bench, drop_overlap=drop_overlap,
                        progress=progress, stop_after=stop_after)
