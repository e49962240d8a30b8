"""A non-editable install (a wheel) carries the bundled data and finds it."""

from __future__ import annotations

import email.parser
import re
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run(*args, **kw) -> str:
    r = subprocess.run([str(a) for a in args], capture_output=True, text=True, **kw)
    assert r.returncode == 0, f"{args[:3]} failed:\n{r.stderr[-2000:]}"
    return r.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    w = tmp_path_factory.mktemp("wheel")
    run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", w, ROOT)
    (found,) = w.glob("kedit-*.whl")
    return found


def test_wheel_metadata_licence_python_and_extras(wheel):
    with zipfile.ZipFile(wheel) as z:
        meta = email.parser.Parser().parsestr(z.read(next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))).decode())
        licence = next(n for n in z.namelist() if n.endswith(".dist-info/licenses/LICENSE"))
        assert "Apache License" in z.read(licence).decode() and "END OF TERMS AND CONDITIONS" in z.read(licence).decode()
    assert meta["License-Expression"] == "Apache-2.0" and meta.get_all("License-File") == ["LICENSE"]
    assert meta["Requires-Python"] == ">=3.10"
    assert {f"Programming Language :: Python :: 3.{v}" for v in (10, 11, 12)} <= set(meta.get_all("Classifier"))
    assert {"annotate", "llm", "ike", "builtin", "plots", "all", "test", "kg"} <= set(meta.get_all("Provides-Extra"))
    requires = meta.get_all("Requires-Dist")
    assert not [r for r in requires if "==" in r.split(";")[0]], "exact pins belong in scripts/constraints.txt"
    core = [r.split(";")[0] for r in requires if "extra ==" not in r]
    assert not [r for r in core if r.split("<")[0].split(">")[0].strip() in
                ("openai", "label-studio-sdk", "sentence-transformers", "gguf", "matplotlib", "tenacity", "jsonschema")]


def test_constraints_pin_every_range_to_a_version_inside_it():
    from packaging.requirements import Requirement

    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        tomllib = pytest.importorskip("tomli")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = {}
    for line in (ROOT / "scripts" / "constraints.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, version = line.split("==")
            pins[canonical(name)] = version
    reqs = [Requirement(r) for r in project["dependencies"]]
    reqs += [Requirement(r) for extra, rs in project["optional-dependencies"].items() if extra != "all" for r in rs]
    for r in reqs:
        assert canonical(r.name) in pins, f"{r.name} has no pin in scripts/constraints.txt"
        assert r.specifier.contains(pins[canonical(r.name)], prereleases=True), (str(r), pins[canonical(r.name)])
    setup = (ROOT / "scripts" / "setup.sh").read_text()
    assert '-e ".[all,test,kg]" -c scripts/constraints.txt' in setup and 'pip install -q "torch==2.13.0"' in setup


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_wheel_installs_the_bundled_data(tmp_path, wheel):
    venv.create(tmp_path / "v", with_pip=True)
    py = tmp_path / "v" / "bin" / "python"
    run(py, "-m", "pip", "install", "-q", "--no-deps", "--no-index", wheel)
    code = ("from kedit.settings import data_root; from kedit.records import read_jsonl; r = data_root(); "
            "print(r); print(len(read_jsonl(r / 'kg' / 'seeds.jsonl'))); "
            "print(all((r / p).is_file() for p in ('prices.json', 'prompts/generate.v1.md', 'commonsense/items.jsonl', "
            "'ike/demos.jsonl', 'demo/bench.jsonl', 'kg/triples.jsonl', 'prompts/mello.v1.txt')))")
    out = run(py, "-c", code, cwd=tmp_path).split()
    assert Path(out[0]) == tmp_path / "v" / "share" / "kedit" / "data"
    assert int(out[1]) == len(read_seeds()) and out[2] == "True"


def read_seeds():
    return (ROOT / "data" / "kg" / "seeds.jsonl").read_text().splitlines()
