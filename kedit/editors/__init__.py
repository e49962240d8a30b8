"""Editing methods, one module each, registered by name; shared math lives in its own modules."""

from .base import EDITORS, EditRequest, EditResult, Editor, ParamSnapshot, PromptFailure, register_editor, timed_edit
from .hparams import load_hparams

# registering imports: each module adds its editor to EDITORS
from . import alphaedit, calinet, emmet, ft_l, grace, ike, ke, kn, mello, memit, memprompt, mend, pmet, rag, rome, serac, t_patcher, ultraedit, wise  # noqa: E402,F401

__all__ = ["EDITORS", "EditRequest", "EditResult", "Editor", "ParamSnapshot", "PromptFailure", "register_editor", "timed_edit", "load_hparams"]
