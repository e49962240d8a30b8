"""A non-editable install (a wheel) carries the bundled data and finds it."""

from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(*args, **kw) -> str:
    r = subprocess.run([str(a) for a in args], capture_output=True, text=True, **kw)
    assert r.returncode == 0, f"{args[:3]} failed:\n{r.stderr[-2000:]}"
    return r.stdout


def test_wheel_installs_the_bundled_data(tmp_path):
    run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", tmp_path / "w", ROOT)
    (wheel,) = (tmp_path / "w").glob("kedit-*.whl")
    venv.create(tmp_path / "v", with_pip=True)
    py = tmp_path / "v" / "bin" / "python"
    run(py, "-m", "pip", "install", "-q", "--no-deps", "--no-index", wheel)
    code = ("from kedit.settings import data_root; from kedit.records import read_jsonl; r = data_root(); "
            "print(r); print(len(read_jsonl(r / 'kg' / 'seeds.jsonl'))); "
            "print(all((r / p).is_file() for p in ('prices.json', 'prompts/generate.v1.md', 'commonsense/items.jsonl', "
            "'ike/demos.jsonl', 'demo/bench.jsonl', 'kg/triples.jsonl')))")
    out = run(py, "-c", code, cwd=tmp_path).split()
    assert Path(out[0]) == tmp_path / "v" / "share" / "kedit" / "data"
    assert int(out[1]) == len(read_seeds()) and out[2] == "True"


def read_seeds():
    return (ROOT / "data" / "kg" / "seeds.jsonl").read_text().splitlines()
