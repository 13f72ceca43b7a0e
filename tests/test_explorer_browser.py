"""The web explorer (latentforge/serve/static/) in a real browser: Debian's Chromium, driven
headless by Playwright, against `create_app` served by uvicorn on 127.0.0.1, with a tiny
conv_ae, a tiny dcgan and a tiny conditional dcgan (8x8 digits) trained once into a tmp
folder.

Every test fails on a console error, an uncaught page error, a failed request or an HTTP
error answer it did not provoke on purpose. Skipped (one line) only without the playwright
module or a Chromium binary; Playwright's own browser download is never used.

The README's screenshot: `LATENTFORGE_SCREENSHOT=docs/explorer.png` writes it;
`LATENTFORGE_SCREENSHOT_RUN=RUN_DIR` takes it of that run (copied into the tmp runs folder,
e.g. a small conv_ae trained on Fashion-MNIST) instead of the tiny conv_ae.
"""
from __future__ import annotations

import io
import os
import shutil
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from conftest import tiny_overrides

sync_api = pytest.importorskip("playwright.sync_api",
                               reason="the playwright module is not installed")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None,
                                reason="no Chromium binary (chromium or chromium-browser)")

TIMEOUT_MS = 15_000  # each wait in the page; tiny runs answer in milliseconds
SHOT_SOURCE = os.environ.get("LATENTFORGE_SCREENSHOT_RUN")
SHOT_RUN = Path(SHOT_SOURCE).name if SHOT_SOURCE else "conv_ae"


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory):
    """runs/conv_ae, runs/dcgan and runs/cdcgan (conditional), tiny and trained, plus the
    screenshot run when one is given."""
    import torch

    import latentforge as lf

    if SHOT_RUN in ("dcgan", "cdcgan") or (SHOT_SOURCE and SHOT_RUN == "conv_ae"):
        pytest.fail(f"LATENTFORGE_SCREENSHOT_RUN={SHOT_SOURCE}: the test's own runs use the "
                    f"name {SHOT_RUN!r}; copy the run under another name")
    runs = tmp_path_factory.mktemp("explorer") / "runs"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for name in ("conv_ae", "dcgan"):
            lf.train(name, overrides=tiny_overrides(name, epochs=3), run_dir=runs / name)
        lf.train("dcgan", overrides=tiny_overrides("dcgan", "model.conditional=true"),
                 run_dir=runs / "cdcgan")
    finally:
        torch.set_num_threads(threads)
    if SHOT_SOURCE:
        shutil.copytree(SHOT_SOURCE, runs / SHOT_RUN)
    return runs


@pytest.fixture(scope="module")
def server(runs_dir):
    """The app on 127.0.0.1 (a free port) in a background thread; its base URL."""
    import uvicorn

    from latentforge.serve.app import create_app

    config = uvicorn.Config(create_app(runs_dir), host="127.0.0.1", port=0,
                            log_level="warning")
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, name="explorer-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not uv.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            uv.should_exit = True
            pytest.fail("uvicorn did not start within 30 s")
        time.sleep(0.05)
    port = uv.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    uv.should_exit = True
    thread.join(timeout=10)
    assert not thread.is_alive(), "uvicorn did not stop within 10 s"


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield chromium
        chromium.close()


class Problems(list):
    """What went wrong in the page: console errors, page errors, failed requests, HTTP
    error answers. `expect(status)` allows an answer a test provokes on purpose (and
    Chromium's console line about it)."""

    def __init__(self, page):
        super().__init__()
        self.allowed = []
        page.on("console", lambda m: m.type == "error" and self.append(f"console: {m.text}"))
        page.on("pageerror", lambda e: self.append(f"page error: {e}"))
        page.on("requestfailed", lambda r: self.append(f"failed: {r.method} {r.url} {r.failure}"))
        page.on("response", lambda r: r.status >= 400 and self.append(f"HTTP {r.status}: {r.url}"))

    def expect(self, status: int) -> None:
        self.allowed += [f"HTTP {status}: ", f"status of {status} "]

    def unexpected(self) -> list[str]:
        return [p for p in self if not any(a in p for a in self.allowed)]


@pytest.fixture
def page(browser, server):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    tab = context.new_page()
    tab.problems = Problems(tab)
    tab.goto(server + "/")
    yield tab
    context.close()


def png(draw) -> bytes:
    """A 28x28 grayscale PNG: draw(ImageDraw) paints white on black."""
    image = Image.new("L", (28, 28))
    draw(ImageDraw.Draw(image))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


