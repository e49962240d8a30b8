"""Label Studio access for kedit (label-studio-sdk 2.x, legacy ``Token`` API keys).

URL: ``--url``, else ``$LABEL_STUDIO_URL``, else ``http://127.0.0.1:8080``. Token: ``$LABEL_STUDIO_API_KEY``
(or ``$LABEL_STUDIO_USER_TOKEN``); it is read from the environment only and never written anywhere.
Every failure to reach the server or a rejected token becomes one KeditError that says what to do;
what the server or the transport said is redacted (:func:`kedit.redact.redact`) first.
"""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from typing import Any, Iterator, Sequence

from ..errors import KeditError
from ..optional import require
from ..redact import redact

DEFAULT_URL = "http://127.0.0.1:8080"
TOKEN_VARS = ("LABEL_STUDIO_API_KEY", "LABEL_STUDIO_USER_TOKEN")
IMPORT_BATCH = 1000
WHAT = "kbuild annotate"  # "kbuild annotate needs label-studio-sdk: pip install 'kedit[annotate]'"


def resolve_url(url: str | None) -> str:
    return (url or os.environ.get("LABEL_STUDIO_URL") or DEFAULT_URL).rstrip("/")


def resolve_token(token: str | None = None) -> str:
    if token:
        return token
    for var in TOKEN_VARS:
        if os.environ.get(var):
            return os.environ[var]
    raise KeditError("no Label Studio API token: set LABEL_STUDIO_API_KEY to the token shown under Account & Settings "
                     "(or printed by `kbuild annotate serve`)")


class LabelStudio:
    """The few calls kbuild annotate needs: projects by title, task import, full JSON export."""

    def __init__(self, url: str | None = None, token: str | None = None, timeout: float = 120):
        _SDK = require("label_studio_sdk", WHAT).LabelStudio
        self.url = resolve_url(url)
        self._token = resolve_token(token)  # only to redact it from messages
        self._sdk = _SDK(base_url=self.url, api_key=self._token, timeout=timeout)
        with self._errors("connect"):
            self.user = self._sdk.users.whoami()

    @contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        httpx = require("httpx", WHAT)
        ApiError = require("label_studio_sdk.core.api_error", WHAT).ApiError

        try:
            yield
        except httpx.TransportError as e:
            raise KeditError(f"cannot reach Label Studio at {self.url} ({type(e).__name__}: {self._redact(str(e))}); "
                             "start one with `kbuild annotate serve` or pass --url / set LABEL_STUDIO_URL") from None
        except ApiError as e:
            if e.status_code in (401, 403):
                raise KeditError(f"Label Studio at {self.url} rejected the API token (HTTP {e.status_code}); set "
                                 "LABEL_STUDIO_API_KEY to the legacy token under Account & Settings") from None
            body = self._redact(e.body if isinstance(e.body, str) else json.dumps(e.body)[:1600])  # redacted, then cut
            raise KeditError(f"Label Studio at {self.url}: {what} failed (HTTP {e.status_code}): {body[:800]}") from None

    def _redact(self, text: str) -> str:
        return redact(text, self._token)

    # projects ------------------------------------------------------------------------------
    def find_project(self, title: str) -> Any | None:
        with self._errors("listing projects"):
            matches = [p for p in self._sdk.projects.list(title=title, page_size=100) if p.title == title]
        if len(matches) > 1:
            raise KeditError(f"{len(matches)} Label Studio projects are titled '{title}' (ids "
                             f"{', '.join(str(p.id) for p in matches)}); rename all but one")
        return matches[0] if matches else None

    def create_project(self, title: str, label_config: str, *, maximum_annotations: int, instruction: str,
                       description: str = "") -> Any:
        with self._errors(f"creating project '{title}'"):
            return self._sdk.projects.create(
                title=title, label_config=label_config, maximum_annotations=maximum_annotations,
                overlap_cohort_percentage=100, expert_instruction=instruction, show_instruction=True,
                show_skip_button=False, description=description)

    def update_project(self, project_id: int, **fields: Any) -> Any:
        with self._errors("updating the project"):
            return self._sdk.projects.update(project_id, **fields)

    # tasks ---------------------------------------------------------------------------------
    def import_tasks(self, project_id: int, tasks: Sequence[dict], batch: int = IMPORT_BATCH) -> int:
        n = 0
        for i in range(0, len(tasks), batch):
            with self._errors("importing tasks"):
                r = self._sdk.projects.import_tasks(project_id, request=list(tasks[i:i + batch]))
            n += int(getattr(r, "task_count", None) or len(tasks[i:i + batch]))
        return n

    def export(self, project_id: int) -> list[dict]:
        """Every task of the project (annotated or not) with its annotations, Label Studio's JSON export."""
        with self._errors("exporting the project"):
            raw = b"".join(self._sdk.projects.exports.download_sync(project_id, export_type="JSON",
                                                                    download_all_tasks=True))
        try:
            data = json.loads(raw)
        except json.JSONDecodeError:
            raise KeditError(f"Label Studio at {self.url} returned an export that is not JSON: "
                             f"{self._redact(repr(raw[:400]))[:200]}") from None
        if not isinstance(data, list):
            raise KeditError(f"unexpected Label Studio export (expected a list of tasks): {self._redact(str(data)[:400])[:200]}")
        return data
