"""Token prices (USD per 1M tokens) by model, from ``data/prices.json`` or a user's file."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from ...errors import KeditError
from ...settings import data_root

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Price:
    model: str  # the table entry used ("local" when the model is not listed)
    input: float  # USD per 1M prompt tokens
    output: float  # USD per 1M completion tokens
    known: bool  # False when the model was not in the table

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (prompt_tokens * self.input + completion_tokens * self.output) / 1e6


def _read(path: Path) -> dict[str, dict[str, float]]:
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise KeditError(f"price table {path} not found") from None
    except json.JSONDecodeError as e:
        raise KeditError(f"price table {path} is not valid JSON: {e}") from None
    models = raw.get("models", raw) if isinstance(raw, dict) else None
    if not isinstance(models, dict):
        raise KeditError(f"price table {path}: expected {{\"models\": {{name: {{\"input\": usd, \"output\": usd}}}}}}")
    table = {}
    for name, p in models.items():
        if name.startswith("_"):
            continue
        try:
            table[name] = {"input": float(p["input"]), "output": float(p["output"])}
        except (TypeError, KeyError, ValueError):
            raise KeditError(f"price table {path}: model '{name}' needs numeric 'input' and 'output' (USD per 1M tokens)") from None
    return table


class PriceTable:
    def __init__(self, override: Path | str | None = None):
        self.table = _read(data_root() / "prices.json")
        self.sources = [str(data_root() / "prices.json")]
        if override:
            self.table.update(_read(Path(override)))
            self.sources.append(str(override))

    def price(self, model: str) -> Price:
        """Exact entry, else the longest listed prefix followed by '-' (dated snapshots), else 'local'."""
        if model in self.table:
            p = self.table[model]
            return Price(model, p["input"], p["output"], True)
        prefixes = [name for name in self.table if model.startswith(name + "-")]
        if prefixes:
            name = max(prefixes, key=len)
            p = self.table[name]
            return Price(name, p["input"], p["output"], True)
        p = self.table.get("local", {"input": 0.0, "output": 0.0})
        return Price("local", p["input"], p["output"], False)
