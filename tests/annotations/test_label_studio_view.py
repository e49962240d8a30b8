"""The annotator's view in a real browser: Label Studio's own frontend, rendered by headless Chromium.

One browser session logs in through Label Studio's login form (the admin the session fixture made)
and opens two tasks of a project pushed from KG-generated, filtered probes: a keep probe (locality)
and a one-hop probe. On each it checks what the annotator sees: the collapsed instructions and their
"details" toggle, the badge naming the world to judge in, the fact the question tests (for the keep
probe its own fact, not the counterfactual edit; for the one-hop probe the chain edit -> hop ->
answer) with readable relation labels, and the evidence (generator, prerequisite, base-model filter).

Chromium: the system's (``apt-get install chromium``), driven by Playwright's Python package (never
``playwright install``). The test is skipped only when no Chromium binary is present.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from kedit.annotations.config import DETAILS, SUMMARY
from kedit.annotations.tasks import BADGE, ID_FIELD, make_tasks
from kedit.records import EditCase, Relation
from tests.fixtures.label_studio import project_tasks

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TIMEOUT_MS = 90_000  # Label Studio's frontend on a shared 2-core machine


def chromium_binary() -> str | None:
    """``$KEDIT_CHROMIUM``, else the system's Chromium (Debian's ``chromium`` package)."""
    for cand in (os.environ.get("KEDIT_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium"),
                 shutil.which("chromium-browser")):
        if cand and Path(cand).is_file() and os.access(cand, os.X_OK):
            return cand
    return None


pytestmark = pytest.mark.skipif(chromium_binary() is None,
                                reason="no chromium binary (apt-get install -y chromium, or set KEDIT_CHROMIUM)")


def filtered_kg_cases() -> list[EditCase]:
    """One edit expanded by the kg backend on the bundled KG, then stamped by the filter's own decision
    code as if the base model knew every fact it was asked (no model is loaded)."""
    from kedit.builder.filtering import METRIC, collect, decide
    from kedit.builder.kg import KGBackend, KnowledgeGraph
    from kedit.settings import data_root

    folder = data_root() / "kg"
    seed = EditCase(case_id="view-001", subject="Beijing", relation=Relation("country", "{} is a city in the country of"),
                    target_true="China", target_new="United Kingdom", prompt="Beijing is a city in the country of",
                    provenance={"kg": {"subject": "beijing", "relation": "country", "object_true": "china",
                                       "object_new": "united-kingdom"}})
    case = KGBackend(KnowledgeGraph.load(folder), folder, 2).expand(seed)
    known = {(c.prompt, c.answers): True for c in collect([case], True, False)}
    kept, _dropped, _counts, _cases = decide([case], known, True, False, {"model": "SmolLM2-135M", "metric": METRIC})
    return kept


def test_keep_and_one_hop_probes_in_a_browser(label_studio, tmp_path):
    try:
        from playwright.sync_api import expect, sync_playwright
    except ImportError:
        pytest.fail("playwright is missing: .venv/bin/pip install playwright (it drives the system's chromium; "
                    "never run `playwright install`)", pytrace=False)
    from kedit.annotations.client import LabelStudio
    from kedit.annotations.push import push

    cases = filtered_kg_cases()
    tasks = {t["data"][ID_FIELD]: t["data"] for t in make_tasks(cases)}
    keep = next(d for d in tasks.values() if d["split"] == "locality")
    hop = next(d for d in tasks.values() if d["split"] == "one_hop" and d["prerequisite"])
    case = cases[0]

    r = push(cases, LabelStudio(label_studio.url, label_studio.token), "kedit view in a browser")
    assert r.created and r.imported == len(tasks) and not r.problems
    ids = {t["data"][ID_FIELD]: t["id"] for t in project_tasks(label_studio.client(), r.project_id)}

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_binary(), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.set_default_timeout(TIMEOUT_MS)
            page.goto(f"{label_studio.url}/user/login/")
            page.fill("input[name=email]", label_studio.username)
            page.fill("input[name=password]", label_studio.password)
            page.click("button[type=submit]")
            page.wait_for_url(lambda url: "/user/login" not in url)

            for name, data in (("keep", keep), ("one_hop", hop)):
                page.goto(f"{label_studio.url}/projects/{r.project_id}/data?task={ids[data[ID_FIELD]]}")
                head, evidence = page.locator(".kedit-head"), page.locator(".kedit-evidence")
                expect(head).to_be_visible()
                # the instructions: two lines, the rest behind "details"
                for line in SUMMARY:
                    expect(page.get_by_text(line, exact=True)).to_be_visible()
                expect(page.get_by_text(DETAILS[1], exact=True)).to_be_hidden()
                page.get_by_text("details", exact=True).click()
                expect(page.get_by_text(DETAILS[1], exact=True)).to_be_visible()
                page.get_by_text("details", exact=True).click()
                expect(page.get_by_text(DETAILS[1], exact=True)).to_be_hidden()

                evidence_text = evidence.inner_text()
                assert "Generated by" in evidence_text and "KG triples" in evidence_text
                assert "SmolLM2-135M: passed" in evidence_text and "teacher-forced exact match of any alias" in evidence_text
                text = head.inner_text()
                if name == "keep":
                    expect(head.locator(".kedit-badge")).to_have_text(BADGE["real"])
                    assert "Fact tested" in text and "Fact (edit)" not in text
                    assert f"{data['question']} {data['answers'][0]}" in text  # its own fact ...
                    subject, relation, obj = data["subject"], data["relation"], data["object"]
                    assert f"({subject}, {relation}, {obj})" in text and relation == "country"  # a label, not an id
                    assert f"{case.prompt} {case.target_new}" in text.split("Fact tested")[0]  # ... the edit only as the edit
                    assert "Prerequisite\tnone" in evidence_text or "Prerequisite\nnone" in evidence_text
                else:
                    expect(head.locator(".kedit-badge")).to_have_text(BADGE["edited"])
                    cond = next(c for c in case.probes[data["probe_index"]].conditions if c.triple)
                    s, rel, o = cond.triple
                    assert "Chain" in text and "Hop fact" in text
                    # edit -> hop -> answer, relations by label
                    assert (f"edit {case.subject} —country→ {case.target_new}" in text
                            and f"hop {s} —{rel.replace('_', ' ')}→ {o}" in text and f"answer {data['answers'][0]}" in text)
                    assert f"{cond.prompt} {cond.answers[0]}" in text  # the hop fact
                    assert cond.prompt in evidence_text and "knows the prerequisite" in evidence_text
                expect(page.get_by_text(data["question"], exact=True).last).to_be_visible()
                shot = tmp_path / f"view-{name}.png"
                page.screenshot(path=str(shot), full_page=True)
                print(f"screenshot of the {name} probe's view: {shot}")
        finally:
            browser.close()
