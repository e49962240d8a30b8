"""Hyper-parameters: frozen dataclasses loaded strictly from YAML data files.

For editor ``E`` and a model whose config class is ``C`` (``LlamaConfig``, ``GPT2Config``...), the
values are ``hparams/E/default.yaml``, then ``hparams/E/C.yaml`` if it exists, then the user's
``key=value`` overrides. An unknown key fails at load; nothing mutates the result.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, Mapping

import yaml

from ..errors import KeditError

HPARAMS_DIR = Path(__file__).resolve().parent / "hparams"


def _coerce(cls: type, name: str, value: Any, source: str) -> Any:
    fields = {f.name: f for f in dataclasses.fields(cls)}
    if name not in fields:
        import difflib

        close = difflib.get_close_matches(name, fields, n=1)
        raise KeditError(
            f"{source}: unknown hyper-parameter '{name}' for {cls.__name__}"
            + (f"; did you mean '{close[0]}'?" if close else "")
            + f" Known: {', '.join(fields)}."
        )
    if isinstance(value, list):
        value = tuple(value)
    if isinstance(value, str):  # YAML 1.1 reads "5e-4" as a string; the field's type decides
        hint = typing.get_type_hints(cls).get(name)
        kinds = typing.get_args(hint) if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union else (hint,)
        for kind in (int, float):
            if kind in kinds:
                try:
                    return kind(value)
                except ValueError:
                    raise KeditError(f"{source}: hyper-parameter '{name}' of {cls.__name__} must be {kind.__name__}, got {value!r}") from None
    return value


def hparams_files(editor: str, model_config_class: str | None) -> list[Path]:
    files = [HPARAMS_DIR / editor / "default.yaml"]
    if model_config_class:
        files.append(HPARAMS_DIR / editor / f"{model_config_class}.yaml")
    return [f for f in files if f.is_file()]


def load_hparams(cls: type, editor: str, model=None, overrides: Mapping[str, Any] | None = None):
    values: dict[str, Any] = {}
    cfg_cls = type(model.config).__name__ if model is not None and hasattr(model, "config") else None
    for f in hparams_files(editor, cfg_cls):
        data = yaml.safe_load(f.read_text()) or {}
        if not isinstance(data, dict):
            raise KeditError(f"{f}: expected a mapping of hyper-parameters")
        for k, v in data.items():
            values[k] = _coerce(cls, k, v, str(f))
    for k, v in (overrides or {}).items():
        if isinstance(v, str):
            v = yaml.safe_load(v)
        values[k] = _coerce(cls, k, v, "override")
    try:
        return cls(**values)
    except TypeError as e:
        raise KeditError(f"hyper-parameters of '{editor}': {e}") from None


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
