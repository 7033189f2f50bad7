"""The planner page in a real headless Chromium: the numbers it shows equal the API's.

Needs Debian's ``chromium`` and ``chromium-driver`` (``/usr/bin/chromium``,
``/usr/bin/chromedriver``) and the ``selenium`` package; CI installs them. Selenium is pointed
at the system chromedriver so that Selenium Manager never downloads a browser or a driver.
A screenshot of the page is saved to ``test-artifacts/web-e2e.png``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
    pytest.skip("chromium / chromium-driver not installed (apt-get install -y chromium "
                "chromium-driver)", allow_module_level=True)
pytest.importorskip("selenium", reason="selenium not installed (pip install selenium)")
pytest.importorskip("fastapi", reason="the web extra is not installed")

import httpx  # noqa: E402
from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import Select  # noqa: E402

from gigatrain.interfaces.web import service  # noqa: E402
from gigatrain.interfaces.web.app import background_server, create_app  # noqa: E402

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
LLAMA8B_CONFIG = {
    "model_type": "llama", "hidden_size": 4096, "intermediate_size": 14336,
    "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 8,
    "vocab_size": 128256, "hidden_act": "silu", "tie_word_embeddings": False,
}


@pytest.fixture(scope="module")
def base() -> Iterator[str]:
    with background_server(create_app()) as url:
        yield url


@pytest.fixture(scope="module")
def driver() -> Iterator[Any]:
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    profile = tempfile.mkdtemp(prefix="gigatrain-chromium-")
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic",
                 "--window-size=1400,2400", f"--user-data-dir={profile}"):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    d = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    d.set_page_load_timeout(60)
    try:
        yield d
    finally:
        d.quit()
        shutil.rmtree(profile, ignore_errors=True)


# ---------------------------------------------------------------- page helpers
def body_attr(d: Any, name: str) -> str:
    return d.execute_script(f"return document.body.dataset[{name!r}] || ''")


def wait_shown(d: Any, after: int, timeout: float = 30.0) -> int:
    """Wait until the page has rendered a request newer than ``after`` and no newer one is
    pending (stable across more than the page's 200 ms input debounce)."""
    t_end = time.monotonic() + timeout
    stable = 0
    while time.monotonic() < t_end:
        req, shown = body_attr(d, "request"), body_attr(d, "shown")
        if shown and req == shown and int(shown) > after:
            stable += 1
            if stable >= 3:
                return int(shown)
        else:
            stable = 0
        time.sleep(0.15)
    raise AssertionError(f"page did not update (request={body_attr(d, 'request')}, "
                         f"shown={body_attr(d, 'shown')}, error={error_text(d)!r})")


def wait_followup(d: Any, name: str, seq: int, timeout: float = 30.0) -> None:
    t_end = time.monotonic() + timeout
    while time.monotonic() < t_end:
        if body_attr(d, name) == str(seq):
            return
        time.sleep(0.1)
    raise AssertionError(f"{name} did not finish for request {seq}")


def error_text(d: Any) -> str:
    e = d.find_element(By.ID, "error")
    return e.text if e.is_displayed() else ""


def value(d: Any, el_id: str) -> str:
    return d.find_element(By.ID, el_id).get_attribute("data-value")


def form_body(d: Any) -> dict[str, Any]:
    """The request the page's inputs stand for, read field by field (not via the page's JS)."""
    def v(i: str) -> str:
        return d.find_element(By.ID, i).get_attribute("value")

    b: dict[str, Any] = {
        "chip": v("chip"), "chips": int(v("chips")), "seq": int(v("seq")),
        "global_batch": int(v("global_batch")), "tokens": v("tokens"),
        "precision": v("precision"), "framework": v("framework"), "recompute": v("recompute"),
        "zero_stage": int(v("zero_stage")),
        "sequence_parallel": d.find_element(By.ID, "sequence_parallel").is_selected(),
    }
    for k in ("tp", "pp", "cp", "ep", "vpp", "micro_batch", "fsdp_shard"):
        b[k] = int(v(k))
    if v("system"):
        b["system"] = v("system")
    if d.find_element(By.ID, "use-config").is_selected():
        b["config"] = json.loads(d.find_element(By.ID, "config").get_attribute("value"))
    else:
        b["model"] = v("model")
    return b


def _num(text: str) -> float:
    m = re.search(r"[-0-9][0-9,]*\.?[0-9]*", text)
    assert m, text
    return float(m.group(0).replace(",", ""))


def assert_matches_api(d: Any, base: str) -> dict[str, Any]:
    """Every number on the estimate cards equals the API's answer for the page's inputs."""
    body = form_body(d)
    r = httpx.post(f"{base}/api/estimate", json=body, timeout=30)
    assert r.status_code == 200, r.text
    api = r.json()
    exact = {"out-step": "step_time_s", "out-mfu": "mfu", "out-mfu-nc": "mfu_noncausal",
             "out-tps": "tokens_per_s", "out-tps-chip": "tokens_per_s_per_chip",
             "out-mem": "memory_bytes", "out-cap": "memory_capacity_bytes",
             "out-days": "days_to_train", "out-chips": "chips", "out-params": "params_total"}
    for el_id, key in exact.items():
        shown = value(d, el_id)
        want = api[key]
        if want is None:
            assert shown == "", el_id
        else:  # the raw number the page rendered: bit-for-bit the API's float
            assert float(shown) == float(want), (el_id, shown, want)
    assert value(d, "out-system") == api["system"]
    assert value(d, "out-plan") == api["describe"]
    # the formatted text agrees with the number to its displayed precision
    step_text = d.find_element(By.ID, "out-step").text
    scale = 1e-3 if " ms" in step_text else (60 if "min" in step_text else 1)
    assert _num(step_text) * scale == pytest.approx(api["step_time_s"], rel=0.01, abs=0.006 * scale)
    assert _num(d.find_element(By.ID, "out-mfu").text) == pytest.approx(100 * api["mfu"], abs=0.051)
    assert _num(d.find_element(By.ID, "out-mem").text) == pytest.approx(
        api["memory_bytes"] / 2**30, abs=0.051)
    fits = d.find_element(By.ID, "out-fits").text
    assert fits == ("fits" if api["fits"] else "does NOT fit")
    return api


def change(d: Any, el_id: str, text: str) -> None:
    e = d.find_element(By.ID, el_id)
    e.clear()
    e.send_keys(text)
    e.send_keys(Keys.TAB)


# ---------------------------------------------------------------- the test
def test_planner_page_shows_the_api_numbers(driver: Any, base: str) -> None:
    d = driver
    ARTIFACTS.mkdir(exist_ok=True)
    d.get(base + "/")
    seq = wait_shown(d, 0)
    assert error_text(d) == ""
    api = assert_matches_api(d, base)
    assert api["model"] == "llama-3.1-8b" and api["chip"] == "h100-sxm"

    # change the chip: the system picker resets to the chip's default, numbers follow
    before = seq
    Select(d.find_element(By.ID, "chip")).select_by_value("h200")
    seq = wait_shown(d, before)
    assert d.find_element(By.ID, "system").get_attribute("value") == ""
    api = assert_matches_api(d, base)
    assert api["chip"] == "h200"

    # change the chip count by typing
    before = seq
    change(d, "chips", "128")
    seq = wait_shown(d, before)
    api = assert_matches_api(d, base)
    assert api["chips"] == 128

    feats = service.features()
    if feats["cost"]:
        wait_followup(d, "cost", seq)
        cost = httpx.post(f"{base}/api/cost", json={**form_body(d), "pricing": "on_demand"},
                          timeout=30).json()
        total = next(f for f in cost["figures"] if f["id"] == "total")["value"]
        assert float(value(d, "cost-total")) == total
    if feats["fleet"]:
        wait_followup(d, "fleet", seq)
        assert int(float(value(d, "fleet-chips"))) == 128
    if feats["compare"]:
        wait_followup(d, "compare", seq, timeout=60)
        assert d.find_elements(By.CSS_SELECTOR, "#chart-pareto .main-svg")
    if feats["search"]:
        # the best plans for these inputs; clicking one makes it the plan shown
        wait_followup(d, "search", seq, timeout=60)
        rows = d.find_elements(By.CSS_SELECTOR, "#search-table tr.clickable")
        assert rows, d.find_element(By.ID, "search-note").text
        found = httpx.post(f"{base}/api/search", timeout=60, json={
            k: v for k, v in form_body(d).items()
            if k in ("model", "chip", "chips", "seq", "global_batch", "tokens", "precision",
                     "framework")} | {"top": 10}).json()
        before = seq
        rows[0].click()
        seq = wait_shown(d, before)
        api = assert_matches_api(d, base)
        assert api["plan"] == found["plans"][0]["plan"]
        assert api["step_time_s"] == found["plans"][0]["step_time_s"]
        assert api["fits"]

    # a pasted config.json instead of a catalog model
    before = seq
    d.find_element(By.CSS_SELECTOR, "#config-box summary").click()
    d.find_element(By.ID, "config").send_keys(json.dumps(LLAMA8B_CONFIG))
    d.find_element(By.ID, "use-config").click()
    seq = wait_shown(d, before)
    api = assert_matches_api(d, base)
    assert api["model"] == service.PASTED_SLUG
    d.find_element(By.ID, "use-config").click()
    seq = wait_shown(d, seq)

    # bad input: a clear message on the page, no numbers changed into garbage
    before = seq
    change(d, "tp", "3")
    seq = wait_shown(d, before)
    assert "tp" in error_text(d) and body_attr(d, "state") == "error"
    before = seq
    change(d, "tp", "1")
    seq = wait_shown(d, before)
    assert error_text(d) == ""
    assert_matches_api(d, base)

    # the validation chart and table (the model's own error bars) are drawn
    assert d.find_elements(By.CSS_SELECTOR, "#chart-errors .main-svg")
    assert len(d.find_elements(By.CSS_SELECTOR, "#errors-table tr")) > 3
    assert d.find_elements(By.CSS_SELECTOR, "#chart-memory .main-svg")
    assert d.find_elements(By.CSS_SELECTOR, "#chart-time .main-svg")

    d.save_screenshot(str(ARTIFACTS / "web-e2e.png"))
    logs = [e["message"] for e in d.get_log("browser")]
    bad = [m for m in logs if "Content Security Policy" in m or "Uncaught" in m]
    assert not bad, bad


def test_api_docs_render_offline(driver: Any, base: str) -> None:
    """/docs is Swagger UI from local files (no CDN): the operations render."""
    if not service.swagger_ui_dir():
        pytest.skip("swagger-ui-bundle-v2 not installed: /docs is a plain page")
    driver.get(base + "/docs")
    t_end = time.monotonic() + 20
    while time.monotonic() < t_end and not driver.find_elements(By.CSS_SELECTOR, ".opblock"):
        time.sleep(0.2)
    ops = driver.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")
    paths = {o.get_attribute("data-path") or o.text for o in ops}
    assert "/api/estimate" in paths and "/api/search" in paths, paths
    driver.save_screenshot(str(ARTIFACTS / "web-docs.png"))
