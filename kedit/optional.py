"""Optional dependencies: which extra provides which module, and the one way kedit imports them.

The core install (``pip install kedit``) is what keval and kbuild's kg / filter / export stages
need: torch, transformers, accelerate, safetensors, numpy, pandas, pyyaml, tqdm, psutil, and for the
Hugging Face layout pyarrow (read back), datasets (written as ``load_dataset`` reads it) and
huggingface_hub (pushed). Everything else belongs to a feature and comes with its extra:

==========  ===================================  ==============================================
extra       packages                             needed by
==========  ===================================  ==============================================
annotate    label-studio-sdk (httpx),            ``kbuild annotate`` (Label Studio, Cohen's and
            scikit-learn, statsmodels            Fleiss' kappa)
llm         openai (httpx2), tenacity,           ``kbuild generate --backend openai``
            jsonschema
ike         sentence-transformers                the ``ike`` editor (demonstration retrieval)
builtin     gguf                                 the built-in ``smollm2-135m`` (its one-time
                                                 GGUF conversion)
plots       matplotlib                           keval's PNG plots (skipped, with a warning,
                                                 without it)
==========  ===================================  ==============================================

``pip install 'kedit[all]'`` installs every extra. Each import of these modules in kedit goes
through :func:`require`, which turns a missing one into a :class:`MissingExtra` that names the
extra to install; ``tests/test_optional.py`` checks that no other import of them exists and that
this table agrees with ``pyproject.toml``.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from .errors import RunError

# top-level module -> (distribution on PyPI, kedit extra that installs it)
EXTRAS: dict[str, tuple[str, str]] = {
    "label_studio_sdk": ("label-studio-sdk", "annotate"),
    "httpx": ("httpx", "annotate"),  # label-studio-sdk's transport
    "sklearn": ("scikit-learn", "annotate"),
    "statsmodels": ("statsmodels", "annotate"),
    "openai": ("openai", "llm"),
    "httpx2": ("httpx2", "llm"),  # openai 3.x's transport
    "tenacity": ("tenacity", "llm"),
    "jsonschema": ("jsonschema", "llm"),
    "sentence_transformers": ("sentence-transformers", "ike"),
    "gguf": ("gguf", "builtin"),
    "matplotlib": ("matplotlib", "plots"),
    "ray": ("ray", "ray"),  # keval sweep on Ray (--local needs none)
}


class MissingExtra(RunError):
    """An optional dependency is not installed (or does not import): says which extra to install.

    A ``RunError``: a keval run stops at once instead of recording every case as failed."""

    def __init__(self, what: str, module: str, cause: ImportError | None = None):
        distribution, extra = EXTRAS[module.split(".")[0]]
        hint = f"pip install 'kedit[{extra}]'"
        if cause is None or _not_installed(cause, module):
            msg = f"{what} needs {distribution}: {hint}"
        else:  # installed, but it (or one of its own dependencies) fails to import
            msg = f"{what} needs {distribution}, which is installed but does not import ({type(cause).__name__}: {cause}); reinstall with {hint}"
        super().__init__(msg)
        self.what, self.module, self.distribution, self.extra = what, module, distribution, extra


def _not_installed(e: ImportError, module: str) -> bool:
    name = getattr(e, "name", None)
    return isinstance(e, ModuleNotFoundError) and bool(name) and (module == name or module.startswith(f"{name}."))


def require(module: str, what: str) -> ModuleType:
    """Import ``module`` (e.g. ``"sentence_transformers"``, ``"sklearn.metrics"``) for ``what`` (the
    feature that needs it, as the user knows it: ``"ike"``, ``"the openai backend"``), or raise
    :class:`MissingExtra`: "ike needs sentence-transformers: pip install 'kedit[ike]'"."""
    if module.split(".")[0] not in EXTRAS:
        raise ValueError(f"require: {module!r} is not an optional dependency of kedit (known: {', '.join(EXTRAS)})")
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise MissingExtra(what, module, e) from e
