"""``kbuild annotate push``: create (or reuse) the project and import the tasks it does not have yet."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..errors import KeditError
from ..records.schema import EditCase
from .client import LabelStudio
from .config import CONFIG_VERSION, INSTRUCTIONS_HTML, labeling_config
from .tasks import ID_FIELD, PUSH_SPLITS, KGNames, make_tasks

log = logging.getLogger(__name__)


@dataclass
class PushResult:
    project_id: int
    created: bool
    tasks: int  # tasks made from the records
    imported: int  # new tasks imported now
    existing: int  # tasks of the records already in the project
    problems: list[str] = field(default_factory=list)


def existing_ids(ls: LabelStudio, project_id: int) -> set[str]:
    return {t["data"][ID_FIELD] for t in ls.export(project_id) if isinstance(t.get("data"), dict) and ID_FIELD in t["data"]}


def ensure_project(ls: LabelStudio, title: str, min_annotators: int | None,
                   problems: list[str] | None = None) -> tuple[int, bool]:
    """The id of the project titled ``title`` (created if missing); ``min_annotators`` sets its overlap.

    A new project shows the full instructions behind its Instructions button, not as a pop-up: the
    labeling view carries their two-line summary. A project made by an older kedit keeps its view
    (its tasks lack the data the new one reads); that is noted in ``problems``."""
    if min_annotators is not None and min_annotators < 1:
        raise KeditError(f"--min-annotators must be at least 1, got {min_annotators}")
    project = ls.find_project(title)
    if project is None:
        p = ls.create_project(title, labeling_config(), maximum_annotations=min_annotators or 1,
                              instruction=INSTRUCTIONS_HTML,
                              description="kedit probe verification (kbuild annotate push)")
        ls.update_project(p.id, show_instruction=False)
        return p.id, True
    config = getattr(project, "label_config", None) or ""
    if CONFIG_VERSION not in config and problems is not None:
        msg = (f"project '{title}' was made by an older kedit: its tasks keep the older view; push to a new project "
               f"title for the {CONFIG_VERSION} view (badge, tested fact, evidence)")
        log.warning(msg)
        problems.append(msg)
    if min_annotators is not None and project.maximum_annotations != min_annotators:
        log.info("project '%s': overlap %s -> %s annotators", title, project.maximum_annotations, min_annotators)
        ls.update_project(project.id, maximum_annotations=min_annotators, overlap_cohort_percentage=100)
    return project.id, False


def push(cases: Sequence[EditCase], ls: LabelStudio, title: str, *, min_annotators: int | None = None,
         splits: Sequence[str] = PUSH_SPLITS, names: KGNames | None = None) -> PushResult:
    """Import the probes of ``splits`` the project lacks; ``names`` labels KG ids (default: the bundled KG)."""
    tasks = make_tasks(cases, splits, names)
    problems: list[str] = []
    project_id, created = ensure_project(ls, title, min_annotators, problems)
    have = set() if created else existing_ids(ls, project_id)
    new = [t for t in tasks if t["data"][ID_FIELD] not in have]
    imported = ls.import_tasks(project_id, new) if new else 0
    return PushResult(project_id=project_id, created=created, tasks=len(tasks), imported=imported,
                      existing=len(tasks) - len(new), problems=problems)
