"""End to end: `rag serve --index LIBRARY` in a subprocess. The four library endpoints through gradio_client,
with questions asked while a law is added; and the 法规库 tab in headless Chromium: upload a .docx, a text PDF
and a file whose article numbers skip, see the preview and the progress, ask about the new laws, open one in
the viewer, remove one. Screenshots of the tab go to $RAG_SCREENSHOTS (library*.png; the `screenshots` fixture)."""

from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest

from rag import library as lib
from tests.app_process import free_port, running_app
from tests.library_laws import (
    DOG_QUESTION,
    DOG_TITLE,
    PARK_TITLE,
    PARKING_TITLE,
    TREE_QUESTION,
    TREE_TITLE,
    write_laws,
)

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
STARTUP_SECONDS = 420  # when run alone: convert the embedding model first
BOT = "#chat [data-testid='bot']"

# Records, in the page, every progress indicator Gradio shows (its text) until the add or remove is done.
WATCH_PROGRESS_JS = """
window.__progress = [];
const observer = new MutationObserver(() => {
  document.querySelectorAll('#library-status .progress-text, #library-status .progress-level-inner').forEach(e => {
    const text = e.textContent.trim();
    if (text && !window.__progress.includes(text)) window.__progress.push(text);
  });
});
observer.observe(document.body, {subtree: true, childList: true, characterData: true, attributes: true});
"""


@pytest.fixture(scope="module")
def laws(tmp_path_factory) -> dict[str, Path]:
    return write_laws(tmp_path_factory.mktemp("files"))


@pytest.fixture(scope="module")
def served(tmp_path_factory, laws, rag_home) -> lib.Library:
    """The library the server serves: the park law to begin with."""
    library = lib.create_library("单位制度", root=tmp_path_factory.mktemp("libraries"))
    lib.add_laws(library, [laws["park"]])
    return library


@pytest.fixture(scope="module")
def server(served: lib.Library, rag_home: Path) -> Iterator[str]:
    port = free_port()
    env = {**os.environ, "RAG_HOME": str(rag_home), "PYTHONUNBUFFERED": "1"}
    env.pop("RAG_AUTH", None)
    command = [sys.executable, "-c", "import sys; from rag.cli import main; sys.exit(main(sys.argv[1:]))",
               "serve", "--index", str(served.path), "--port", str(port)]
    with running_app(command, env, port, rag_home / "library-serve.log", STARTUP_SECONDS) as url:
        yield url


def _cited(result: dict) -> set[str]:
    return {c["law"] for c in result["citations"]}


@pytest.mark.slow
def test_the_library_endpoints_over_gradio_client(server: str, served: lib.Library, laws):
    from gradio_client import Client, handle_file

    client = Client(server, verbose=False)
    listed = client.predict(api_name="/list_laws")
    assert [(law["title"], law["articles"]) for law in listed] == [(PARK_TITLE, 4)] and listed[0]["doc_id"]

    files = [handle_file(str(laws["dog"])), handle_file(str(laws["parking"]))]
    previews = client.predict(files, api_name="/preview_laws")
    assert [(p["title"], p["articles"], p["blocking"]) for p in previews] == [(DOG_TITLE, 5, False), (PARKING_TITLE, 4, True)]
    assert previews[0]["outline"] == ["第一章 总则", "第二章 养犬行为"] and "条号跳过" in previews[1]["warnings"][0]
    assert [law.title for law in lib.list_laws(served)] == [PARK_TITLE], "a preview adds nothing"

    results = client.predict(files, api_name="/add_laws")
    assert [(r["title"], r["articles"], r["added"]) for r in results] == [(DOG_TITLE, 5, True), (PARKING_TITLE, 4, False)]
    assert results[1]["warnings"] and "条号" in results[1]["note"]
    assert {law["title"] for law in client.predict(api_name="/list_laws")} == {PARK_TITLE, DOG_TITLE}
    assert DOG_TITLE in _cited(client.predict(DOG_QUESTION, 3, api_name="/ask"))

    # questions asked while a law is added are all answered, from the old version or the new one
    job = client.submit([handle_file(str(laws["tree"]))], api_name="/add_laws")
    during = []
    while not job.done():
        during.append(client.predict(TREE_QUESTION, 3, api_name="/ask"))
    assert job.result()[0]["added"]
    assert all(_cited(r) <= {PARK_TITLE, DOG_TITLE, TREE_TITLE} for r in during)
    assert TREE_TITLE in _cited(client.predict(TREE_QUESTION, 3, api_name="/ask")), "the new version is used once complete"

    assert client.predict(TREE_TITLE, api_name="/remove_law")["title"] == TREE_TITLE
    dog_id = next(law["doc_id"] for law in client.predict(api_name="/list_laws") if law["title"] == DOG_TITLE)
    assert client.predict(dog_id, api_name="/remove_law")["title"] == DOG_TITLE
    assert [law["title"] for law in client.predict(api_name="/list_laws")] == [PARK_TITLE]
    assert TREE_TITLE not in _cited(client.predict(TREE_QUESTION, 3, api_name="/ask"))
    with pytest.raises(Exception, match="没有这部法规"):
        client.predict("不存在的法规", api_name="/remove_law")
    changes = lib.read_changes(served)
    assert [(c["action"], c["via"]) for c in changes[:4]] == [("remove", "api"), ("remove", "api"), ("add", "api"), ("add", "api")]


def _browser():
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.skip("Chromium and chromedriver are needed (make browser-deps)")
    import tempfile

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run", "--lang=zh-CN"):
        options.add_argument(flag)
    options.add_experimental_option("prefs", {"intl.accept_languages": "zh-CN,zh"})  # Gradio's own words in Chinese
    profile = tempfile.mkdtemp(prefix="chromium-")
    options.add_argument(f"--user-data-dir={profile}")
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.set_window_size(1400, 1000)
    return driver, profile


