"""Hyper-parameters: frozen dataclasses loaded strictly from YAML data files.

Each editor's hyper-parameters are a frozen dataclass deriving from ``HyperParams``, which holds the
defaults (and the comments that explain them). For editor ``E`` and a model of architecture family
``F`` the values are

1. the dataclass defaults;
2. ``hparams/E/F.yaml`` if it exists: the values tuned for that family, only those that differ from
   the defaults. ``F`` is the family that ``kedit.models.roles.family_of`` gives the model's config
   class, so ``llama.yaml`` serves LlamaConfig, MistralConfig, Qwen2Config, Qwen3Config and
   Olmo2Config models, ``gpt2.yaml`` GPT2Config models (``kedit.models.roles.FAMILIES`` lists them);
3. the user's ``key=value`` overrides (``--hparam E.KEY=VALUE`` at the command line).

An unknown key fails at load with "did you mean"; nothing mutates the result. Every value goes
through one type check, ``HyperParams.__post_init__``, driven by the field's annotation: ``int``,
``float``, ``bool``, ``str``, ``X | None`` and tuples (``tuple[int, ...]``, ``tuple[int, int]``, nested)
are coerced (YAML 1.1 reads "5e-4" as a string; a list becomes a tuple; a single number for a
``tuple[int, ...]`` becomes a one-element tuple; ``false`` for an optional number means null);
anything else fails naming the editor, the key and the expected type. The same check runs when a
dataclass is built directly (``FTLHyperParams(lr="1e-3")``). The dataclass's ``check()`` then does
its method's range and choice checks. Fields listed in its ``layer_fields`` are layer indices: with a
model, ``load_hparams`` checks them against the model's number of layers and raises ``RunError``.
A plugin editor's hyper-parameters derive from ``HyperParams`` too, to get the same checks.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import math
import types
import typing
from pathlib import Path
from typing import Any, ClassVar, Mapping

import yaml

from ..errors import KeditError, RunError, did_you_mean
from ..models.roles import family_of, n_layers

log = logging.getLogger(__name__)
HPARAMS_DIR = Path(__file__).resolve().parent / "hparams"


class HyperParamTypeError(KeditError):
    """A value that does not fit its field's type: names the editor, the key and the expected type."""

    def __init__(self, editor: str, key: str, expected: str, value: Any, where: str = ""):
        super().__init__(f"{where + ': ' if where else ''}{editor}: hyper-parameter '{key}' must be {expected}, got {value!r}")
        self.editor, self.key, self.expected, self.value = editor, key, expected, value


class HyperParams:
    """Base of every editor's hyper-parameter dataclass (``@dataclass(frozen=True)`` subclasses).

    ``editor`` names the editor in error messages; ``layer_fields`` names the fields that hold layer
    indices (an int or a tuple of ints); with ``negative_layers`` a negative index counts from the top.
    """

    editor: ClassVar[str] = "editor"
    layer_fields: ClassVar[tuple[str, ...]] = ()
    negative_layers: ClassVar[bool] = False

    def __post_init__(self) -> None:
        hints = _type_hints(type(self))
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            try:
                coerced = _coerce(hints[f.name], value)
            except _Mismatch as e:
                raise HyperParamTypeError(self.editor, f.name, e.expected, value) from None
            if coerced is not value:
                object.__setattr__(self, f.name, coerced)
        self.check()

    def check(self) -> None:
        """The method's own range and choice checks, on values of the right types."""


@functools.cache
def _type_hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


class _Mismatch(Exception):
    def __init__(self, expected: str):
        self.expected = expected


def _union_args(hint: Any) -> tuple | None:
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        return typing.get_args(hint)
    return None


_SCALARS = {int: ("an integer", "integer"), float: ("a number", "number"), bool: ("true or false", "true/false"),
            str: ("a string", "string"), type(None): ("null", "null")}


def describe(hint: Any) -> str:
    """A type annotation as a YAML user reads it: ``float | None`` -> "a number or null",
    ``tuple[tuple[int, int], ...]`` -> "a list like [[integer, integer], ...]"."""
    members = _union_args(hint)
    if members is not None:
        return " or ".join(describe(m) for m in members)
    if typing.get_origin(hint) is tuple:
        return f"a list like {_shape(hint)}"
    return _SCALARS[hint][0] if hint in _SCALARS else getattr(hint, "__name__", str(hint))


