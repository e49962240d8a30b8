"""The one extension pattern: every registry is complete after ``import kedit``, each entry meets its
contract, and a third-party package adds an editor through the ``kedit.editors`` entry-point group."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import kedit
from kedit.builder import BACKENDS, Backend
from kedit.editors import EDITORS
from kedit.records import FORMATS, read_cases
from tests.fixtures.hparams import TINY_OVERRIDES
from tests.records.fuzz_inputs import FIXTURES

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data"
# one fixture file per registered format (the fuzzer's): a new reader without a fixture fails below
FORMAT_FIXTURES = FIXTURES


def _python(code: str, env: dict | None = None) -> str:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300,
                         env={**os.environ, **(env or {})})
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_every_registry_is_complete_after_import_kedit():
    """In a fresh interpreter, nothing imported but ``kedit``: each registry lists its implementations."""
    got = json.loads(_python("import json, kedit; print(json.dumps({k: getattr(kedit, k).names() for k in "
                             "('EDITORS', 'FORMATS', 'BACKENDS', 'METRICS')}))"))
    assert got["EDITORS"] == EDITORS.names() and {"ft-l", "rome", "ike"} <= set(got["EDITORS"])
    assert got["FORMATS"] == FORMATS.names() == sorted(FORMAT_FIXTURES)
    assert got["BACKENDS"] == BACKENDS.names() == ["kg", "openai"]
    assert got["METRICS"] == kedit.METRICS.names()


def test_import_kedit_stays_light():
    """The registries load on first use: ``import kedit`` (and so ``kbuild --help``) pulls in no torch."""
    assert _python("import sys, kedit; print('torch' in sys.modules)").strip() == "False"


@pytest.mark.parametrize("name", FORMATS.names())
def test_every_format_has_a_fixture_that_it_alone_detects(name):
    from kedit.records.formats import first_record

    assert name in FORMAT_FIXTURES, f"format '{name}' has no fixture in FORMAT_FIXTURES: add one"
    path = FORMAT_FIXTURES[name]
    rec = first_record(path)
    assert [n for n in FORMATS.names() if FORMATS.get(n).detect(rec)] == [name]
    cases = read_cases(path)
    assert cases and cases == read_cases(path, fmt=name)


@pytest.mark.parametrize("name", EDITORS.names())
def test_every_editor_has_tiny_model_hparams_and_a_docstring(name, tiny_kg):
    from kedit.editors import load_hparams

    assert name in TINY_OVERRIDES, f"editor '{name}' has no entry in tests/fixtures/hparams.py TINY_OVERRIDES"
    cls = EDITORS.get(name)
    assert (cls.__module__ and sys.modules[cls.__module__].__doc__ or "").strip(), "the editor's module documents its method"
    load_hparams(cls.hparams_cls, name, tiny_kg.model, TINY_OVERRIDES[name])  # they fit the tiny model


@pytest.mark.parametrize("name", BACKENDS.names())
def test_every_backend_meets_the_protocol_from_cli_arguments(name):
    cls = BACKENDS.get(name)
    parser = argparse.ArgumentParser()
    cls.add_arguments(parser)
    args = parser.parse_args([])
    args.dry_run, args.concurrency = True, 1  # the generate driver's own options
    backend = cls.from_args(args)
    assert isinstance(backend, Backend) and backend.name == name
    plan = backend.plan([])
    assert isinstance(plan, dict) and "calls" in plan
    assert isinstance(backend.figures(), dict)


PLUGIN = '''
"""A third-party editor: adds a constant to one MLP bias-free weight row (for the plugin test)."""
from dataclasses import dataclass

import torch

from kedit.editors import EditResult, Editor, ParamSnapshot
from kedit.editors.hparams import HyperParams
from kedit.models import module_at


@dataclass(frozen=True)
class NudgeHP(HyperParams):
    editor = "nudge"
    step: float = 0.01


class Nudge(Editor):
    hparams_cls = NudgeHP

    def edit(self, model, tok, requests, hp):
        w = module_at(model, "mlp_out", 0).weight
        name = next(n for n, p in model.named_parameters() if p is w)
        snap = ParamSnapshot(model, [name])
        with torch.no_grad():
            w.add_(hp.step)
        return EditResult(self.name, list(requests), snap)
'''


def test_a_plugin_adds_an_editor_through_the_entry_point_group(tmp_path, tiny_kg):
    """A real distribution's metadata (dist-info with entry_points.txt) on sys.path, as pip leaves it."""
    site = tmp_path / "site"
    (site / "kedit_nudge").mkdir(parents=True)
    (site / "kedit_nudge" / "__init__.py").write_text(PLUGIN)
    dist = site / "kedit_nudge-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: kedit-nudge\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[kedit.editors]\nnudge = kedit_nudge:Nudge\n")
    code = textwrap.dedent(f"""
        import json, kedit, torch
        from kedit.editors import EDITORS
        names = EDITORS.names()
        model, tok = kedit.load_model({str(tiny_kg.path)!r})
        before = [p.clone() for p in model.parameters()]
        cases = kedit.read_cases({str(DATA / 'easyedit_zsre.json')!r})
        res = kedit.edit(model, tok, "nudge", cases[0])
        changed = res.changed
        res.restore()
        print(json.dumps({{"names": names, "plugin": EDITORS.plugins.get("nudge"), "changed": changed,
                          "restored": all(torch.equal(a, b) for a, b in zip(before, model.parameters()))}}))
    """)
    got = json.loads(_python(code, {"PYTHONPATH": os.pathsep.join([str(site), str(ROOT)])}).splitlines()[-1])
    assert "nudge" in got["names"] and got["plugin"] == "kedit-nudge"
    assert got["changed"] and got["restored"]


def test_a_broken_plugin_names_itself(tmp_path):
    site = tmp_path / "site"
    dist = site / "broken-0.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: broken\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[kedit.editors]\nbad = no_such_module:Editor\n")
    out = subprocess.run([sys.executable, "-c", "import kedit; kedit.EDITORS.names()"], capture_output=True, text=True,
                         cwd=ROOT, env={**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(ROOT)])}, timeout=300)
    assert out.returncode != 0 and "editor plugin 'bad'" in out.stderr and "no_such_module" in out.stderr
