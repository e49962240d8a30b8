"""A sweep over the tiny model: two benchmarks of three cases, FT-L and ROME at the tiny settings."""

from __future__ import annotations

import json

import pytest

from kedit.records import write_jsonl
from tests.fixtures.hparams import TINY_OVERRIDES


@pytest.fixture
def sweep_file(tiny_kg, tmp_path, monkeypatch):
    """A 1 model × 2 benches × 2 editors × 2 modes sweep file; ``extra`` lines are appended."""
    monkeypatch.setenv("KEDIT_CACHE", str(tmp_path / "cache"))
    b1 = write_jsonl(tiny_kg.cases[:3], tmp_path / "b1.jsonl")
    b2 = write_jsonl(tiny_kg.cases[3:6], tmp_path / "b2.jsonl")
    tiny = {e: TINY_OVERRIDES[e] for e in ("ft-l", "rome")}

    def write(extra: str = "", hparams: list | None = None) -> str:
        path = tmp_path / "sweep.yaml"
        path.write_text(f"models: [{tiny_kg.path}]\nbenches: [{b1}, {b2}]\neditors: [ft-l, rome]\nmodes: [single, batch]\n"
                        f"hparams: {json.dumps(hparams or [tiny])}\nbatch_size: 3\ngenerate: false\n{extra}")
        return str(path)

    write.tiny = tiny
    return write
