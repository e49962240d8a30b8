"""Optional dependencies: one helper imports them, a missing one names its extra, the core works
without any of them, and kedit/optional.py's table agrees with pyproject.toml."""

from __future__ import annotations

import ast
import logging
import re
import subprocess
import sys
from pathlib import Path

import pytest

from kedit.errors import KeditError, RunError
from kedit.optional import EXTRAS, MissingExtra, require

ROOT = Path(__file__).resolve().parents[1]
FEATURE_EXTRAS = ("annotate", "llm", "ike", "builtin", "plots", "ray")


def _pyproject() -> dict:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        tomllib = pytest.importorskip("tomli")
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _name(req: str) -> str:
    return re.sub(r"[-_.]+", "-", re.match(r"[A-Za-z0-9._-]+", req).group(0)).lower()


def test_the_table_agrees_with_pyproject():
    extras = _pyproject()["optional-dependencies"]
    declared = {(_name(r), extra) for extra in FEATURE_EXTRAS for r in extras[extra]}
    assert {(_name(dist), extra) for dist, extra in EXTRAS.values()} == declared
    assert extras["all"] == [f"kedit[{','.join(FEATURE_EXTRAS)}]"]
    assert {"test", "kg"} <= set(extras)
    core = {_name(r) for r in _pyproject()["dependencies"]}
    assert not core & {d for d, _ in declared}, "an extra's package is also in the core"
    assert {"torch", "transformers", "datasets", "pyarrow", "huggingface-hub", "safetensors"} <= core


def test_no_exact_pins_in_the_library_requirements():
    project = _pyproject()
    reqs = project["dependencies"] + [r for rs in project["optional-dependencies"].values() for r in rs]
    assert not [r for r in reqs if "==" in r or "===" in r]
    assert "transformers>=4.56,<6" in project["dependencies"]


def _type_checking_lines(tree: ast.AST) -> set[int]:
    lines = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                lines.update(range(child.lineno, (child.end_lineno or child.lineno) + 1))
    return lines


def test_every_import_of_an_optional_package_goes_through_require():
    found = []
    for path in sorted((ROOT / "kedit").rglob("*.py")):
        if path.name == "optional.py" and path.parent.name == "kedit":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skip = _type_checking_lines(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            if node.lineno not in skip and any(n.split(".")[0] in EXTRAS for n in names):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(node)}")
    assert not found, "import these with kedit.optional.require:\n" + "\n".join(found)


