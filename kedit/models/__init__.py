"""Model loading (Hub id, folder, built-ins) and architecture roles."""

from . import builtins  # noqa: F401  (registers the built-in models)
from .loading import BUILTINS, LoadedModel, load_model
from .roles import FAMILIES, Roles, family_of, get_module, module_at, n_layers, path_of, roles_for, weight_as_out_in

__all__ = ["BUILTINS", "LoadedModel", "load_model", "FAMILIES", "Roles", "family_of", "get_module", "module_at", "n_layers", "path_of", "roles_for", "weight_as_out_in"]
