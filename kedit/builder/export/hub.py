"""Push an export folder to the Hugging Face Hub as a dataset repository.

The token comes from the ``HF_TOKEN`` environment variable only; it is passed to ``HfApi`` calls and
never written to a file, a manifest or a log; a Hub error is redacted (:func:`kedit.redact.redact`)
before it becomes a message. ``create_repo(exist_ok=True)`` makes a rerun update the same
repository; ``upload_folder`` uploads exactly the export folder (one commit).
"""

from __future__ import annotations

import os
from pathlib import Path

from huggingface_hub import HfApi  # tests replace this name with a recording class

from ... import __version__
from ...errors import KeditError
from ...redact import redact

TOKEN_ENV = "HF_TOKEN"


def hub_token() -> str:
    token = os.environ.get(TOKEN_ENV, "").strip()
    if not token:
        raise KeditError(f"--push-to-hub needs a Hugging Face token with write access in the {TOKEN_ENV} "
                         f"environment variable (create one at https://huggingface.co/settings/tokens)")
    return token


def check_repo_id(repo_id: str) -> str:
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(repo_id)
    except HFValidationError as e:
        raise KeditError(f"--push-to-hub: '{repo_id}' is not a valid repository id ({e}); use NAMESPACE/NAME") from None
    if "/" not in repo_id:
        raise KeditError(f"--push-to-hub: give the repository as NAMESPACE/NAME (your user or organisation), not '{repo_id}'")
    return repo_id


def push(folder: str | Path, repo_id: str, *, private: bool = False, token: str | None = None) -> str:
    """Create the dataset repo (if needed) and upload ``folder``; returns the repository URL."""
    token = token or hub_token()
    api = HfApi()
    try:
        url = api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True, token=token)
        api.upload_folder(folder_path=str(folder), repo_id=repo_id, repo_type="dataset", token=token,
                          commit_message=f"kedit {__version__} export")
    except KeditError:
        raise
    except Exception as e:  # network, permission, offline mode: say what happened and keep the export
        raise KeditError(f"pushing {folder} to the Hub dataset '{repo_id}' failed: {type(e).__name__}: "
                         f"{redact(str(e), token)}. The export in {folder} is complete; rerun with --push-to-hub "
                         "once this is fixed") from None
    return str(getattr(url, "url", None) or url or f"https://huggingface.co/datasets/{repo_id}")
