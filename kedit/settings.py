"""Where kedit keeps expensive artifacts (converted models, covariance statistics, base outputs).

Read at call time, never at import: ``KEDIT_CACHE`` if set, else ``$XDG_CACHE_HOME/kedit``,
else ``~/.cache/kedit``. One kind of artifact can live elsewhere: ``KEDIT_CACHE_<KIND>`` (e.g.
``KEDIT_CACHE_VALUES``) names the folder of ``cache_dir("<kind>")`` (a benchmark keeps its optimised
values in the repository this way, so a run spread over several machines picks up where one stopped).
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    env = os.environ.get("KEDIT_CACHE")
    if env:
        root = Path(env)
    else:
        xdg = os.environ.get("XDG_CACHE_HOME")
        root = (Path(xdg) if xdg else Path.home() / ".cache") / "kedit"
    root.mkdir(parents=True, exist_ok=True)
    return root


def cache_dir(kind: str) -> Path:
    own = os.environ.get(f"KEDIT_CACHE_{kind.upper()}")
    path = Path(own) if own else cache_root() / kind
    path.mkdir(parents=True, exist_ok=True)
    return path


def data_root() -> Path:
    """The bundled data folder: ``data/`` beside the package in a checkout (and an editable
    install), else the copy a wheel installs under ``<prefix>/share/kedit/data``."""
    import sys
    import sysconfig

    here = Path(__file__).resolve().parent
    for cand in (here.parent / "data", Path(sysconfig.get_path("data")) / "share" / "kedit" / "data",
                 Path(sys.prefix) / "share" / "kedit" / "data"):
        if (cand / "kg").is_dir():
            return cand
    raise FileNotFoundError("kedit's bundled data folder is missing; reinstall kedit (pip install kedit, or -e from its source tree)")
