"""Versioned prompts for the LLM backend: ``data/prompts/<name>.v<N>.md`` plus ``<name>.v<N>.schema.json``.

A prompt file has a ``# system`` and a ``# user`` section (an HTML comment before them is ignored);
``{{field}}`` placeholders are filled from the edit record. The prompt's identity is its version
(``generate.v1``) and the sha256 of the prompt and schema files together, and both go into every
cache key and every probe's provenance, so editing a prompt can never be mistaken for the old one.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...errors import KeditError
from ...records import EditCase
from ...settings import data_root

FIELDS = ("subject", "relation", "template", "prompt", "target_true", "target_new")
# the placeholders of prompts that are not about an edit record (default: FIELDS)
PROMPT_FIELDS = {"judge": ("question", "answers", "response")}
_PLACEHOLDER = re.compile(r"\{\{\s*(\w+)\s*\}\}")
_VERSIONED = re.compile(r"^(?P<name>[\w-]+)\.v(?P<n>\d+)\.md$")


def prompts_dir() -> Path:
    return data_root() / "prompts"


def case_fields(case: EditCase) -> dict[str, str]:
    """The edit record's fields a prompt may use (and the cache key covers)."""
    rel = case.relation
    return {
        "subject": case.subject,
        "relation": rel.id.replace("_", " "),
        "template": rel.template or case.prompt.replace(case.subject, "{}"),
        "prompt": case.prompt,
        "target_true": case.target_true,
        "target_new": case.target_new,
    }


@dataclass(frozen=True)
class PromptSpec:
    version: str  # e.g. "generate.v1"
    system: str
    user: str
    schema: dict[str, Any]
    sha256: str  # of the prompt file and the schema file, as bytes

    def render(self, fields: dict[str, str]) -> list[dict[str, str]]:
        """The chat messages for one edit record."""
        return [{"role": "system", "content": _fill(self.system, fields)},
                {"role": "user", "content": _fill(self.user, fields)}]


def _fill(text: str, fields: dict[str, str]) -> str:
    return _PLACEHOLDER.sub(lambda m: fields[m.group(1)], text)


def available(name: str = "generate") -> list[str]:
    """Versions of a prompt, oldest first: ["generate.v1", "generate.v2", ...]."""
    found = []
    for f in prompts_dir().glob(f"{name}.v*.md"):
        m = _VERSIONED.match(f.name)
        if m and m.group("name") == name:
            found.append((int(m.group("n")), f"{name}.v{m.group('n')}"))
    return [v for _, v in sorted(found)]


def load_prompt(version: str | None = None, name: str = "generate") -> PromptSpec:
    """The prompt ``version`` (``generate.v1`` or just ``v1``/``1``); the latest when None."""
    versions = available(name)
    if not versions:
        raise KeditError(f"no prompt '{name}.v*.md' in {prompts_dir()}; reinstall kedit from its source tree")
    if version is None:
        version = versions[-1]
    elif not version.startswith(name + "."):
        version = f"{name}.v{version.lstrip('v')}"
    if version not in versions:
        from ...errors import did_you_mean

        raise did_you_mean("prompt version", version, versions, "Pass one of them with --prompt-version.")
    md = prompts_dir() / f"{version}.md"
    sj = prompts_dir() / f"{version}.schema.json"
    if not sj.is_file():
        raise KeditError(f"{md} has no schema file {sj.name} beside it")
    text, schema_bytes = md.read_text(encoding="utf-8"), sj.read_bytes()
    text = re.sub(r"<!--.*?-->", "", text, flags=re.S)
    parts = re.split(r"^# (system|user)\s*$", text, flags=re.M)
    sections = {parts[i]: parts[i + 1].strip() for i in range(1, len(parts) - 1, 2)}
    if set(sections) != {"system", "user"}:
        raise KeditError(f"{md}: expected a '# system' and a '# user' section, found {sorted(sections) or 'none'}")
    fields = PROMPT_FIELDS.get(name, FIELDS)
    unknown = {m for s in sections.values() for m in _PLACEHOLDER.findall(s)} - set(fields)
    if unknown:
        raise KeditError(f"{md}: unknown placeholder(s) {sorted(unknown)}; known: {', '.join(fields)}")
    try:
        schema = json.loads(schema_bytes)
    except json.JSONDecodeError as e:
        raise KeditError(f"{sj}: not valid JSON ({e})") from None
    digest = hashlib.sha256(md.read_bytes() + b"\0" + schema_bytes).hexdigest()
    return PromptSpec(version=version, system=sections["system"], user=sections["user"], schema=schema, sha256=digest)