def _shape(hint: Any) -> str:
    members = _union_args(hint)
    if members is not None:
        return " or ".join(_shape(m) for m in members)
    if typing.get_origin(hint) is tuple:
        args = typing.get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:
            return f"[{_shape(args[0])}, ...]"
        return f"[{', '.join(_shape(a) for a in args)}]"
    return _SCALARS[hint][1] if hint in _SCALARS else getattr(hint, "__name__", str(hint))


def _coerce(hint: Any, value: Any) -> Any:
    """``value`` as the annotation ``hint`` asks, or ``_Mismatch``. Returns ``value`` itself if it fits."""
    members = _union_args(hint)
    if members is not None:
        if type(None) in members and (value is None or (value is False and bool not in members)):
            return None  # "false" also means "none" for an optional non-boolean (norm_constraint: false)
        for m in members:
            if m is type(None):
                continue
            try:
                return _coerce(m, value)
            except _Mismatch:
                pass
        raise _Mismatch(describe(hint))
    if typing.get_origin(hint) is tuple:
        args = typing.get_args(hint)
        variadic = len(args) == 2 and args[1] is Ellipsis
        if not isinstance(value, (list, tuple)):
            if not variadic or value is None:
                raise _Mismatch(describe(hint))
            value = (value,)  # "layers: 3" means (3,)
        if not variadic and len(value) != len(args):
            raise _Mismatch(describe(hint))
        kinds = [args[0]] * len(value) if variadic else args
        try:
            return tuple(_coerce(k, v) for k, v in zip(kinds, value))
        except _Mismatch:
            raise _Mismatch(describe(hint)) from None
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise _Mismatch(describe(hint))
    if hint is int:
        if isinstance(value, bool):
            raise _Mismatch(describe(hint))
        if isinstance(value, int):
            return value
        if isinstance(value, str):  # "1000", or "1e3" from YAML 1.1
            try:
                return int(value)
            except ValueError:
                try:
                    value = float(value)
                except ValueError:
                    raise _Mismatch(describe(hint)) from None
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise _Mismatch(describe(hint))
    if hint is float:
        if isinstance(value, bool):
            raise _Mismatch(describe(hint))
        if isinstance(value, (int, str)):  # YAML 1.1 reads "5e-4" as a string
            try:
                value = float(value)
            except (ValueError, OverflowError):
                raise _Mismatch(describe(hint)) from None
        if isinstance(value, float):
            if not math.isfinite(value):  # YAML's .nan / .inf: never a usable step size or radius
                raise _Mismatch("a finite number")
            return value
        raise _Mismatch(describe(hint))
    if hint is str:
        if isinstance(value, str):
            return value
        raise _Mismatch(describe(hint))
    return value  # any other annotation: the dataclass's check() decides


def hparams_files(editor: str, family: str | None) -> list[Path]:
    """The data files that apply to ``editor`` on a model of ``family`` (``family_of(model)``)."""
    if not family:
        return []
    f = HPARAMS_DIR / editor / f"{family}.yaml"
    return [f] if f.is_file() else []


def load_hparams(cls: type, editor: str, model=None, overrides: Mapping[str, Any] | None = None):
    """The hyper-parameters of ``editor`` for ``model`` (or for no model in particular): the
    dataclass defaults, then the model family's file, then ``overrides`` (values, or strings as
    written after ``--hparam EDITOR.KEY=``). With a model, layer indices are checked against it."""
    known = [f.name for f in dataclasses.fields(cls)]
    hints = _type_hints(cls)
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}

    def put(key: str, value: Any, source: str) -> None:
        if key not in known:
            raise did_you_mean("hyper-parameter", key, known, f"({editor}, from {source})")
        values[key], sources[key] = value, source

    tuned: list[tuple[Path, Any, list[str]]] = []
    for f in hparams_files(editor, family_of(model) if model is not None else None):
        data = _yaml(f.read_text(encoding="utf-8"), str(f)) or {}
        if not isinstance(data, dict):
            raise KeditError(f"{f}: expected a mapping of hyper-parameters")
        tuned_for = data.pop("tuned_for", None)  # what the file's values were tuned on (not a hyper-parameter)
        for k, v in data.items():
            put(k, v, str(f))
        tuned.append((f, tuned_for, list(data)))
    for k, v in (overrides or {}).items():
        if isinstance(v, str) and hints.get(k) is not str:  # a string field keeps the text as written
            v = _yaml(v, f"--hparam {editor}.{k}={v}")
        put(k, v, f"--hparam {editor}.{k}")
    for f, tuned_for, keys in tuned:
        _warn_if_tuned_elsewhere(editor, f, tuned_for, [k for k in keys if sources.get(k) == str(f)], model)
    try:
        hp = cls(**values)
    except HyperParamTypeError as e:
        raise HyperParamTypeError(editor, e.key, e.expected, e.value, sources.get(e.key, "")) from None
    except TypeError as e:
        raise KeditError(f"hyper-parameters of '{editor}': {e}") from None
    if model is not None:
        check_layers(hp, editor, model, sources)
    return hp


