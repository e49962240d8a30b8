"""The unedited model's answers to every probe of a benchmark, computed once and cached on disk.

Keyed by the model's fingerprint, the probes' content and the scorer version, so every editor and
mode of every run on the same model and benchmark reuses them. Also decides which probes are
executed: a probe whose conditions the unedited model fails is not executed.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict, dataclass
from typing import Sequence

from ..atomic import atomic_write
from ..records import EditCase
from ..settings import cache_dir
from .asking import ask, conditions_pass
from .metrics import Answers
from .scoring import TargetScore

log = logging.getLogger(__name__)
SCORER_VERSION = "2"  # 2: generations of 2x the answer + 4 tokens, text cut at EOS (gen_em)


@dataclass
class Baseline:
    answers: dict[tuple[str, int], Answers]
    executed: dict[tuple[str, int], bool]
    cache_hit: bool = False
    seconds: float = 0.0


def _probe_key(cases: Sequence[EditCase]) -> list:
    return [
        [c.case_id, [[p.prompt, p.answers, p.foil, p.choices, [[x.prompt, x.answers] for x in p.conditions]] for p in c.probes]]
        for c in cases
    ]


def baseline_key(fingerprint: str, cases: Sequence[EditCase]) -> str:
    blob = json.dumps([SCORER_VERSION, fingerprint, _probe_key(cases)], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def _ts(d):
    return None if d is None else TargetScore(tuple(d["target_ids"]), tuple(d["argmax_ids"]), tuple(d["logprobs"]))


def _answers_from(d: dict) -> Answers:
    return Answers(
        answer=_ts(d["answer"]),
        foil=_ts(d["foil"]),
        choices=None if d["choices"] is None else [_ts(x) for x in d["choices"]],
        generated=d["generated"],
        generated_ids=None if d["generated_ids"] is None else tuple(d["generated_ids"]),
    )


def compute_baseline(model, tok, cases: Sequence[EditCase], fingerprint: str, progress: bool = False) -> Baseline:
    import time

    key = baseline_key(fingerprint, cases)
    path = cache_dir("baseline") / f"{key}.json"
    if path.is_file():
        data = json.loads(path.read_text())
        if data.get("fingerprint") == fingerprint and data.get("scorer") == SCORER_VERSION:
            log.info("unedited-model outputs: cache hit %s", path)
            return Baseline(
                {(c, i): _answers_from(a) for c, i, a in data["answers"]},
                {(c, i): e for c, i, e in data["executed"]},
                cache_hit=True,
            )
    t0 = time.perf_counter()
    keys = [(c.case_id, i) for c in cases for i in range(len(c.probes))]
    probes = [p for c in cases for p in c.probes]
    bar = "unedited baseline" if progress else None
    answers = ask(model, tok, probes, progress=bar)
    conds = [x for p in probes for x in p.conditions]
    passed = iter(conditions_pass(model, tok, conds, progress=bar))
    executed = [all([next(passed) for _ in p.conditions]) for p in probes]
    base = Baseline(dict(zip(keys, answers)), dict(zip(keys, executed)), seconds=time.perf_counter() - t0)
    atomic_write(path, json.dumps({
        "fingerprint": fingerprint, "scorer": SCORER_VERSION,
        "answers": [[c, i, asdict(a)] for (c, i), a in base.answers.items()],
        "executed": [[c, i, e] for (c, i), e in base.executed.items()],
    }))
    return base
