"""A reviewer in a real browser: headless Chromium (Debian's package, driven by Playwright) logs into the local
Label Studio, opens a pushed task, sees the dialogue and the prefilled response, corrects it, accepts and
submits; a pull then holds exactly that correction.

Before that, the project's task list shows the scannable columns (request, answer, round, similarity, judge) and
not the raw JSON. Set FTBOOT_REVIEW_SCREENSHOT=docs/review-screenshot.png to refresh the reviewer guide's
screenshots: the task list there, the editor beside it (docs/review-screenshot-editor.png).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from tests.helpers import varied_examples
from tests.labelstudio_fixtures import ADMIN, PASSWORD, project_id
from tests.test_review import rows, title_of, write_candidates

SYSTEM = (
    "You write product descriptions for an online shop. Given a feature list, write two or three sentences "
    "of warm, concrete prose that lead with the buyer's benefit, keep every listed fact, add no new claims, "
    "and stay under 90 words."
)
USER = (
    "Product: Alder insulated water bottle\n- 750 ml, double-wall steel\n- keeps drinks cold 24 h, hot 12 h\n"
    "- leak-proof lid with <b>carry loop</b>\n- dishwasher safe"
)
GENERATED = (
    "Cold water at the end of a long hike: the Alder keeps drinks cold for 24 hours and hot for 12. Its "
    "750 ml double-wall steel body goes in the dishwasher, and the leak-proof lid has a carry loop. "
    "Comes with a lifetime warranty."
)
CORRECTED = (
    "Cold water at the end of a long hike: the Alder keeps drinks cold for 24 hours and hot for 12. Its "
    "750 ml double-wall steel body goes in the dishwasher, and the leak-proof lid has a carry loop."
)


def chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        pytest.fail("Debian's chromium is not installed: run scripts/setup (it installs it with apt-get)")
    return path


def test_reviewer_corrects_a_response_in_the_browser(review_project, run, labelstudio, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    example = {
        "messages": [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": USER},
            {"role": "assistant", "content": GENERATED},
        ]
    }
    candidate, *_ = write_candidates(review_project, [example, *varied_examples(3)])
    assert run("review", "push").exit_code == 0
    pid = project_id(labelstudio, title_of(review_project))
    task_id = next(t.id for t in labelstudio.client().tasks.list(project=pid) if t.data["candidate_id"] == candidate)
    screenshot = Path(os.environ.get("FTBOOT_REVIEW_SCREENSHOT") or tmp_path / "review.png")
    screenshot.parent.mkdir(parents=True, exist_ok=True)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium(), args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
        )
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"{labelstudio.url}/user/login/")
        page.fill("input[name=email]", ADMIN)
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(lambda url: "/user/login" not in url)

        # the task list: short texts and numbers to sort by, no raw JSON
        page.goto(f"{labelstudio.url}/projects/{pid}/data")
        expect(page.get_by_text("Product: Alder insulated water bottle - 750 ml").first).to_be_visible(timeout=60_000)
        page.screenshot(path=str(screenshot))
        for column in ("request", "answer", "round", "similarity", "judge"):
            expect(page.get_by_text(column, exact=True).first).to_be_visible()
        assert page.get_by_text("example", exact=True).count() == 0 and '"messages"' not in page.content()

        page.goto(f"{labelstudio.url}/projects/{pid}/data?task={task_id}")

        # the dialogue, with markup shown as text, and the generated response prefilled
        expect(page.locator(".lsf-paragraphs").get_by_text("leak-proof lid with <b>carry loop</b>")).to_be_visible(
            timeout=60_000
        )
        assert page.locator(".lsf-paragraphs b").count() == 0
        expect(page.get_by_test_id("htx-textbox-content").first).to_have_text(GENERATED)

        page.get_by_test_id("htx-textbox-edit-button").first.click()
        box = page.locator('[data-testid="textarea-region"] textarea').first
        expect(box).to_have_value(GENERATED)
        box.click()
        page.keyboard.press("Control+a")
        page.keyboard.insert_text(CORRECTED)  # as typed: the editor listens to input events, which fill() skips
        page.locator('input[type=radio][name="accept"]').check()
        page.locator(".lsf-text-area textarea").last.fill("removed the invented warranty")
        page.screenshot(path=str(screenshot.with_name(screenshot.stem + "-editor.png")))
        with page.expect_response(lambda r: "/annotations" in r.url and r.request.method == "POST") as answer:
            page.get_by_role("button", name="Submit").click()
        assert answer.value.status == 201
        saved = answer.value.json()
        browser.close()

    assert {item["from_name"]: item.get("origin") for item in saved["result"]}["reply_1"] == "prediction-changed"
    summary = json.loads(run("review", "pull", "--json").stdout)
    assert (summary["accepted"], summary["edited"]) == (0, 1)
    [record] = rows(review_project / "outputs" / "reviewed.jsonl")
    assert record["review"]["generated_id"] == candidate
    assert record["example"]["messages"][-1]["content"] == CORRECTED
    assert record["example"]["messages"][:-1] == example["messages"][:-1]
    assert record["review"]["notes"] == "removed the invented warranty"
    assert "-" + GENERATED in record["review"]["diff"] and "+" + CORRECTED in record["review"]["diff"]