_warned: set[tuple] = set()


def model_shape(model) -> tuple[int | None, int | None]:
    """(layers, d_model) read off a model's config, whatever the family calls them."""
    cfg = getattr(model, "config", None)
    layers = next((getattr(cfg, a) for a in ("num_hidden_layers", "n_layer") if getattr(cfg, a, None)), None)
    width = next((getattr(cfg, a) for a in ("hidden_size", "n_embd") if getattr(cfg, a, None)), None)
    return layers, width


def _warn_if_tuned_elsewhere(editor: str, path: Path, tuned_for: Any, keys: list[str], model) -> None:
    """A family file tuned on one model is not applied silently to another of the family: warn (once
    per file and model shape) when the model's layers or width differ from the file's ``tuned_for``."""
    if not keys or not isinstance(tuned_for, dict) or model is None:
        return
    layers, width = model_shape(model)
    want = (tuned_for.get("num_hidden_layers"), tuned_for.get("hidden_size"))
    if (layers, width) == want or (editor, str(path), layers, width) in _warned:
        return
    _warned.add((editor, str(path), layers, width))
    log.warning("%s: %s was tuned for %s (%s layers, d_model %s); this model has %s layers, d_model %s, so its "
                "values for %s may not suit it: check them, and override with --hparam %s.KEY=VALUE",
                editor, f"{path.parent.name}/{path.name}", tuned_for.get("model", "another model"), want[0], want[1],
                layers, width, ", ".join(keys), editor)


def _yaml(text: str, source: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        problem = str(getattr(e, "problem", "") or e).strip()
        raise KeditError(f"{source}: not valid YAML ({problem}); quote a string value, write lists as [1, 2]") from None


def check_layers(hp, editor: str, model, sources: Mapping[str, str] | None = None) -> None:
    """Raise ``RunError`` if a field in ``hp.layer_fields`` names a layer the model does not have."""
    fields = getattr(hp, "layer_fields", ())
    if not fields:
        return
    if family_of(model) is None:
        return  # an unknown layout: the editor's roles_for says so when it runs
    n = n_layers(model)
    negative = getattr(hp, "negative_layers", False)
    lo = -n if negative else 0
    for key in fields:
        value = getattr(hp, key)
        layers = value if isinstance(value, tuple) else (value,)
        bad = [x for x in layers if not lo <= x < n]
        if not bad:
            continue
        fixed = [min(max(x, lo), n - 1) for x in layers]
        suggestion = f"[{', '.join(map(str, fixed))}]" if isinstance(value, tuple) else str(fixed[0])
        valid = f"0..{n - 1}" + (f", or {-n}..-1 counted from the top" if negative else "")
        where = f" (from {sources[key]})" if sources and key in sources else " (the default)"
        raise RunError(
            f"{editor}: hyper-parameter '{key}' = {_show(value)}{where} is out of range for this model, which has "
            f"{n} layers (valid: {valid}); choose a layer with --hparam {editor}.{key}={suggestion}"
        )


def _show(value: Any) -> str:
    return f"[{', '.join(map(str, value))}]" if isinstance(value, tuple) else str(value)


def parse_overrides(items: list[str] | None) -> dict[str, dict[str, str]]:
    """``["rome.layer=5", "ft-l.lr=1e-3"]`` -> ``{"rome": {"layer": "5"}, "ft-l": {"lr": "1e-3"}}``."""
    out: dict[str, dict[str, str]] = {}
    for item in items or []:
        key, sep, val = item.partition("=")
        ed, dot, name = key.partition(".")
        if not sep or not dot:
            raise KeditError(f"bad --hparam '{item}': write EDITOR.KEY=VALUE, e.g. rome.layer=5")
        out.setdefault(ed, {})[name] = val
    return out