def _texts(driver, css: str) -> list[str]:
    return driver.execute_script("return [...document.querySelectorAll(arguments[0])].map(e => e.innerText)", css)


def _tab(driver, name: str) -> None:
    driver.execute_script(
        "[...document.querySelectorAll(\"button[role='tab']\")].find(b => b.innerText.trim() === arguments[0]).click()", name)


def _ask(driver, wait, question: str) -> str:
    """Ask on the chat tab; the complete answer's text."""
    from selenium.webdriver.common.by import By

    before = len(_texts(driver, BOT))
    box = driver.find_element(By.CSS_SELECTOR, "#question textarea")
    box.send_keys(question)
    driver.find_element(By.CSS_SELECTOR, "#send").click()
    def done(d) -> bool:
        bots = _texts(d, BOT)
        finished = len(bots) > before and ("来源" in bots[-1] or "最接近的条文" in bots[-1] or "出错了" in bots[-1])
        return finished and d.find_element(By.CSS_SELECTOR, "#send").is_enabled()

    wait.until(done)
    return _texts(driver, BOT)[-1]


def _shot(driver, folder: Path, name: str) -> None:
    time.sleep(0.4)  # let the last paint settle
    assert driver.save_screenshot(str(folder / name))


@pytest.mark.slow
@pytest.mark.browser
def test_the_library_tab_in_a_real_browser(server: str, served: lib.Library, laws, screenshots: Path):
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver, profile = _browser()
    try:
        driver.get(server)
        wait = WebDriverWait(driver, 90, poll_frequency=0.1, ignored_exceptions=[StaleElementReferenceException])
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#question textarea"))
        _tab(driver, "法规库")
        wait.until(lambda d: PARK_TITLE in "".join(_texts(d, "#library-laws")))
        assert "单位制度" in _texts(driver, "#library-info")[0]

        # upload three files: the preview shows what was understood, and keeps out the broken one
        upload = driver.find_element(By.CSS_SELECTOR, "#library-upload input[type=file]")
        upload.send_keys("\n".join(str(laws[name]) for name in ("dog", "tree", "parking")))
        wait.until(lambda d: "条号有问题，不会添加" in "".join(_texts(d, "#library-preview")))
        preview = _texts(driver, "#library-preview")[0]
        assert f"《{DOG_TITLE}》 5 条" in preview and f"《{TREE_TITLE}》 5 条" in preview
        assert "第三条　携犬出户时" in preview and "章节：第一章 总则　第二章 养犬行为" in preview
        assert "条号跳过：第二条之后是第四条" in preview and "共 3 个文件，2 个可以添加，1 个不会添加" in preview
        driver.execute_script("document.querySelector('#library-upload').scrollIntoView({block: 'start'})")
        _shot(driver, screenshots, "library-preview.png")

        # add them: the progress shows while the build runs, then the list holds the two new laws
        driver.execute_script(WATCH_PROGRESS_JS)
        driver.find_element(By.CSS_SELECTOR, "#library-add").click()
        wait.until(lambda d: "新版本已启用" in "".join(_texts(d, "#library-status")))
        progress = driver.execute_script("return window.__progress")
        assert any("编码新的条文" in p or "解析文件" in p or "启用新版本" in p for p in progress), progress
        status = _texts(driver, "#library-status")[0]
        assert f"已添加：《{DOG_TITLE}》" in status and f"已添加：《{TREE_TITLE}》" in status and "未添加" in status
        listed = _texts(driver, "#library-laws")[0]
        assert DOG_TITLE in listed and TREE_TITLE in listed and PARKING_TITLE not in listed
        assert "城市绿化管理条例.pdf" in listed and "养犬管理规定.docx" in listed
        driver.execute_script("window.scrollTo(0, 0)")
        _shot(driver, screenshots, "library.png")

        # ask about each new law: the answers cite them
        _tab(driver, "问答")
        assert f"《{DOG_TITLE}》第三条" in _ask(driver, wait, DOG_QUESTION)
        assert f"《{TREE_TITLE}》第三条" in _ask(driver, wait, TREE_QUESTION)
        assert DOG_TITLE in _texts(driver, "#header")[0] or "3 部法规" in _texts(driver, "#header")[0]

        # open a law from the list: its articles in the viewer
        _tab(driver, "法规库")
        driver.execute_script(
            "[...document.querySelectorAll('#library-laws .law-open')].find(b => b.innerText === arguments[0]).click()", DOG_TITLE)
        wait.until(lambda d: f"《{DOG_TITLE}》第一条" in "".join(_texts(d, "#viewer")))
        wait.until(lambda d: "下一条：第二条" in "".join(_texts(d, "button")))
        _shot(driver, screenshots, "library-viewer.png")

        # remove the PDF law after confirming: it is no longer cited
        _tab(driver, "法规库")
        driver.find_element(By.CSS_SELECTOR, f"#library-laws .law-remove[data-title='{TREE_TITLE}']").click()
        wait.until(lambda d: TREE_TITLE in "".join(_texts(d, "#library-confirm-remove")))
        driver.execute_script(WATCH_PROGRESS_JS)
        driver.find_element(By.CSS_SELECTOR, "#library-remove-yes").click()
        wait.until(lambda d: "已删除" in "".join(_texts(d, "#library-status")))
        assert TREE_TITLE not in _texts(driver, "#library-laws")[0]
        _tab(driver, "问答")
        assert TREE_TITLE not in _ask(driver, wait, TREE_QUESTION)
        assert [c["via"] for c in lib.read_changes(served)[:2]] == ["web", "web"]
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
