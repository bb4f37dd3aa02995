"""Open every page of the built site in headless Chromium, as a reader would, and fail on what a
reader would see broken (``make docs-check``; CI runs it after ``make docs``).

The site (``site/`` by default) is served on the loopback interface only; Chromium (Debian's
``chromium`` package) is driven through the DevTools protocol (``websocket-client``, in the
``docs`` extra). For each page it reports:

- JavaScript errors (uncaught exceptions) and console errors;
- requests that failed or returned an HTTP error (missing assets, fonts, scripts, images);
- requests that leave the machine (the site must work offline: no CDN, no web fonts);
- images that did not load (``naturalWidth == 0``);
- math that did not render: every ``.arithmatex`` element (the guide's and the docstrings'
  equations) must hold a MathJax ``mjx-container`` and no ``mjx-merror``;
- internal links to a page that does not exist, or to an anchor that the page does not have.

It saves screenshots of the home page, one guide page and one tutorial page (``--shots DIR``,
default ``out/docs-screenshots``) for review. Exit status 0 when every page is clean, 1 otherwise,
2 when Chromium is missing.

    .venv/bin/python docs/_browser_check.py [--site site] [--shots out/docs-screenshots]
"""

from __future__ import annotations

import argparse
import base64
import functools
import http.server
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

SCREENSHOTS = {
    "home.png": "index.html",
    "guide-circuits.png": "guide/circuits.html",
    "tutorial-ei-circuits.png": "tutorials/02_ei_circuits.html",
}

# run in the page once it has loaded: wait for MathJax's first typesetting, then report
PAGE_REPORT = r"""
(async () => {
  const t0 = Date.now();
  while (document.querySelector('.arithmatex') && !(window.MathJax && MathJax.startup
         && MathJax.startup.promise) && Date.now() - t0 < 10000) {
    await new Promise(r => setTimeout(r, 50));
  }
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) { await MathJax.startup.promise; }
  const imgs = [...document.images];
  await Promise.all(imgs.map(i => i.complete ? null : new Promise(r => { i.onload = i.onerror = r; })));
  const math = [...document.querySelectorAll('.arithmatex')];
  return JSON.stringify({
    math: math.length,
    math_unrendered: math.filter(e => !e.querySelector('mjx-container'))
                         .slice(0, 5).map(e => e.textContent.slice(0, 80)),
    math_errors: [...document.querySelectorAll('mjx-merror')].slice(0, 5)
                         .map(e => e.textContent.slice(0, 80)),
    mjx: document.querySelectorAll('mjx-container').length,
    images: imgs.length,
    broken_images: imgs.filter(i => !(i.naturalWidth > 0)).map(i => i.src.slice(0, 120)),
    links: [...document.querySelectorAll('a[href]')].map(a => a.href),
    ids: [...document.querySelectorAll('[id]')].map(e => e.id),
    title: document.title,
  });
})()
"""


class _Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass


