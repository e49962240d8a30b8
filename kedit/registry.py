"""One registry per extension point: names map to implementations, registered with a decorator.

The one extension pattern of kedit, the same for editors, benchmark formats, generation backends,
metrics and built-in models:

* an implementation registers itself with the registry's decorator (``@register_editor("rome")``);
* the subpackage's ``__init__`` imports its implementation modules, so every registry is complete
  after ``import kedit``;
* third-party packages add entries through a Python entry-point group, as pytest plugins do. In the
  plugin's ``pyproject.toml``::

      [project.entry-points."kedit.editors"]
      my-editor = "my_package.editor"            # a module that registers on import, or
      my-editor = "my_package.editor:MyEditor"   # the object itself, registered under the entry's name

  Plugins are loaded the first time the registry is looked up.
"""

from __future__ import annotations

import logging
from typing import Callable, Generic, Iterator, TypeVar

from .errors import KeditError, UnknownNameError

T = TypeVar("T")
log = logging.getLogger(__name__)


class Registry(Generic[T]):
    def __init__(self, kind: str, hint: str = "", entry_points: str | None = None):
        self.kind = kind
        self.hint = hint
        self.entry_points = entry_points  # the plugin group, e.g. "kedit.editors"
        self._items: dict[str, T] = {}
        self._plugins_loaded = entry_points is None
        self.plugins: dict[str, str] = {}  # name -> distribution that provided it

    def register(self, name: str) -> Callable[[T], T]:
        def deco(obj: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.kind} '{name}' registered twice")
            self._items[name] = obj
            return obj

        return deco

    def unregister(self, name: str) -> T:
        """Remove an entry (tests that register a throw-away implementation clean up with this)."""
        return self._items.pop(name)

    def load_plugins(self) -> None:
        """Import every entry point of the registry's group (once)."""
        if self._plugins_loaded:
            return
        self._plugins_loaded = True
        from importlib.metadata import entry_points

        for ep in entry_points(group=self.entry_points):
            before = set(self._items)
            try:
                obj = ep.load()
            except Exception as e:  # a broken plugin names itself, never a bare traceback
                raise KeditError(f"the {self.kind} plugin '{ep.name}' ({ep.value}, entry point group "
                                 f"{self.entry_points}) failed to load: {type(e).__name__}: {e}") from e
            if ep.attr and ep.name not in self._items:
                self.register(ep.name)(obj)  # the entry point names the object itself
            dist = getattr(ep, "dist", None)
            for name in set(self._items) - before:
                self.plugins[name] = getattr(dist, "name", None) or ep.value
            if ep.name not in self._items:
                log.warning("%s plugin '%s' (%s) registered nothing under that name", self.kind, ep.name, ep.value)

    def get(self, name: str) -> T:
        self.load_plugins()
        try:
            return self._items[name]
        except KeyError:
            raise UnknownNameError(self.kind, name, self._items, self.hint) from None

    def names(self) -> list[str]:
        self.load_plugins()
        return sorted(self._items)

    def items(self) -> list[tuple[str, T]]:
        return [(n, self._items[n]) for n in self.names()]

    def __contains__(self, name: str) -> bool:
        self.load_plugins()
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())