RING = png(lambda d: d.ellipse((6, 4, 22, 24), outline=255, width=3))
BAR = png(lambda d: d.rectangle((12, 3, 16, 25), fill=255))


def choose(page, run: str) -> None:
    """Select `run` and wait until its sections have loaded."""
    page.wait_for_selector(f"#run-select option[value='{run}']", state="attached")
    if page.input_value("#run-select") != run:
        page.select_option("#run-select", run)
    page.wait_for_function(
        "run => document.body.dataset.run === run"
        " && !document.querySelector('main > section[aria-busy]')", arg=run)


def upload(page, data: bytes, name: str = "image.png") -> None:
    """Upload an image and wait for the answers of every endpoint it went to."""
    before = page.get_attribute("#input-image", "src")
    page.set_input_files("#upload", files=[{"name": name, "mimeType": "image/png",
                                            "buffer": data}])
    settle(page, "#input-image", before)


def settle(page, selector: str, before) -> str:
    """Wait until `selector`'s src differs from `before` and no section is busy; the src."""
    page.wait_for_function(
        "([sel, before]) => { const img = document.querySelector(sel);"
        " return img.getAttribute('src') && img.getAttribute('src') !== before"
        " && !document.querySelector('main > section[aria-busy]'); }", arg=[selector, before])
    return page.get_attribute(selector, "src")


def count(page, selector: str) -> int:
    return page.locator(selector).count()


def assert_clean(page) -> None:
    assert page.is_hidden("#error"), page.inner_text("#error")
    assert page.problems.unexpected() == []


def move_sliders(page) -> str:
    """Push the first two sliders to their ends with the keyboard; the decoded image."""
    before = page.get_attribute("#slider-image", "src")
    page.focus("#z-0")
    page.keyboard.press("End")
    page.focus("#z-1")
    page.keyboard.press("Home")
    return settle(page, "#slider-image", before)


def test_autoencoder_run(page):
    choose(page, "conv_ae")
    assert "conv_ae" in page.inner_text("#run-info")
    assert "reconstruct" in page.inner_text("#run-info .chips")
    for shown in ("#sec-input", "#sec-sliders", "#sec-interp", "#sec-map", "#sec-curves"):
        assert page.is_visible(shown), shown
    assert page.is_hidden("#sec-samples")  # a conv_ae cannot generate
    assert page.is_hidden("#slider-seed-controls")

    upload(page, RING, "ring.png")
    reconstruction = page.get_attribute("#reconstruction", "src")
    assert reconstruction.startswith("data:image/png;base64,")
    latent_dim = page.evaluate("fetch('/api/runs/conv_ae').then(r => r.json())")["latent_dim"]
    assert count(page, "#codings-chart svg rect.bar") == latent_dim
    assert count(page, "#sliders input[type=range]") == min(latent_dim, 16)
    assert "threshold" in page.inner_text("#anomaly")
    assert count(page, "#similar img") == 8
    assert "MSE" in page.inner_text("#reconstruction-error")

    # the sliders start from the encoded codings; moving them changes the decoded image
    settled = page.get_attribute("#slider-image", "src")
    assert settled.startswith("data:image/png;base64,")
    assert "last encoded image" in page.inner_text("#sliders-source")
    assert move_sliders(page) != settled

    # interpolation between the last two encoded images
    page.select_option("#interp-mode", "images")
    assert "Encode 1 more image" in page.inner_text("#interp-hint")
    upload(page, BAR, "bar.png")
    assert page.get_attribute("#reconstruction", "src") != reconstruction
    page.fill("#interp-steps", "5")
    page.click("#interpolate")
    page.wait_for_function("document.querySelectorAll('#interp-strip img').length === 5")

    # drawing on the pad encodes the drawing when the stroke ends
    before = page.get_attribute("#input-image", "src")
    page.click("#clear-canvas")
    box = page.locator("#draw-canvas").bounding_box()
    page.mouse.move(box["x"] + 40, box["y"] + 40)
    page.mouse.down()
    page.mouse.move(box["x"] + 150, box["y"] + 150, steps=8)
    page.mouse.up()
    settle(page, "#input-image", before)

    # the map (scatter coloured by label, a thumbnail on hover) and the learning curves
    page.wait_for_selector("#map circle.point", state="attached")
    assert count(page, "#map-legend li") >= 2
    page.hover("#map circle.point >> nth=0", force=True)  # points may overlap
    page.wait_for_function("document.querySelector('#map-tip-image').complete"
                           " && document.querySelector('#map-tip-image').naturalWidth > 0")
    assert page.is_visible("#map-tip")
    assert count(page, "#curves svg polyline") == 2  # loss and val_loss
    assert_clean(page)


