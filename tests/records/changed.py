"""A fixture's records with one record changed, read back: the error a reader raises for it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import pytest

from kedit.errors import RecordError
from kedit.records import read_cases


def error_of_changed(fixture: str, fmt: str, change: Callable[[dict], Any], tmp_path: Path) -> str:
    """``change`` the first record of ``fixture``, read the file as ``fmt``: the RecordError's text."""
    records = json.loads(Path(fixture).read_text(encoding="utf-8"))
    change(records[0])
    path = tmp_path / f"{fmt}.json"
    path.write_text(json.dumps(records, indent=1), encoding="utf-8")
    with pytest.raises(RecordError) as e:
        read_cases(path, fmt=fmt)
    return str(e.value)
