"""The HTML leaderboard: a self-contained page, checked as text and driven in headless Chromium
through the DevTools protocol (a small websocket client on aiohttp): the demo's page has every
benchmark's section and no horizontal scroll at 1280 px (screenshots at 1280 px and 390 px);
a page of hostile names loads offline, clicking a header sorts the rows, details expand."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import shutil
import struct
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from tests.helpers import run_cli
from tests.reports.runs import summary_run, task

HOSTILE = 'x</td><script>alert(1)</script><b onmouseover="1">"&'


@pytest.fixture
def page(tmp_path) -> Path:
    root = tmp_path / "results"
    summary_run(root, "a", "org/model-a", {"rewardbench": task(0.81, [0.79, 0.83], 2985, Chat=(0.9, [0.85, 0.95], 358),
                                                               Chat_Hard=(0.4, [0.35, 0.45], 456))})
    summary_run(root, "b", "org/model-b", {"rewardbench": task(0.86, [0.84, 0.88], 2985, Chat=(0.7, [0.65, 0.75], 358),
                                                               Chat_Hard=(0.6, [0.55, 0.65], 456))})
    summary_run(root, "c", HOSTILE, {"rewardbench": task(0.5, [0.4, 0.6], 100, Chat=(0.8, None, 50),
                                                         Chat_Hard=(None, None, 0))})
    out = tmp_path / "board.html"
    res = run_cli("leaderboard", str(root), "--format", "html", "-o", str(out))
    assert res.returncode == 0, res.stderr
    return out


def test_page_is_self_contained_and_escaped(page):
    text = page.read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", text), "the page must not fetch anything"
    assert "@import" not in text and "url(" not in text
    assert text.count("<script>") == 1  # ours only: the hostile name is text, not markup
    assert "alert(1)</script>" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert '<b onmouseover' not in text
    # one task: its table in RewardBench's layout, no overview; a chart per column that has a value
    assert 'id="task-rewardbench"' in text and 'id="overview"' not in text
    assert text.count("<svg") == 3


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """One headless Chromium for the module; yields its DevTools page target's websocket URL."""
    exe = _chromium()
    profile = tmp_path_factory.mktemp("chromium-profile")
    proc = subprocess.Popen([exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                             "--disable-component-update", "--disable-sync", "--no-first-run",
                             "--hide-scrollbars", f"--user-data-dir={profile}", "--remote-debugging-port=0",
                             "--window-size=1280,900", "about:blank"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not (port_file.exists() and port_file.read_text().strip()):
            assert proc.poll() is None, "chromium exited early"
            assert time.monotonic() < deadline, "chromium did not open its DevTools port"
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as r:
            target = next(t for t in json.load(r) if t["type"] == "page")
        yield target["webSocketDebuggerUrl"]
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def _chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if not exe:
        pytest.skip("chromium is not installed (Debian: apt-get install -y chromium; .ci/run installs it)")
    return exe


class DevTools:
    """Just enough of the Chrome DevTools protocol: commands and the events seen meanwhile."""

    def __init__(self, ws):
        self.ws = ws
        self.next_id = 0
        self.events: list[dict] = []

    async def send(self, method: str, **params):
        self.next_id += 1
        mine = self.next_id
        await self.ws.send_json({"id": mine, "method": method, "params": params})
        while True:
            msg = await asyncio.wait_for(self.ws.receive_json(), 30)
            if msg.get("id") == mine:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            if "method" in msg:
                self.events.append(msg)

    async def wait_event(self, name: str, timeout: float = 30):
        deadline = time.monotonic() + timeout
        while not any(e["method"] == name for e in self.events):
            msg = await asyncio.wait_for(self.ws.receive_json(), max(0.1, deadline - time.monotonic()))
            if "method" in msg:
                self.events.append(msg)

    async def js(self, expression: str):
        res = await self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in res:
            raise RuntimeError(res["exceptionDetails"])
        return res["result"].get("value")


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


DEMO_SECTIONS = ["overview", "task-bon", "task-judgebench", "task-pandalm", "task-ppe_correctness", "task-rewardbench",
                 "task-rewardbench2", "task-rm_bench", "task-rmb_bon", "task-rmb_pairwise", "task-rmb"]


def test_demo_page_at_desktop_and_phone_widths(demo, browser, tmp_path):
    page = tmp_path / "demo.html"
    res = run_cli("leaderboard", str(demo.root), "-o", str(page))
    assert res.returncode == 0, res.stderr
    shots = asyncio.run(_drive_demo(browser, page.as_uri()))
    for width, shot in shots.items():
        (tmp_path / f"demo-{width}.png").write_bytes(shot)
        w, h = _png_size(shot)
        assert w == width and h >= 600 and len(shot) > 20_000


async def _drive_demo(ws_url: str, url: str) -> dict[int, bytes]:
    import aiohttp

    shots = {}
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(ws_url, max_msg_size=0) as ws:
            dt = DevTools(ws)
            await dt.send("Page.enable")
            for width, mobile in ((1280, False), (390, True)):
                await dt.send("Emulation.setDeviceMetricsOverride", width=width, height=900, deviceScaleFactor=1,
                              mobile=mobile)
                dt.events.clear()
                await dt.send("Page.navigate", url=url)
                await dt.wait_event("Page.loadEventFired")
                # every benchmark's section, linked from the top bar, each with its three baseline rows
                assert await dt.js("Array.from(document.querySelectorAll('section.board-section')).map(s => s.id)") \
                    == DEMO_SECTIONS
                assert await dt.js("Array.from(document.querySelectorAll('nav.tabs a')).map(a => "
                                   "a.getAttribute('href').slice(1))") == DEMO_SECTIONS
                assert await dt.js("Array.from(document.querySelectorAll('table.board')).map(t => "
                                   "t.tBodies[0].rows.length)") == [3] * len(DEMO_SECTIONS)
                # no horizontal scroll of the document itself
                size = await dt.js("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
                assert size[0] <= size[1] == width, (width, size)
                if width == 1280:
                    # every table fits without scrolling its box, and every cell keeps to one line
                    assert await dt.js("Array.from(document.querySelectorAll('.scroll')).filter(e => "
                                       "e.scrollWidth > e.clientWidth).map(e => [e.closest('section').id, "
                                       "e.scrollWidth, e.clientWidth])") == []
                    assert await dt.js("""Array.from(document.querySelectorAll('table.board td[data-value]'))
                        .filter(td => { const s = td.querySelectorAll('span');
                                        return s.length === 2 && Math.abs(s[0].getBoundingClientRect().top
                                               - s[1].getBoundingClientRect().top) > 2; }).length""") == 0
                    assert await dt.js("Array.from(document.querySelectorAll('table.board td[data-value]')).filter("
                                       "td => td.getClientRects().length !== 1 || td.getBoundingClientRect().height"
                                       " > 40).length") == 0
                    assert await dt.js("document.querySelectorAll('table.board td[data-value] span.ci').length") > 100
                shot = await dt.send("Page.captureScreenshot", format="png")
                shots[width] = base64.b64decode(shot["data"])
            await dt.send("Emulation.clearDeviceMetricsOverride")
    return shots


def test_page_in_headless_chromium(page, browser, tmp_path):
    shot = asyncio.run(_drive(browser, page.as_uri()))
    (tmp_path / "leaderboard.png").write_bytes(shot)
    width, height = _png_size(shot)
    assert width >= 1000 and height >= 600 and len(shot) > 20_000


async def _drive(ws_url: str, url: str) -> bytes:
    import aiohttp

    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(ws_url, max_msg_size=0) as ws:
            dt = DevTools(ws)
            await dt.send("Network.enable")
            await dt.send("Page.enable")
            dt.events.clear()
            await dt.send("Page.navigate", url=url)
            await dt.wait_event("Page.loadEventFired")
            board = "document.querySelector('#board-task-rewardbench')"
            rows = f"Array.from({board}.querySelectorAll('tbody tr')).map(r => r.dataset.label)"
            hostile = await dt.js(f"{board}.querySelectorAll('tbody tr')[2].cells[0].querySelector('summary')"
                                  ".textContent")
            assert hostile == HOSTILE
            assert await dt.js(f"{board}.querySelectorAll('b, script').length") == 0
            assert await dt.js(rows) == ["org/model-b", "org/model-a", HOSTILE]  # by the task's score

            async def click(header: str):
                await dt.js(f"Array.from({board}.querySelectorAll('thead th button'))"
                            f".find(b => b.textContent === {json.dumps(header)}).click()")

            await click("Chat Hard")
            assert await dt.js(rows) == ["org/model-b", "org/model-a", HOSTILE]
            assert await dt.js(f"{board}.querySelectorAll('thead th')[3].getAttribute('aria-sort')") == "descending"
            await click("Chat")
            assert await dt.js(rows) == ["org/model-a", HOSTILE, "org/model-b"]
            await click("Chat")
            assert await dt.js(rows) == ["org/model-b", HOSTILE, "org/model-a"]
            await click("Chat Hard")
            await click("Chat Hard")  # ascending: a missing score stays last
            assert await dt.js(rows) == ["org/model-a", "org/model-b", HOSTILE]
            await click("model")
            assert await dt.js(rows) == ["org/model-a", "org/model-b", HOSTILE]
            # the best value of a column is marked
            assert await dt.js(f"Array.from({board}.querySelectorAll('td.best')).map(td => td.textContent)") == \
                ["90.0 ± 5.0", "86.0 ± 2.0", "60.0 ± 5.0"]  # rows in model order now
            # run details expand
            assert await dt.js(f"{board}.querySelector('details').open") is False
            await dt.js(f"{board}.querySelector('summary').click()")
            assert await dt.js(f"{board}.querySelector('details').open") is True
            assert "run" in await dt.js(f"{board}.querySelector('details dl').textContent")
            # charts: a bar per scored row and an interval whisker for each bar that has one
            assert await dt.js("document.querySelectorAll('svg.chart').length") == 3
            assert await dt.js("Array.from(document.querySelectorAll('svg.chart')).map(s => "
                               "s.querySelectorAll('rect.bar').length)") == [3, 3, 2]
            assert await dt.js("document.querySelectorAll('svg.chart')[2].querySelectorAll('line.ci').length") == 6
            # nothing but the page itself was requested
            urls = [e["params"]["request"]["url"] for e in dt.events if e["method"] == "Network.requestWillBeSent"]
            assert urls and all(u.startswith("file://") for u in urls), urls
            shot = await dt.send("Page.captureScreenshot", format="png", captureBeyondViewport=True)
            await dt.send("Network.disable")
            return base64.b64decode(shot["data"])