@pytest.mark.parametrize("module,what,message", [
    ("sentence_transformers", "ike", "ike needs sentence-transformers: pip install 'kedit[ike]'"),
    ("openai", "the openai backend", "the openai backend needs openai: pip install 'kedit[llm]'"),
    ("sklearn.metrics", "agreement", "agreement needs scikit-learn: pip install 'kedit[annotate]'"),
    ("matplotlib.pyplot", "keval's plots", "keval's plots needs matplotlib: pip install 'kedit[plots]'"),
])
def test_a_missing_extra_names_it(monkeypatch, module, what, message):
    top = module.split(".")[0]
    for name in [m for m in sys.modules if m.startswith(f"{top}.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, top, None)  # import -> ModuleNotFoundError
    with pytest.raises(MissingExtra) as e:
        require(module, what)
    assert str(e.value) == message and e.value.extra == message.split("[")[1].rstrip("]'")
    assert isinstance(e.value, KeditError) and isinstance(e.value, RunError)  # the CLI prints it; a run stops


def test_a_broken_install_is_told_apart_from_a_missing_one(monkeypatch, tmp_path):
    (tmp_path / "gguf").mkdir()
    (tmp_path / "gguf" / "__init__.py").write_text("import numpy_that_is_not_there\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "gguf", raising=False)
    with pytest.raises(MissingExtra, match=r"gguf, which is installed but does not import .*numpy_that_is_not_there.*"
                                           r"reinstall with pip install 'kedit\[builtin\]'"):
        require("gguf", "converting the built-in smollm2-135m")


def test_require_refuses_a_module_that_is_not_optional():
    with pytest.raises(ValueError, match="not an optional dependency"):
        require("torch", "x")


def test_ike_without_sentence_transformers(monkeypatch, tmp_path):
    from kedit.editors.ike import Encoder

    monkeypatch.setitem(sys.modules, "sentence_transformers", None)
    with pytest.raises(MissingExtra, match=re.escape("ike needs sentence-transformers: pip install 'kedit[ike]'")):
        Encoder(tmp_path)


def test_the_agreement_statistics_name_the_annotate_extra(monkeypatch):
    from kedit.annotations.agreement import cohen_kappa, fleiss_kappa

    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.setitem(sys.modules, "statsmodels", None)
    for name in [m for m in sys.modules if m.startswith(("sklearn.", "statsmodels."))]:
        monkeypatch.delitem(sys.modules, name)
    with pytest.raises(MissingExtra, match=r"needs scikit-learn: pip install 'kedit\[annotate\]'"):
        cohen_kappa(["a", "b"], ["a", "a"])
    with pytest.raises(MissingExtra, match=r"needs statsmodels: pip install 'kedit\[annotate\]'"):
        fleiss_kappa([[2, 0], [1, 1]])
    assert cohen_kappa([], []) is None  # nothing to compute needs no library


# a finder placed first on sys.meta_path: every optional package looks uninstalled
_BLOCK = """
import importlib.abc, sys
BLOCKED = {blocked!r}
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None
sys.meta_path.insert(0, Block())
"""


def _run_without(blocked, code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", _BLOCK.format(blocked=sorted(blocked)) + code], check=False, capture_output=True,
                          text=True, cwd=ROOT, timeout=300)


def test_the_core_works_without_any_extra():
    code = """
import kedit
names = kedit.EDITORS.names()
assert {"ft-l", "rome", "ike"} <= set(names), names
print(sorted(kedit.BACKENDS.names()))
from kedit.eval.cli import main
for kind in ("editors", "backends", "formats", "metrics", "models"):
    assert main(["ls", kind]) == 0, kind
from kedit.builder.cli import main as kbuild
try:
    kbuild(["--help"])
except SystemExit as e:
    assert e.code == 0
leaked = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
assert not leaked, leaked
"""
    r = _run_without(EXTRAS, code)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "'kg'" in r.stdout and "'openai'" in r.stdout and "ft-l" in r.stdout


def test_keval_skips_the_plots_without_matplotlib(tiny_kg, tmp_path, caplog):
    from kedit.eval.cli import main as keval
    from kedit.eval.run import write_outputs
    from kedit.records import write_jsonl
    from tests.fixtures.hparams import hparam_args

    bench = write_jsonl(tiny_kg.cases[:2], tmp_path / "bench.jsonl")
    out = tmp_path / "run"
    assert keval(["run", "--model", str(tiny_kg.path), "--bench", str(bench), "--editors", "ft-l", "--out", str(out),
                  "--no-generate", *hparam_args("ft-l")]) == 0
    for png in out.glob("*.png"):
        png.unlink()
    mp = pytest.MonkeyPatch()
    try:
        mp.setitem(sys.modules, "matplotlib", None)
        for name in [m for m in sys.modules if m.startswith("matplotlib.") or m == "kedit.eval.plots"]:
            mp.delitem(sys.modules, name)
        mp.delattr(sys.modules["kedit.eval"], "plots", raising=False)  # else `from . import plots` finds it
        with caplog.at_level(logging.WARNING, logger="kedit.eval.run"):
            md = write_outputs(out)
    finally:
        mp.undo()
    assert "| ft-l |" in md and (out / "summary.csv").is_file() and (out / "ranking.json").is_file()
    assert not list(out.glob("*.png"))
    assert "keval's plots needs matplotlib: pip install 'kedit[plots]'; the PNG plots are skipped" in caplog.text
