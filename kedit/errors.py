"""Typed errors: each says what went wrong and what to do; the CLI prints them without a traceback."""

from __future__ import annotations

import difflib
from typing import Iterable


class KeditError(Exception):
    """Base of every error kedit raises on purpose (bad input, unknown name, missing dependency)."""


class UnknownNameError(KeditError, KeyError):
    def __init__(self, kind: str, name: str, known: Iterable[str], hint: str = ""):
        known = sorted(known)
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.5)
        msg = f"unknown {kind} '{name}'"
        if close:
            msg += f"; did you mean '{close[0]}'?"
        shown = known[:20]
        msg += f" Known: {', '.join(shown)}" + (f" and {len(known) - 20} more." if len(known) > 20 else ".")
        if hint:
            msg += f" {hint}"
        super().__init__(msg)
        self.name = name

    def __str__(self) -> str:  # KeyError would quote the message
        return self.args[0]


class RunError(KeditError):
    """A problem of the whole run, not of one case (a missing dependency, hyper-parameters that do not
    fit the model, an editor that left the model modified): the run stops. Any other error raised
    while one case is edited or scored is recorded in that case's result and the run goes on."""


class RecordError(KeditError, ValueError):
    """A record that does not fit the schema: names the file, line and field."""

    def __init__(self, path: object, line: int | None, field: str, problem: str):
        where = f"{path}" + (f", line {line}" if line is not None else "")
        super().__init__(f"{where}: field '{field}': {problem}")
        self.path, self.line, self.field = path, line, field


def did_you_mean(kind: str, name: str, known: Iterable[str], hint: str = "") -> UnknownNameError:
    return UnknownNameError(kind, name, known, hint)
