"""A sweep file: the grid of models × benchmarks × editors × modes × hyper-parameter overrides × seeds.

Plain YAML::

    models: [smollm2-135m, gpt2-xl]        # built-in names, local folders or Hub ids
    benches: [data/demo/bench.jsonl]       # any benchmark keval run reads
    editors: [rome, memit, ft-l]
    modes: [single, sequential]
    hparams:                               # optional: a list of override maps; each is one grid point
      - {}                                 #   (the defaults)
      - {rome: {v_lr: 0.1}, memit: {layers: [3, 4, 5]}}
    seeds: [0, 1]                          # optional (default [0])
    limit: 20                              # optional: the first N cases of each benchmark
    batch_size: 10                         # optional: batch mode's edits per batch
    every: 0                               # optional: sequential mode's scoring interval
    generate: true                         # optional: greedy-generation metrics (gen_em)

Each cell (model, bench, editor, mode, hparams entry, seed) is one ``keval run`` of one editor.
Every error names the key and the line of the file it is on: an unknown key, editor, model, mode or
hyper-parameter, a benchmark that does not exist.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import KeditError, did_you_mean

GRID_KEYS = ("models", "benches", "editors", "modes")
OPTIONAL_KEYS = ("hparams", "seeds", "limit", "batch_size", "every", "generate")
KEYS = GRID_KEYS + OPTIONAL_KEYS


@dataclass(frozen=True)
class Cell:
    """One grid point: a ``keval run`` of one editor on one model and benchmark in one mode."""

    model: str
    bench: str
    editor: str
    mode: str
    hparams_index: int
    hparams: dict[str, Any]  # this editor's overrides (the entry's map for it; {} for the defaults)
    seed: int

    @property
    def cell_id(self) -> str:
        """A folder name that names the cell: ``<model>--<bench>--<editor>--<mode>--h<i>--s<seed>``."""
        return "--".join((slug(self.model), slug(self.bench), self.editor, self.mode, f"h{self.hparams_index}",
                          f"s{self.seed}"))

    def label(self, n_hparams: int, n_seeds: int) -> str:
        """The editor's name in merged tables: with ``[h<i>]`` and ``@s<seed>`` where the grid varies them."""
        return self.editor + (f"[h{self.hparams_index}]" if n_hparams > 1 else "") + (f"@s{self.seed}" if n_seeds > 1 else "")


def slug(text: str) -> str:
    """A short, readable, unique folder-name part of a model or benchmark path."""
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(text).name.removesuffix(".jsonl"))[:40] or "x"
    return f"{base}-{hashlib.sha256(text.encode()).hexdigest()[:6]}"


@dataclass
class SweepSpec:
    models: list[str]
    benches: list[str]
    editors: list[str]
    modes: list[str]
    hparams: list[dict[str, dict[str, Any]]] = field(default_factory=lambda: [{}])
    seeds: list[int] = field(default_factory=lambda: [0])
    limit: int | None = None
    batch_size: int = 10
    every: int = 0
    generate: bool = True
    path: str | None = None  # the file it was read from

    def cells(self) -> list[Cell]:
        return [Cell(m, b, e, mode, i, dict(self.hparams[i].get(e, {})), s)
                for m, b, e, mode, i, s in itertools.product(self.models, self.benches, self.editors, self.modes,
                                                             range(len(self.hparams)), self.seeds)]

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in KEYS}