def test_gan_run(page):
    choose(page, "dcgan")
    assert page.is_visible("#sec-samples") and page.is_hidden("#sec-map")
    assert page.is_hidden("#sample-truncation-field")  # truncation: style models only
    assert page.is_hidden("#sample-label-field")  # not conditional
    assert page.inner_text("#h-input") == "Score an image"  # anomaly only: no encoder
    page.wait_for_function("document.querySelectorAll('#samples img').length === 16")

    page.fill("#sample-seed", "3")
    page.fill("#sample-n", "9")
    first = page.get_attribute("#samples img >> nth=0", "src")
    page.click("#generate")
    page.wait_for_function("document.querySelectorAll('#samples img').length === 9")
    assert page.get_attribute("#samples img >> nth=0", "src") != first  # another seed

    # sliders start from seed 0's codings; a click on a sample starts them from its own
    assert "seed 0" in page.inner_text("#sliders-source")
    settled = page.get_attribute("#slider-image", "src")
    assert move_sliders(page) != settled
    page.click("#samples button >> nth=2")
    assert "sample 2 of seed 3" in page.inner_text("#sliders-source")
    assert page.get_attribute("#slider-image", "src") == page.get_attribute(
        "#samples img >> nth=2", "src")

    page.fill("#interp-seed-b", "7")
    page.fill("#interp-steps", "6")
    page.click("#interpolate")
    page.wait_for_function("document.querySelectorAll('#interp-strip img').length === 6")
    upload(page, RING)
    assert "threshold" in page.inner_text("#anomaly")
    assert_clean(page)


def test_conditional_gan_run(page):
    choose(page, "cdcgan")
    assert page.is_hidden("#sec-input")  # no encoder, no anomaly score
    assert page.is_visible("#sample-label-field") and page.is_visible("#slider-label-field")
    assert page.locator("#sample-label option").count() == 11  # "every class" + 10 digits
    every = page.get_attribute("#samples img >> nth=1", "src")
    page.select_option("#sample-label", "3")
    page.click("#generate")
    settle(page, "#samples button:nth-child(2) img", every)  # class 3 now, not class 1
    before = page.get_attribute("#slider-image", "src")
    page.select_option("#slider-label", "5")  # the same z decoded as another class
    assert settle(page, "#slider-image", before) != before
    page.click("#interpolate")
    page.wait_for_function("document.querySelectorAll('#interp-strip img').length === 8")
    assert_clean(page)


def test_api_errors_are_shown_in_the_page(page):
    choose(page, "conv_ae")
    page.problems.expect(415)
    page.problems.expect(422)
    page.set_input_files("#upload", files=[{"name": "notes.png", "mimeType": "image/png",
                                            "buffer": b"not an image at all"}])
    page.wait_for_selector("#error", state="visible")
    text = page.inner_text("#error-text")
    assert text.startswith(("Reconstruct:", "Anomaly score:", "Nearest items:")), text
    assert "HTTP 4" in text
    assert any(p.startswith(("HTTP 415", "HTTP 422")) for p in page.problems)
    page.click("#error-close")
    assert page.is_hidden("#error")
    assert page.problems.unexpected() == []


def test_screenshot(page, server, tmp_path):
    """The README's picture: a run after two uploads of its own test items, a slider moved,
    an interpolation and a map. Written to LATENTFORGE_SCREENSHOT when that is set."""
    run = SHOT_RUN  # the tiny conv_ae unless LATENTFORGE_SCREENSHOT_RUN names another
    choose(page, run)

    def item(index: int) -> bytes:
        with urllib.request.urlopen(f"{server}/api/runs/{run}/items/{index}.png",
                                    timeout=10) as answer:
            return answer.read()

    upload(page, item(1), "item-1.png")
    upload(page, item(0), "item-0.png")
    move_sliders(page)
    page.select_option("#interp-mode", "images")
    page.fill("#interp-steps", "10")
    page.click("#interpolate")
    page.wait_for_function("document.querySelectorAll('#interp-strip img').length === 10")
    page.wait_for_selector("#map circle.point", state="attached")
    page.hover("#map circle.point >> nth=5", force=True)
    page.wait_for_function("document.querySelector('#map-tip-image').naturalWidth > 0")
    assert_clean(page)
    shot = tmp_path / "explorer.png"
    page.screenshot(path=str(shot), full_page=True)
    with Image.open(shot) as image:
        assert image.width == 1280 and image.height > 900
    target = os.environ.get("LATENTFORGE_SCREENSHOT")
    if target:
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, target)
