"""What a stage may write over: nothing a user already had is lost.

A stage writes ``--out`` only when the file is new, or when that stage wrote it itself: its manifest
(``<stem>.manifest.json``) names the stage, or, for a stage that resumes (generate), a marker
``<stem>.partial.json`` written when the run started names the stage, the input's SHA-256 and the
options. Anything else is refused with a message naming ``--overwrite``. Two runs on one output
are refused by a lock file beside it (``<out>.lock`` with the owner's PID).
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any, Sequence

from ..atomic import PathLock, atomic_write_json
from ..errors import KeditError
from ..records.manifest import read_manifest


def partial_path(out: Path) -> Path:
    return out.with_name(out.stem + ".partial.json")


def lock_for(out: Path) -> PathLock:
    return PathLock(out.with_name(out.name + ".lock"), what=str(out))


def normalized(identity: dict[str, Any]) -> dict[str, Any]:
    """JSON-comparable: paths as strings, tuples as lists (what reading it back gives)."""
    return json.loads(json.dumps(identity, sort_keys=True, default=str))


def _manifest_stage(out: Path) -> tuple[str | None, dict[str, Any] | None]:
    try:
        m = read_manifest(out)
    except (OSError, ValueError, KeditError):
        return None, None
    return (m.get("stage"), m) if isinstance(m, dict) else (None, None)


def check_output(out: Path, stage: str, *, inputs: Sequence[Path] = (), overwrite: bool = False,
                 identity: dict[str, Any] | None = None) -> bool:
    """May ``stage`` write ``out``? Returns True when ``out`` is this stage's own unfinished or
    finished output for the same ``identity`` (resume it), False when it is new or may be replaced.
    Raises a KeditError that says what to do otherwise."""
    for i in inputs:
        if i is not None and out.exists() and Path(i).resolve() == out.resolve():
            raise KeditError(f"--out {out} is the input file; write the {stage} output to another file")
    if out.is_dir():
        raise KeditError(f"--out {out} is a folder; give a file name, e.g. {out / (stage + '.jsonl')}")
    if not out.parent.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
    if not os.access(out.parent, os.W_OK):
        raise KeditError(f"--out {out}: cannot write in {out.parent} (permission denied)")
    if out.exists() and not os.access(out, os.W_OK):
        raise KeditError(f"--out {out} is read-only")
    if not out.exists() or out.stat().st_size == 0:
        return False
    want = normalized(identity) if identity is not None else None
    if want is not None:
        marker = partial_path(out)
        with contextlib.suppress(OSError, ValueError):
            got = json.loads(marker.read_text(encoding="utf-8"))
            if got.get("stage") == stage and got.get("identity") == want:
                return True
    found, manifest = _manifest_stage(out)
    if found == stage:
        if want is None:
            return False  # the stage's own earlier output: replaced
        if (manifest.get(stage) or {}).get("identity") == want:
            return True
    if overwrite:
        return False
    what = (f"kbuild {found} wrote it" if found else "it has no kedit manifest beside it") if found != stage else \
        f"kbuild {stage} wrote it from another input or with other options"
    raise KeditError(f"--out {out} already exists and {what}; choose another --out, or pass --overwrite to replace it")


def mark_started(out: Path, stage: str, identity: dict[str, Any]) -> None:
    atomic_write_json(partial_path(out), {"stage": stage, "identity": normalized(identity)})


def mark_finished(out: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        partial_path(out).unlink()
