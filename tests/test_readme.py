"""The README's Python API example runs as it is written (SmolLM2-135M, ROME and FT-L on 3 cases)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def readme_api_block() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    m = re.search(r"<!-- readme-api -->\n```python\n(.*?)```", text, re.S)
    assert m, "README.md lost its <!-- readme-api --> python block"
    return m.group(1)


@pytest.mark.slow
def test_readme_python_api_example_runs(monkeypatch, capsys, one_thread):
    monkeypatch.chdir(ROOT)
    scope: dict = {}
    exec(compile(readme_api_block(), "README.md:python-api", "exec"), scope)
    out = capsys.readouterr().out
    report, kept = scope["report"], scope["kept"]
    assert not report.failed and {r.editor for r in report.results} == {"rome", "ft-l"}
    df = scope["df"]
    rel = df[(df.split == "reliability") & (df.metric == "token_acc")].set_index("editor").value
    assert rel["rome"] > 0.9  # the demo cases are facts SmolLM2 knows; ROME writes them (0.996 on all 63)
    assert scope["result"].changed == ["model.layers.5.mlp.down_proj.weight"]
    assert len(kept.kept) <= len(scope["generated"].cases) == 5
    assert "cases kept" in out and "failed cases" in out