def serve(site: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    handler = functools.partial(_Handler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


class Browser:
    """One headless Chromium with one tab, spoken to over the DevTools protocol."""

    def __init__(self, exe: str, profile: str) -> None:
        import websocket  # websocket-client, from the docs extra

        self.proc = subprocess.Popen(
            [
                exe,
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-extensions",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
                f"--user-data-dir={profile}",
                "--window-size=1280,900",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        port_file = Path(profile) / "DevToolsActivePort"
        deadline = time.time() + 60
        while not port_file.exists() or not port_file.read_text().strip():
            if self.proc.poll() is not None or time.time() > deadline:
                raise RuntimeError(
                    f"chromium did not start: {self.proc.stderr.read() if self.proc.stderr else ''}"
                )
            time.sleep(0.1)
        port = port_file.read_text().split()[0]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as r:
            tabs = [t for t in json.load(r) if t.get("type") == "page"]
        self.ws = websocket.create_connection(
            tabs[0]["webSocketDebuggerUrl"], timeout=60, suppress_origin=True
        )
        self.next_id = 0
        self.events: list[dict[str, Any]] = []
        for domain in ("Page", "Runtime", "Network", "Log"):
            self.call(f"{domain}.enable")
        self.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": False},
        )

    def call(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params or {}}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self.next_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            if "method" in msg:
                self.events.append(msg)

    def wait_for(self, event: str, timeout: float = 60.0) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if any(e["method"] == event for e in self.events):
                return
            msg = json.loads(self.ws.recv())
            if "method" in msg:
                self.events.append(msg)
        raise TimeoutError(event)

    def close(self) -> None:
        try:
            self.ws.close()
        finally:
            self.proc.terminate()
            self.proc.wait(timeout=20)


def check_page(browser: Browser, base: str, rel: str) -> tuple[list[str], dict[str, Any]]:
    """Load one page; return its problems and its report (links, ids)."""
    browser.events.clear()
    browser.call("Page.navigate", {"url": base + rel})
    browser.wait_for("Page.loadEventFired")
    result = browser.call(
        "Runtime.evaluate", {"expression": PAGE_REPORT, "awaitPromise": True, "returnByValue": True}
    )
    if "exceptionDetails" in result:
        return [f"page script failed: {result['exceptionDetails'].get('text')}"], {"links": [], "ids": []}
    report = json.loads(result["result"]["value"])
    problems: list[str] = []
    requests: dict[str, str] = {}
    for e in browser.events:
        m, p = e["method"], e["params"]
        if m == "Runtime.exceptionThrown":
            d = p["exceptionDetails"]
            text = d.get("exception", {}).get("description") or d.get("text")
            problems.append(f"JavaScript error: {str(text).splitlines()[0]}")
        elif m == "Log.entryAdded" and p["entry"]["level"] == "error":
            problems.append(f"console error: {p['entry']['text']} {p['entry'].get('url', '')}".strip())
        elif m == "Network.requestWillBeSent":
            url = p["request"]["url"]
            requests[p["requestId"]] = url
            if not url.startswith((base, "data:", "blob:", "about:")):
                problems.append(f"request leaves the machine: {url}")
        elif m == "Network.responseReceived" and p["response"]["status"] >= 400:
            problems.append(f"HTTP {p['response']['status']}: {p['response']['url']}")
        elif m == "Network.loadingFailed" and not p.get("canceled"):
            problems.append(f"failed to load {requests.get(p['requestId'], '?')}: {p.get('errorText')}")
    if report["math_unrendered"]:
        problems.append(f"math not rendered: {report['math_unrendered']}")
    if report["math_errors"]:
        problems.append(f"MathJax errors: {report['math_errors']}")
    for src in report["broken_images"]:
        problems.append(f"image did not load: {src}")
    return problems, report


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--site", type=Path, default=Path("site"))
    ap.add_argument("--shots", type=Path, default=Path("out/docs-screenshots"))
    ap.add_argument("--chromium", default=None, help="the browser executable (default: chromium on PATH)")
    ap.add_argument("--only", default=None, help="check only the pages matching this glob (e.g. 'guide/*')")
    args = ap.parse_args(argv)

    exe = args.chromium or shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        print("docs-check: chromium not found (Debian: apt-get install -y chromium)", file=sys.stderr)
        return 2
    site = args.site.resolve()
    pages = sorted(p.relative_to(site).as_posix() for p in site.rglob("*.html"))
    if "index.html" not in pages:
        print(f"docs-check: no index.html in {site}: run `make docs` first", file=sys.stderr)
        return 1
    if args.only:
        pages = [p for p in pages if Path(p).match(args.only)]
    server, base = serve(site)
    args.shots.mkdir(parents=True, exist_ok=True)
    failures: dict[str, list[str]] = {}
    links: dict[str, list[str]] = {}
    ids: dict[str, set[str]] = {}
    n_math = n_img = 0
    t0 = time.time()
    with tempfile.TemporaryDirectory() as profile:
        browser = Browser(exe, profile)
        try:
            for rel in pages:
                problems, report = check_page(browser, base, rel)
                n_math += report.get("mjx", 0)
                n_img += report.get("images", 0)
                links[rel] = report["links"]
                ids[rel] = set(report["ids"])
                if problems:
                    failures[rel] = problems
                for shot, page in SCREENSHOTS.items():
                    if page == rel:
                        data = browser.call("Page.captureScreenshot", {"format": "png"})["data"]
                        (args.shots / shot).write_bytes(base64.b64decode(data))
        finally:
            browser.close()
            server.shutdown()
    # internal links: the page must exist, and so must the anchor
    for rel, hrefs in links.items():
        for href in hrefs:
            if not href.startswith(base):
                continue
            url = urllib.parse.urlsplit(href[len(base) :])
            target = urllib.parse.unquote(url.path) or "index.html"
            if target.endswith("/"):
                target += "index.html"
            if not (site / target).exists():
                failures.setdefault(rel, []).append(f"broken link: {href[len(base) :]}")
            elif url.fragment and target in ids and urllib.parse.unquote(url.fragment) not in ids[target]:
                failures.setdefault(rel, []).append(f"broken anchor: {href[len(base) :]}")
    missing_shots = [
        s for s, p in SCREENSHOTS.items() if (not args.only or p in pages) and not (args.shots / s).exists()
    ]
    for shot in missing_shots:
        failures.setdefault(SCREENSHOTS[shot], []).append(f"page for screenshot {shot} is missing")
    for rel, problems in sorted(failures.items()):
        print(f"FAIL {rel}")
        for p in sorted(set(problems)):
            print(f"    {p}")
    print(
        f"docs-check: {len(pages)} pages, {n_math} equations rendered, {n_img} images, "
        f"{time.time() - t0:.0f} s; screenshots in {args.shots}"
    )
    # the closing line, one "test" per page
    print(f"docs-check: {sum(p not in failures for p in pages)} passed, {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
