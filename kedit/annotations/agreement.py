"""Inter-annotator agreement and adjudication (Label Studio Community computes neither).

The statistics come from maintained libraries (the ``annotate`` extra): scikit-learn's
``cohen_kappa_score`` and statsmodels' ``fleiss_kappa``. kedit adds only what they leave undefined:

- Cohen's kappa (Cohen 1960) for two annotators who rated the same items:
  ``kappa = (p_o - p_e) / (1 - p_e)``, ``p_o`` the observed agreement, ``p_e = sum_k p_A(k) p_B(k)``.
- Fleiss' kappa (Fleiss 1971) for any number of annotators: with ``n_ij`` the number of ratings of
  item i in category j and ``n_i`` the ratings of item i,
  ``P_i = (sum_j n_ij^2 - n_i) / (n_i (n_i - 1))``, ``P_bar = mean_i P_i``,
  ``p_j = sum_i n_ij / sum_i n_i``, ``P_e = sum_j p_j^2``, ``kappa = (P_bar - P_e) / (1 - P_e)``.
  Items with fewer than two ratings carry no agreement information and are left out (and counted).
  statsmodels requires the same number of ratings for every item (it asserts); when the counts
  differ (a third annotator skipped some items) kedit computes the same formula with each item's
  own ``n_i`` (the usual generalization; with a constant ``n`` it is exactly statsmodels' figure,
  as ``tests/annotations/test_agreement.py`` checks).
- Kappa is undefined (``None``) when chance agreement is 1 (everyone used one category): both
  libraries return NaN there, with a warning; no items -> ``None`` (scikit-learn raises).
- Adjudication: the majority verdict; a tie between the top verdicts is ``unsure``.
"""

from __future__ import annotations

from collections import Counter
from typing import Hashable, Iterable, Mapping, Sequence

import numpy as np

from ..optional import require

UNSURE = "unsure"
WHAT = "agreement statistics (kbuild annotate pull)"  # "... needs scikit-learn: pip install 'kedit[annotate]'"


def cohen_kappa(a: Sequence[Hashable], b: Sequence[Hashable]) -> float | None:
    """Cohen's kappa of two annotators' labels of the same items (``a[i]`` and ``b[i]`` rate item i);
    scikit-learn's ``cohen_kappa_score``, ``None`` where it is undefined."""
    if len(a) != len(b):
        raise ValueError(f"cohen_kappa: {len(a)} and {len(b)} ratings; give one pair per item")
    if len(a) == 0:
        return None
    if len(set(a) | set(b)) == 1:  # p_e = 1: both used the same single label (scikit-learn: NaN and a warning)
        return None
    metrics = require("sklearn.metrics", WHAT)
    return float(metrics.cohen_kappa_score(list(a), list(b)))


def fleiss_kappa(table: Sequence[Sequence[int]]) -> float | None:
    """Fleiss' kappa of an items x categories table of rating counts (rows with < 2 ratings are
    skipped); statsmodels' ``fleiss_kappa`` when every item has as many ratings, else the same
    formula with per-item counts; ``None`` where it is undefined."""
    rows = [[int(x) for x in r] for r in table if sum(r) >= 2]
    if not rows:
        return None
    k = len(rows[0])
    col = [sum(r[j] for r in rows) for j in range(k)]
    if max(col) == sum(col):  # P_e = 1: every rating in one category (statsmodels: NaN and a warning)
        return None
    if len({sum(r) for r in rows}) == 1:
        inter_rater = require("statsmodels.stats.inter_rater", WHAT)
        return float(inter_rater.fleiss_kappa(np.asarray(rows, dtype=np.float64), method="fleiss"))
    total = sum(col)
    p_e = sum((c / total) ** 2 for c in col)
    p_bar = sum((sum(x * x for x in r) - sum(r)) / (sum(r) * (sum(r) - 1)) for r in rows) / len(rows)
    return (p_bar - p_e) / (1.0 - p_e)


def count_table(items: Iterable[Sequence[Hashable]], categories: Sequence[Hashable]) -> list[list[int]]:
    """Rating lists (one per item) -> the items x categories count table Fleiss' kappa takes."""
    index = {c: j for j, c in enumerate(categories)}
    table = []
    for ratings in items:
        row = [0] * len(categories)
        for r in ratings:
            row[index[r]] += 1
        table.append(row)
    return table


def percent_agreement(items: Iterable[Sequence[Hashable]]) -> float | None:
    """Mean pairwise agreement over items with >= 2 ratings (Fleiss' P_bar; for two annotators p_o), in %."""
    vals = []
    for ratings in items:
        n = len(ratings)
        if n < 2:
            continue
        c = Counter(ratings)
        vals.append(sum(v * (v - 1) for v in c.values()) / (n * (n - 1)))
    return 100.0 * sum(vals) / len(vals) if vals else None


def adjudicate(verdicts: Iterable[str]) -> str | None:
    """Majority verdict; a tie between the most frequent verdicts -> ``unsure``; no verdicts -> None."""
    c = Counter(verdicts).most_common()
    if not c:
        return None
    if len(c) > 1 and c[0][1] == c[1][1]:
        return UNSURE
    return c[0][0]


def _rnd(x: float | None, nd: int = 4) -> float | None:
    return None if x is None else round(x, nd)


def kappa_of(ratings: Sequence[Mapping[Hashable, str]], categories: Sequence[str]) -> dict:
    """Agreement figures of items given as {annotator: label}.

    Two annotators in all -> Cohen's kappa over the items both rated (Fleiss' given too);
    three or more -> Fleiss' kappa over the items with at least two ratings.
    """
    multi = [r for r in ratings if len(r) >= 2]
    annotators = sorted({a for r in ratings for a in r}, key=str)
    out: dict = {"n_annotators": len(annotators), "n_tasks": len(multi), "n_tasks_single_rating": len(ratings) - len(multi)}
    labels = [list(r.values()) for r in multi]
    fleiss = fleiss_kappa(count_table(labels, categories))
    if len(annotators) == 2:
        x, y = annotators
        both = [r for r in multi if x in r and y in r]
        out.update(method="cohen", kappa=_rnd(cohen_kappa([r[x] for r in both], [r[y] for r in both])))
    else:
        out.update(method="fleiss", kappa=_rnd(fleiss))
    out["fleiss_kappa"] = _rnd(fleiss)
    out["percent_agreement"] = _rnd(percent_agreement(labels), 2)
    out["label_counts"] = dict(Counter(v for r in ratings for v in r.values()))
    return out


def fluency_figures(ratings: Sequence[Mapping[Hashable, int]]) -> dict:
    """Mean fluency and how often two annotators' ratings agree exactly / within one point."""
    flat = [v for r in ratings for v in r.values()]
    exact = within = pairs = 0
    for r in ratings:
        vals = list(r.values())
        for i in range(len(vals)):
            for j in range(i + 1, len(vals)):
                pairs += 1
                exact += vals[i] == vals[j]
                within += abs(vals[i] - vals[j]) <= 1
    return {
        "n_ratings": len(flat),
        "mean": _rnd(sum(flat) / len(flat), 3) if flat else None,
        "pairs": pairs,
        "percent_exact": _rnd(100.0 * exact / pairs, 2) if pairs else None,
        "percent_within_1": _rnd(100.0 * within / pairs, 2) if pairs else None,
    }