def read_sweep(path: str | Path) -> SweepSpec:
    """The sweep file at ``path``, checked: see the module docs."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise KeditError(f"sweep file {path} not found")
    try:
        root = yaml.compose(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise KeditError(f"{path}: not valid YAML ({' '.join(str(e).split())})") from None
    except UnicodeDecodeError:
        raise KeditError(f"{path}: not UTF-8 text") from None
    if root is None or not isinstance(root, yaml.MappingNode):
        raise KeditError(f"{path}: a sweep file is a YAML mapping with the keys {', '.join(GRID_KEYS)}")
    nodes: dict[str, Any] = {}
    for k, v in root.value:
        key = str(k.value)
        if key not in KEYS:
            raise did_you_mean("sweep key", key, KEYS, f"({_at(path, k)})")
        nodes[key] = v
    missing = [k for k in GRID_KEYS if k not in nodes]
    if missing:
        raise KeditError(f"{path}: the sweep needs {', '.join(missing)} (lists); it has {', '.join(nodes) or 'no keys'}")
    return _check(path, nodes)


def _at(path: Path, node) -> str:
    return f"line {node.start_mark.line + 1} of {path}"


def _list(path: Path, key: str, node) -> list:
    import yaml

    if not isinstance(node, yaml.SequenceNode) or not node.value:
        raise KeditError(f"'{key}' ({_at(path, node)}) must be a non-empty list, e.g. {key}: [a, b]")
    return node.value


def _scalar(path: Path, key: str, node, kind: type, lo: int | None = None):
    value = _load(node)
    if kind is int and (isinstance(value, bool) or not isinstance(value, int) or (lo is not None and value < lo)):
        raise KeditError(f"'{key}' ({_at(path, node)}) must be an integer"
                         + (f" of at least {lo}" if lo is not None else "") + f", got {value!r}")
    if kind is bool and not isinstance(value, bool):
        raise KeditError(f"'{key}' ({_at(path, node)}) must be true or false, got {value!r}")
    return value


def _load(node):
    import yaml

    return yaml.safe_load(yaml.serialize(node))


def _check(path: Path, nodes: dict[str, Any]) -> SweepSpec:
    from ..editors import EDITORS, load_hparams
    from ..errors import UnknownNameError
    from ..eval.run import MODES

    def names(key: str) -> list[tuple[str, Any]]:
        return [(str(_load(n)), n) for n in _list(path, key, nodes[key])]

    editors = []
    for name, node in names("editors"):
        if name not in EDITORS:
            raise did_you_mean("editor", name, EDITORS.names(), f"({_at(path, node)})")
        editors.append(name)
    modes = []
    for name, node in names("modes"):
        if name not in MODES:
            raise UnknownNameError("mode", name, MODES, f"({_at(path, node)})")
        modes.append(name)
    models = [_check_model(path, name, node) for name, node in names("models")]
    benches = []
    for name, node in names("benches"):
        if not Path(name).expanduser().exists():
            raise KeditError(f"benchmark {name} ({_at(path, node)}) does not exist")
        benches.append(name)
    spec = SweepSpec(models, benches, editors, modes, path=str(path))
    if "hparams" in nodes:
        spec.hparams = [_check_overrides(path, n, editors, load_hparams, EDITORS) for n in _list(path, "hparams", nodes["hparams"])]
    if "seeds" in nodes:
        spec.seeds = [_scalar(path, "seeds", n, int, 0) for n in _list(path, "seeds", nodes["seeds"])]
    if "limit" in nodes:
        spec.limit = _scalar(path, "limit", nodes["limit"], int, 1)
    if "batch_size" in nodes:
        spec.batch_size = _scalar(path, "batch_size", nodes["batch_size"], int, 1)
    if "every" in nodes:
        spec.every = _scalar(path, "every", nodes["every"], int, 0)
    if "generate" in nodes:
        spec.generate = _scalar(path, "generate", nodes["generate"], bool)
    for key in ("models", "benches", "editors", "modes", "seeds"):
        values = getattr(spec, key)
        if len(set(values)) != len(values):
            raise KeditError(f"'{key}' ({_at(path, nodes[key])}) lists {sorted({v for v in values if values.count(v) > 1})[0]!r} twice")
    return spec


def _check_model(path: Path, name: str, node) -> str:
    from ..models.loading import BUILTINS, HUB_ID, close_to_builtin

    if name in BUILTINS or Path(name).expanduser().is_dir():
        return name
    if close_to_builtin(name) or not HUB_ID.fullmatch(name):
        raise did_you_mean("model", name, BUILTINS.names(), f"({_at(path, node)}) Give a built-in name, an existing "
                           "local folder or a Hub id (name or owner/name).")
    return name  # a Hub id: checked when a worker loads it


def _check_overrides(path: Path, node, editors: list[str], load_hparams, registry) -> dict[str, dict[str, Any]]:
    import yaml

    if not isinstance(node, yaml.MappingNode):
        raise KeditError(f"each 'hparams' entry ({_at(path, node)}) is a map {{editor: {{key: value}}}}, "
                         "or {} for the defaults")
    out: dict[str, dict[str, Any]] = {}
    for k, v in node.value:
        editor = str(k.value)
        if editor not in editors:
            raise KeditError(f"the hparams entry names editor '{editor}' ({_at(path, k)}), which is not in "
                             f"editors: {', '.join(editors)}")
        over = _load(v)
        if not isinstance(over, dict):
            raise KeditError(f"hparams for {editor} ({_at(path, v)}) must be a map {{key: value}}")
        try:
            load_hparams(registry.get(editor).hparams_cls, editor, None, over)
        except KeditError as e:
            raise KeditError(f"{e} ({_at(path, v)})") from None
        out[editor] = over
    return out
