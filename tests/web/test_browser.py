"""The demo in a real browser (Playwright driving Debian's chromium): pick zeros and auto, look, train, stop.

What a user sees is checked from the page itself: the histogram image and the verdict text change
with the init, the curves image changes while training, the results table shows the zeros run at
chance (a constant predictor) while auto learns, and a bad value gives a message, not a traceback.
Screenshots: test-artifacts/web/*.png.
"""
import re

import pytest

pytestmark = [pytest.mark.timeout(180),
              # gradio's own queue code on pandas 3 (not ours)
              pytest.mark.filterwarnings("ignore:'future.no_silent_downcasting' is deprecated"),
              pytest.mark.filterwarnings("ignore:The copy keyword is deprecated")]

SMALL = {"depth": "4", "width": "64", "samples": "400", "lr": "0.1", "epochs": "8", "batch": "16"}


def choose(page, elem_id: str, value: str) -> None:
    """Pick `value` in a Gradio dropdown: open it, click the option of that name."""
    page.locator(f"#{elem_id} input").click()
    page.locator(f'#{elem_id} li[aria-label="{value}"]').click()
    page.wait_for_function(f"document.querySelector('#{elem_id} input').value === '{value}'")


def set_numbers(page, values: dict) -> None:
    for elem_id, v in values.items():
        page.fill(f"#{elem_id} input", v)
        page.locator(f"#{elem_id} input").press("Tab")


def img_src(page, elem_id: str) -> str:
    loc = page.locator(f"#{elem_id} img")
    return loc.first.get_attribute("src") if loc.count() else ""


def wait_changed(page, elem_id: str, before: str, what: str = "img") -> None:
    """Wait until #elem_id's image src (what="img") or text (what="text") differs from `before`."""
    js = (f"(b) => {{ const i = document.querySelector('#{elem_id} img'); return !!i && i.src !== b; }}"
          if what == "img" else f"(b) => document.querySelector('#{elem_id}').innerText !== b")
    page.wait_for_function(js, arg=before)


def accuracy(results_text: str, label: str) -> float:
    m = re.search(rf"{re.escape(label)}\s+\d+ / \d+\s+\S+\s+\S+\s+([\d.]+) %", results_text)
    assert m, f"no finished row for {label!r} in:\n{results_text}"
    return float(m.group(1)) / 100


def test_zeros_vs_auto_histograms_verdicts_and_training(page, artifacts):
    set_numbers(page, SMALL)
    choose(page, "init-a", "normal")           # N(0, 1) weights first: the picture zeros must change
    choose(page, "init-b", "auto")
    page.click("#show-init")
    page.wait_for_selector("#histograms img")
    page.wait_for_function("document.querySelector('#verdicts-a').innerText.includes('normal')")
    hist_normal, verdict_normal = img_src(page, "histograms"), page.inner_text("#verdicts-a")
    assert "exploding" in verdict_normal
    assert "healthy" in page.inner_text("#verdicts-b")

    choose(page, "init-a", "zeros")
    page.click("#show-init")
    wait_changed(page, "verdicts-a", verdict_normal, "text")
    wait_changed(page, "histograms", hist_normal)
    verdict_zeros = page.inner_text("#verdicts-a")
    assert "zeros" in verdict_zeros and "symmetric" in verdict_zeros and "Fix" in verdict_zeros
    page.screenshot(path=str(artifacts / "init-zeros-vs-auto.png"), full_page=True)

    curves_before = img_src(page, "curves")
    page.click("#train")
    page.wait_for_function("document.querySelector('#status').innerText.includes('training')")
    wait_changed(page, "curves", curves_before)                      # curves appear while training
    page.wait_for_function("document.querySelector('#status').innerText.includes('finished')", timeout=90_000)
    page.wait_for_selector("#boundary img")
    text = page.inner_text("#initlab-results")
    chance = float(re.search(r"chance[^:]*: ([\d.]+) %", text).group(1)) / 100
    acc_zeros, acc_auto = accuracy(text, "A zeros"), accuracy(text, "B auto")
    assert acc_zeros <= chance + 0.01, text     # all-zero weights: the net predicts one class, at best chance
    assert acc_auto >= 0.9, text                # same data, seed and batches: auto learns the moons
    assert "Traceback" not in page.inner_text("body")
    page.screenshot(path=str(artifacts / "trained-zeros-vs-auto.png"), full_page=True)


def test_depth_beyond_bound_is_a_message_not_a_traceback(page, artifacts):
    set_numbers(page, {"depth": "10000"})
    page.click("#show-init")
    page.wait_for_function("document.querySelector('#initlab-message').innerText.includes('depth')")
    msg = page.inner_text("#initlab-message")
    assert "depth=10000" in msg and "1 to 64" in msg and "Fix:" in msg
    page.click("#train")                       # the same message for Train, and nothing starts
    page.wait_for_timeout(500)
    body = page.inner_text("body")
    assert "Traceback" not in body and "depth=10000" in page.inner_text("#initlab-message")
    page.screenshot(path=str(artifacts / "depth-10000-message.png"))


def test_the_page_answers_during_a_long_run_which_can_be_stopped(page):
    set_numbers(page, {**SMALL, "epochs": "500"})
    page.click("#train")
    page.wait_for_function("document.querySelector('#status').innerText.includes('training')")
    page.wait_for_function("document.querySelector('#initlab-results').innerText.match(/[1-9]\\d* \\/ 500/)")
    # the server stays responsive: new init pictures (another seed) arrive while the run goes on
    hist = img_src(page, "histograms")
    set_numbers(page, {"seed": "7"})
    page.click("#show-init")
    wait_changed(page, "histograms", hist)
    assert "training" in page.inner_text("#status")
    page.click("#stop")
    page.wait_for_function("document.querySelector('#status').innerText.includes('stopped')", timeout=20_000)
    m = re.search(r"(\d+) / 500", page.inner_text("#initlab-results"))
    assert m and 1 <= int(m.group(1)) < 500
