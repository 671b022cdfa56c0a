"""Fixtures of the web-demo tests: the app on a free port (in this process) and Debian's chromium.

The browser tests need gradio, playwright (pip) and /usr/bin/chromium (apt; never `playwright install`).
Where one of them is missing they skip with the reason, except with CI set, where they fail: `make test`
installs all three.  Screenshots go to test-artifacts/web/ (git-ignored; INITLAB_TEST_ARTIFACTS moves it).
"""
import os
import shutil
import socket
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


def need(what: str, ok: bool) -> None:
    if ok:
        return
    msg = f"{what} is not installed (make test installs it: `make setup`)"
    if os.environ.get("CI"):
        pytest.fail(msg + "; CI is set, so the browser tests must run")
    pytest.skip(msg)


def _importable(name: str) -> bool:
    try:
        __import__(name)
        return True
    except ImportError:
        return False


@pytest.fixture(scope="session")
def artifacts() -> Path:
    d = Path(os.environ.get("INITLAB_TEST_ARTIFACTS", REPO / "test-artifacts")) / "web"
    d.mkdir(parents=True, exist_ok=True)
    return d


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def app_url():
    need("gradio (the 'demo' extra)", _importable("gradio"))
    import torch
    from initlab.web import launch
    before = torch.get_num_threads()
    port = free_port()
    demo = launch("127.0.0.1", port, block=False)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        demo.close()
        torch.set_num_threads(before)


@pytest.fixture(scope="module")
def browser():
    need("playwright (pip)", _importable("playwright"))
    need(f"chromium ({CHROMIUM}, Debian package 'chromium')", os.path.exists(CHROMIUM) or bool(shutil.which("chromium")))
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM if os.path.exists(CHROMIUM) else shutil.which("chromium"),
                              args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser, app_url):
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = ctx.new_page()
    pg.set_default_timeout(30_000)
    pg.goto(app_url)
    pg.wait_for_selector("#train")
    try:
        yield pg
    finally:
        ctx.close()
