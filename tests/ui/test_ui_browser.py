"""The web interface in a real browser: Debian's headless Chromium driven by Playwright.

One pass through the page as a user would go: upload a generated target clip, wait for the stick
figure preview, train the ``tiny`` preset for a few steps, upload a generated source clip,
transfer, and find the result video on the page (and in the workspace). Screenshots of each step
go to ``$DANCENOW_UI_SCREENSHOTS`` (default: the test's tmp folder).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

import pytest

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.is_file():
    pytest.skip(
        f"{CHROMIUM} not found: install Debian's chromium (apt-get install chromium) for the browser test",
        allow_module_level=True,
    )
pytest.importorskip("gradio", reason="the ui extra is not installed (pip install -e '.[ui]')")
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (dev extra)")

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    # without these Chromium's own background connections stall page loads on a closed network
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    from dancenow.synthetic import SOURCE, TARGET, make_clip

    root = tmp_path_factory.mktemp("clips")
    make_clip(root / "target_dancer.mp4", seconds=2, fps=15, size=(256, 256), appearance=TARGET, seed=1)
    make_clip(root / "source_dancer.mp4", seconds=1, fps=15, size=(320, 240), appearance=SOURCE, seed=2)
    return root


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """``dancenow ui`` in its own process (as a user starts it), on a free port."""
    workspace = tmp_path_factory.mktemp("ws")
    port = free_port()
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    log = open(workspace.parent / "ui.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "-m", "dancenow", "ui", "--port", str(port), "--workspace", str(workspace)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 90
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            log.close()
            pytest.fail(f"dancenow ui did not start:\n{(workspace.parent / 'ui.log').read_text()}")
        time.sleep(0.5)
    yield url, workspace
    proc.terminate()  # SIGTERM: the server closes and stops any training job with a checkpoint
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


def pick(page, elem_id: str, option: str) -> None:
    """Choose ``option`` in a gradio dropdown."""
    page.locator(f"#{elem_id} input").click()
    page.get_by_role("option", name=option, exact=True).click()


def test_upload_train_transfer_in_a_real_browser(server, clips, tmp_path):
    from dancenow.video import probe

    url, workspace = server
    shots = Path(os.environ.get("DANCENOW_UI_SCREENSHOTS", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    outside: list[str] = []  # requests for anything not served by the app
    blocked: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("request", lambda r: None if _local(r.url) else outside.append(r.url))
        page.on("requestfailed", lambda r: blocked.append(r.url) if r.failure == "csp" else None)
        page.set_default_timeout(30_000)
        page.goto(url)
        page.get_by_text("make anyone dance").wait_for()

        # 1. target: upload, detect poses, see the stick figures
        page.locator("#target-video input[type=file]").set_input_files(str(clips / "target_dancer.mp4"))
        page.locator("#target-video video").wait_for()
        pick(page, "size", "64 (quick test)")
        page.locator("#analyze").click()
        page.locator("#preview video").wait_for(timeout=120_000)
        assert page.locator("#preview video").get_attribute("src")
        page.get_by_text("dataset prepared at 64x64").wait_for()
        page.screenshot(path=shots / "1_target.png", full_page=True)

        # 2. train the tiny preset for a few steps; wait for losses and the sample grid
        pick(page, "preset", "tiny")
        page.locator("#steps input").fill("3")
        page.locator("#train").click()
        page.locator("#train-status").get_by_text("finished", exact=False).wait_for(timeout=180_000)
        page.locator("#sample img").wait_for()
        assert page.locator("#sample img").get_attribute("src")
        page.locator("#losses img").wait_for()
        page.screenshot(path=shots / "2_trained.png", full_page=True)
        runs = list((workspace / "runs").iterdir())
        assert len(runs) == 1 and (runs[0] / "global_generator.safetensors").is_file()

        # 3. transfer a source clip with the new model
        pick(page, "model", runs[0].name)
        page.locator("#source-video input[type=file]").set_input_files(str(clips / "source_dancer.mp4"))
        page.locator("#source-video video").wait_for()
        page.locator("#transfer").click()
        page.locator("#result video").wait_for(timeout=180_000)
        page.locator("#side-by-side video").wait_for()
        src = page.locator("#result video").get_attribute("src")
        assert src and "result.mp4" in src
        page.get_by_text("frames at 15.0 fps").wait_for()
        page.screenshot(path=shots / "3_result.png", full_page=True)
        # the browser can fetch the video the page shows
        response = page.request.get(src if src.startswith("http") else url.rstrip("/") + src)
        assert response.ok and len(response.body()) > 1000
        browser.close()

    # uploads and gradio's copies stay in the workspace (GRADIO_TEMP_DIR), not in a shared /tmp
    assert any((workspace / ".gradio").rglob("target_dancer.mp4"))
    results = list((workspace / "results").glob("*/result.mp4"))
    assert len(results) == 1
    info = probe(results[0])
    assert info.codec == "h264" and info.num_frames == probe(clips / "source_dancer.mp4").num_frames
    assert probe(results[0].with_name("result_side_by_side.mp4")).num_frames == info.num_frames
    # gradio's frontend refers to CDN files; the app's Content-Security-Policy makes the browser
    # refuse them before any connection, so the page loads nothing from the internet
    assert all(u in blocked for u in outside), sorted(set(outside) - set(blocked))


def _local(url: str) -> bool:
    parsed = urlparse(url)
    return parsed.scheme not in ("http", "https", "ws", "wss") or parsed.hostname == "127.0.0.1"
