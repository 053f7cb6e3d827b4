"""The web page at / in a real headless Chromium (Debian's chromium + chromium-driver, driven by selenium):
upload a PNG, wait for the answer, check the label and the heatmap (occlusion for a model without
convolutions, Grad-CAM drawn over the image for a CNN trained on Fashion-MNIST: the canvas is checked not
blank), save screenshots that are not blank; then paste a sentence for a text model and check the label
and the word highlights."""

from __future__ import annotations

import io
import shutil

import httpx
import numpy as np
import pytest

from tests.serving.helpers import export_tabular, export_text, export_vision, fashion_mnist, running

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1000,900",
]


@pytest.fixture(scope="module")
def site(tmp_path_factory, fashion_version):
    from tfdl.serving.server import create_app

    root = tmp_path_factory.mktemp("saved_models")
    shutil.copytree(fashion_version, root / "fashion" / "1")
    export_vision(root)
    export_tabular(root, "credit", "classification")
    export_text(root)
    app = create_app(root, max_batch=64, batch_wait_ms=2, poll_seconds=60)
    with running(app) as base:
        yield base


def test_page_and_explain_routes(site):
    """Without a browser: the page is served and :explain gives a heatmap where the image differs."""
    from PIL import Image

    page = httpx.get(f"{site}/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert 'id="model"' in page.text and ":upload" in page.text
    img = np.zeros((8, 8), np.uint8)
    img[:, 4:] = 255  # right half bright: the "mid" answer depends on both halves
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG")
    r = httpx.post(f"{site}/v1/models/vision:explain", files={"file": ("x.png", buf.getvalue(), "image/png")})
    assert r.status_code == 200, r.text
    body = r.json()
    heat = np.array(body["heatmap"])
    assert body["method"] == "occlusion" and body["label"] == "mid" and heat.shape == (7, 7)
    assert 0 <= heat.min() and heat.max() == pytest.approx(1.0)
    bad = httpx.post(
        f"{site}/v1/models/credit:explain", files={"file": ("x.png", buf.getvalue(), "image/png")}
    )
    assert bad.status_code == 400 and "not an image or text classifier" in bad.json()["error"]
    text = "a good film with a bad ending but good actors"
    r = httpx.post(
        f"{site}/v1/models/reviews:explain", files={"file": ("t.txt", text.encode(), "text/plain")}
    )
    assert r.status_code == 200, r.text
    body = r.json()
    weights = dict(zip(body["words"], body["weights"], strict=True))
    assert body["label"] == "pos" and body["words"] == text.split()
    assert weights["good"] > 0.5 and weights["bad"] < 0 and abs(weights["film"]) < 1e-3


def _driver():
    if CHROMIUM is None or CHROMEDRIVER is None:
        pytest.skip(
            "chromium / chromedriver not installed and `make test` could not install them "
            "(as root: apt-get install -y chromium chromium-driver)"
        )
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is in the dev extra")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    return webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))


def test_upload_png_in_headless_chromium(site, tmp_path):
    from PIL import Image
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    png = tmp_path / "bright.png"
    Image.fromarray(np.full((8, 8), 250, np.uint8)).save(png)
    (_, _, xte, yte), _ = fashion_mnist()
    garment = tmp_path / "sneaker.png"
    Image.fromarray(xte[int(np.flatnonzero(yte == 7)[0]), :, :, 0]).save(garment)
    want = httpx.post(
        f"{site}/v1/models/fashion:upload", files={"file": ("s.png", garment.read_bytes(), "image/png")}
    ).json()["label"]
    driver = _driver()
    try:
        driver.set_page_load_timeout(60)
        driver.get(f"{site}/")
        wait = WebDriverWait(driver, 60)
        wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-state") == "ready")
        models = [o.text for o in Select(driver.find_element(By.ID, "model")).options]
        assert models == ["credit", "fashion", "reviews", "vision"]
        Select(driver.find_element(By.ID, "model")).select_by_visible_text("vision")
        wait.until(lambda d: d.find_element(By.ID, "in-image").is_displayed())
        assert "labels: dark, mid, bright" in driver.find_element(By.ID, "card").text
        driver.find_element(By.ID, "file").send_keys(str(png))
        driver.find_element(By.ID, "go").click()
        wait.until(
            lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-state") in ("done", "error")
        )
        assert driver.find_element(By.ID, "error").text == ""
        assert driver.find_element(By.ID, "label").text == "bright"
        confidence = driver.find_element(By.ID, "confidence").text
        assert confidence.endswith("%") and float(confidence[:-1]) > 90
        assert driver.find_element(By.ID, "heatmap").is_displayed()
        assert driver.find_element(By.ID, "heatmap-method").text == "occlusion (7\u00d77 regions)"
        # A CNN trained on Fashion-MNIST: its version has a gradcam signature, drawn over the image.
        Select(driver.find_element(By.ID, "model")).select_by_visible_text("fashion")
        wait.until(lambda d: "labels: T-shirt/top" in d.find_element(By.ID, "card").text)
        driver.find_element(By.ID, "file").send_keys(str(garment))
        driver.find_element(By.ID, "go").click()
        wait.until(
            lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-state") in ("done", "error")
        )
        assert driver.find_element(By.ID, "error").text == ""
        assert driver.find_element(By.ID, "label").text == want
        assert driver.find_element(By.ID, "heatmap-method").text == "Grad-CAM"
        colours, spread = driver.execute_script(CANVAS_STATS, "heatmap")
        assert colours > 100 and spread > 20, (colours, spread)  # a drawn map over the image, not blank
        heat_png = tmp_path / "heatmap.png"
        assert driver.find_element(By.ID, "heatmap").screenshot(str(heat_png))
        shot = tmp_path / "page.png"
        assert driver.save_screenshot(str(shot))
        print(f"screenshots: {shot} {heat_png}")
        # A text model: paste a sentence, get the label and one highlighted span per word.
        Select(driver.find_element(By.ID, "model")).select_by_visible_text("reviews")
        wait.until(lambda d: d.find_element(By.ID, "in-text").is_displayed())
        driver.find_element(By.ID, "text").send_keys("not a bad idea but a good one")
        driver.find_element(By.ID, "go").click()
        wait.until(
            lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-state") in ("done", "error")
        )
        assert driver.find_element(By.ID, "error").text == ""
        assert driver.find_element(By.ID, "label").text in ("neg", "pos")
        spans = driver.find_elements(By.CSS_SELECTOR, "#words span")
        assert [s.text for s in spans] == "not a bad idea but a good one".split()
    finally:
        driver.quit()
    pixels = np.asarray(Image.open(shot).convert("RGB"))
    assert pixels.shape[0] > 300 and pixels.shape[1] > 300
    # Not blank: many distinct colours (header, text, score bars, heatmap), not one flat page.
    colours = np.unique(pixels.reshape(-1, 3), axis=0)
    assert len(colours) > 50 and pixels.std() > 20, (len(colours), pixels.std())
    heat = np.asarray(Image.open(heat_png).convert("RGB"))
    assert heat.shape[0] >= 150 and len(np.unique(heat.reshape(-1, 3), axis=0)) > 100 and heat.std() > 20


# (distinct colours, standard deviation of R+G+B) of a canvas' pixels
CANVAS_STATS = """
const c = document.getElementById(arguments[0]);
const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
const seen = new Set();
let s = 0, s2 = 0;
for (let i = 0; i < d.length; i += 4) {
  seen.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]);
  const v = d[i] + d[i + 1] + d[i + 2];
  s += v; s2 += v * v;
}
const n = d.length / 4;
return [seen.size, Math.sqrt(Math.max(0, s2 / n - (s / n) * (s / n)))];
"""
