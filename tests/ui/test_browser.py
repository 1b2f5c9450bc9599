"""End to end: `serve()` in a subprocess over the default index (built in a temporary RAG_HOME),
driven by gradio_client and by headless Chromium through selenium."""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterator

import pytest

from tests.app_process import free_port, running_app

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
STARTUP_SECONDS = 420  # first run: convert the embedding model and build the default index
BOT = "#chat [data-testid='bot']"

# Types the question, then clicks send and times, in the page, the first characters of the new
# answer and the moment the send button is enabled again (the answer is complete).
TIMED_ASK_JS = """
const chat = document.querySelector('#chat');
const send = document.querySelector('#send');
const before = chat.querySelectorAll("[data-testid='bot']").length;
const timing = {lengths: []};
window.__timing = timing;
const observer = new MutationObserver(() => {
  const bots = chat.querySelectorAll("[data-testid='bot']");
  const text = bots.length > before ? bots[bots.length - 1].textContent.trim() : '';
  if (text && timing.lengths[timing.lengths.length - 1] !== text.length) timing.lengths.push(text.length);
  if (text && timing.first === undefined) timing.first = performance.now() - timing.start;
  if (timing.first !== undefined && timing.done === undefined && !send.disabled) {
    timing.done = performance.now() - timing.start;
    observer.disconnect();
  }
});
observer.observe(document.body, {subtree: true, childList: true, characterData: true, attributes: true});
timing.start = performance.now();
send.click();
"""


@pytest.fixture(scope="module")
def server(rag_home: Path, seed_index) -> Iterator[str]:
    # seed_index: the session's default index is built before the app starts, in the session's RAG_HOME
    """URL of `serve()` running in a subprocess on a free loopback port."""
    port = free_port()
    env = {**os.environ, "RAG_HOME": str(rag_home), "PYTHONUNBUFFERED": "1"}
    env.pop("RAG_AUTH", None)
    code = f"from ui.app import serve; serve(host='127.0.0.1', port={port})"
    with running_app([sys.executable, "-c", code], env, port, rag_home / "serve.log", STARTUP_SECONDS) as url:
        yield url


@pytest.mark.slow
def test_gradio_client_ask_endpoint(server: str):
    from gradio_client import Client

    client = Client(server, verbose=False)
    result = client.predict("条例什么时候施行？", 3, api_name="/ask")
    assert "2026年1月1日" in result["text"] and "[1]" in result["text"]
    assert result["citations"][0]["article"] == "第五十一条"
    assert result["abstained"] is False


@pytest.mark.slow
def test_a_failing_request_does_not_break_the_others(server: str):
    from gradio_client import Client

    client = Client(server, verbose=False)
    questions = ["   ", "数据中心用电有什么支持政策？", "\x00\x01", "第十五条讲了什么？"]
    with ThreadPoolExecutor(len(questions)) as pool:
        jobs = [pool.submit(client.predict, q, 3, api_name="/ask") for q in questions]
    outcomes = []
    for job in jobs:
        try:
            outcomes.append(job.result()["citations"][0]["article"])
        except Exception as error:  # gradio_client raises AppError with the app's message
            outcomes.append(str(error))
    assert "问题为空" in outcomes[0] and "问题为空" in outcomes[2]
    from rag import answer

    # each request got the answer it gets alone (same index, same process kind)
    assert outcomes[1] == answer(questions[1], k=3).citations[0].article and outcomes[3] == "第十五条"


def _browser():
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.skip("Chromium and chromedriver are needed (make browser-deps)")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    profile = tempfile.mkdtemp(prefix="chromium-")
    options.add_argument(f"--user-data-dir={profile}")
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.set_window_size(1400, 1000)
    return driver, profile


def _ask(driver, question: str, timeout: float = 120) -> dict:
    """Type the question, click send and wait for the complete answer; returns the page's timings (ms)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.find_element(By.CSS_SELECTOR, "#question textarea").send_keys(question)
    driver.execute_script(TIMED_ASK_JS)
    WebDriverWait(driver, timeout, poll_frequency=0.1).until(
        lambda d: d.execute_script("return window.__timing.done !== undefined")
    )
    return driver.execute_script("return window.__timing")


def _texts(driver, css: str) -> list[str]:
    """The rendered text of each element matching the selector, read in one go in the page
    (no element handles, which go stale when Gradio re-renders)."""
    return driver.execute_script("return [...document.querySelectorAll(arguments[0])].map(e => e.innerText)", css)


@pytest.mark.slow
@pytest.mark.browser
def test_chat_in_a_real_browser(server: str, rag_home: Path, screenshots: Path):
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver, profile = _browser()
    try:
        driver.get(server)
        wait = WebDriverWait(driver, 60, poll_frequency=0.1, ignored_exceptions=[StaleElementReferenceException])
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#question textarea"))
        assert "贵州省大数据发展应用促进条例" in _texts(driver, "#header")[0]
        assert "不构成法律意见" in _texts(driver, "#footer")[0]

        timing = _ask(driver, "条例什么时候施行？")
        print(f"\nfirst answer: first characters after {timing['first']:.0f} ms, complete after {timing['done']:.0f} ms, "
              f"{len(timing['lengths'])} streamed states")
        assert len(timing["lengths"]) >= 3, "the answer should appear progressively"
        (answer,) = _texts(driver, BOT)
        assert "2026年1月1日" in answer and "[1]" in answer
        assert "第五十一条" in _texts(driver, "#sources")[0]
        assert "本条例自2026年1月1日起施行。" in _texts(driver, "#sources mark")
        time.sleep(0.5)  # let the last paint settle
        assert driver.save_screenshot(str(screenshots / "screenshot.png"))

        wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#chat button[aria-label='Like']")).click()
        feedback = rag_home / "feedback.jsonl"
        wait.until(lambda d: feedback.exists() and feedback.read_text(encoding="utf-8").strip())
        record = json.loads(feedback.read_text(encoding="utf-8").splitlines()[-1])
        assert record["vote"] == "up" and record["citations"][0]["article"] == "第五十一条"

        timing = _ask(driver, "那违反了怎么处罚？")
        print(f"follow-up: first characters after {timing['first']:.0f} ms, complete after {timing['done']:.0f} ms")
        first, second = _texts(driver, BOT)
        assert "2026年1月1日" in first, "the first answer stays in the chat"
        assert _texts(driver, f"{BOT} blockquote")[-1].startswith("理解为：")
        assert "[1]" in second

        wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#sources .src-open")).click()
        wait.until(lambda d: "《贵州省大数据发展应用促进条例》第四十九条" in "".join(_texts(d, "#viewer")))
        wait.until(lambda d: [b for b in d.find_elements(By.TAG_NAME, "button") if b.text == "上一条：第四十八条"])[0].click()
        wait.until(lambda d: "《贵州省大数据发展应用促进条例》第四十八条" in "".join(_texts(d, "#viewer")))

        origin = server.rstrip("/")
        resources = driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
        external = [name for name in resources if not name.startswith(origin) and not name.startswith("data:")]
        assert external == [], "the page must not load fonts or scripts from elsewhere"
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
