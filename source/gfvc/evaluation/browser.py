"""Load a static HTML page in headless Chromium and report what a reader would see broken.

    python -m gfvc.evaluation.browser RUN/report/index.html [--screenshot OUT.png] [--window-size 1280,900]

Talks the Chrome DevTools Protocol over ``--remote-debugging-pipe`` (file descriptors 3 and 4,
NUL-terminated JSON; no port, no network): opens the page, waits for its load event (which
fires only once every image has loaded or failed), then asks the page for each ``<img>``'s
``naturalWidth`` and collects console errors, uncaught exceptions and failed loads (Chromium logs
``Failed to load resource`` for a missing file). Nothing waits on a clock: each step waits for
the browser's answer; a browser that stops answering is an error after ``timeout`` seconds.
Chromium comes from Debian's ``chromium`` package (tools/setup.sh --with-tests installs it).
"""
from __future__ import annotations

import argparse
import base64
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import GfvcError

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "chrome")
_IMAGES_JS = ("JSON.stringify(Array.from(document.images).map(i => "
              "({src: i.getAttribute('src'), complete: i.complete, width: i.naturalWidth})))")


class BrowserError(GfvcError, RuntimeError):
    pass


def find_chromium() -> str | None:
    for name in CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None


@dataclass
class PageCheck:
    url: str
    title: str = ""
    images: list[dict] = field(default_factory=list)  # src, complete, width
    errors: list[str] = field(default_factory=list)  # console errors, exceptions, failed loads
    screenshot: bytes | None = None

    @property
    def broken_images(self) -> list[str]:
        return [i["src"] for i in self.images if not i["complete"] or i["width"] <= 0]

    @property
    def ok(self) -> bool:
        return not self.broken_images and not self.errors


class _Pipe:
    """A CDP connection to a Chromium started with --remote-debugging-pipe."""

    def __init__(self, chromium: str, args: list[str], timeout: float):
        self.timeout = timeout
        to_r, self._to_w = os.pipe()
        self._from_r, from_w = os.pipe()
        self._buf = b""
        self._next_id = 0
        self.events: list[dict] = []

        def child_fds():  # the protocol's fixed numbers: the browser reads fd 3, writes fd 4
            a, b = os.dup(to_r), os.dup(from_w)
            os.dup2(a, 3)
            os.dup2(b, 4)

        self._stderr = tempfile.TemporaryFile()
        try:
            self.proc = subprocess.Popen([chromium, "--remote-debugging-pipe", *args], stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=self._stderr, close_fds=False,
                                         preexec_fn=child_fds)
        finally:
            os.close(to_r)
            os.close(from_w)

    def _read_message(self) -> dict:
        while b"\0" not in self._buf:
            ready, _, _ = select.select([self._from_r], [], [], self.timeout)
            if not ready:
                raise BrowserError(f"the browser sent nothing for {self.timeout:.0f} s")
            chunk = os.read(self._from_r, 1 << 20)
            if not chunk:
                self._stderr.seek(0)
                tail = self._stderr.read()[-2000:].decode("utf-8", "replace")
                raise BrowserError(f"the browser closed the connection (exit {self.proc.poll()}): {tail}")
            self._buf += chunk
        msg, self._buf = self._buf.split(b"\0", 1)
        return json.loads(msg)

    def call(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        self._next_id += 1
        msg = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        data = json.dumps(msg).encode() + b"\0"
        while data:
            data = data[os.write(self._to_w, data):]
        while True:
            reply = self._read_message()
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise BrowserError(f"{method}: {reply['error'].get('message', reply['error'])}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_event(self, method: str, session: str, **params) -> dict:
        """The first event ``method`` of ``session`` whose params include ``params``."""
        def match(ev):
            p = ev.get("params", {})
            return (ev.get("method") == method and ev.get("sessionId") == session
                    and all(p.get(k) == v for k, v in params.items()))

        for i, ev in enumerate(self.events):
            if match(ev):
                return self.events.pop(i)
        while True:
            ev = self._read_message()
            if match(ev):
                return ev
            self.events.append(ev)

    def close(self) -> None:
        try:
            if self.proc.poll() is None:
                try:
                    self.call("Browser.close")
                except (BrowserError, OSError):
                    pass
            try:
                self.proc.wait(timeout=self.timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        finally:
            os.close(self._to_w)
            os.close(self._from_r)
            self._stderr.close()


def _errors(events: list[dict], session: str) -> list[str]:
    out = []
    for ev in events:
        if ev.get("sessionId") != session:
            continue
        p = ev.get("params", {})
        if ev.get("method") == "Runtime.exceptionThrown":
            d = p.get("exceptionDetails", {})
            out.append(f"exception: {d.get('exception', {}).get('description') or d.get('text')}")
        elif ev.get("method") == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            out.append("console: " + " ".join(str(a.get("value", a.get("description", ""))) for a in p.get("args", [])))
        elif ev.get("method") == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
            e = p["entry"]
            out.append(f"log ({e.get('source')}): {e.get('text')} {e.get('url', '')}".rstrip())
    return out


def check_page(page: str | os.PathLike, screenshot: bool = False, window=(1280, 900), timeout: float = 120.0,
               chromium: str | None = None) -> PageCheck:
    """Open ``page`` (a local HTML file) in headless Chromium; -> what loaded and what failed."""
    chromium = chromium or find_chromium()
    if chromium is None:
        raise BrowserError("no Chromium found (tried " + ", ".join(CANDIDATES) + "); "
                           "install it with: bash tools/setup.sh --with-tests (Debian package chromium)")
    path = Path(page).resolve()
    if not path.is_file():
        raise BrowserError(f"{page}: no such file")
    url = path.as_uri()
    with tempfile.TemporaryDirectory(prefix="gfvc-chromium-") as profile:
        args = ["--headless=new", "--disable-gpu", "--no-sandbox", "--no-first-run", "--no-default-browser-check",
                "--disable-extensions", "--hide-scrollbars", "--mute-audio", f"--user-data-dir={profile}",
                f"--window-size={window[0]},{window[1]}", "about:blank"]
        pipe = _Pipe(chromium, args, timeout)
        try:
            target = pipe.call("Target.createTarget", {"url": "about:blank"})["targetId"]
            session = pipe.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
            for domain in ("Page", "Runtime", "Log"):
                pipe.call(f"{domain}.enable", session=session)
            pipe.call("Emulation.setDeviceMetricsOverride",
                      {"width": window[0], "height": window[1], "deviceScaleFactor": 1, "mobile": False},
                      session=session)
            pipe.call("Page.setLifecycleEventsEnabled", {"enabled": True}, session=session)
            nav = pipe.call("Page.navigate", {"url": url}, session=session)
            check = PageCheck(url=url)
            if nav.get("errorText"):
                check.errors.append(f"navigation: {nav['errorText']}")
                return check
            # the load of this navigation (not of the blank page the tab opened with)
            pipe.wait_event("Page.lifecycleEvent", session, name="load", loaderId=nav.get("loaderId"))
            res = pipe.call("Runtime.evaluate", {"expression": _IMAGES_JS, "returnByValue": True}, session=session)
            check.images = json.loads(res["result"]["value"])
            check.title = pipe.call("Runtime.evaluate", {"expression": "document.title", "returnByValue": True},
                                    session=session)["result"].get("value", "")
            if screenshot:
                shot = pipe.call("Page.captureScreenshot", {"format": "png"}, session=session)
                check.screenshot = base64.b64decode(shot["data"])
            # every event sent before the last answer has been read: the error list is complete
            check.errors += _errors(pipe.events, session)
            return check
        finally:
            pipe.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m gfvc.evaluation.browser",
                                description="Load a static HTML page in headless Chromium and check it.")
    p.add_argument("page")
    p.add_argument("--screenshot", metavar="OUT.png", help="save the page's first screen as PNG")
    p.add_argument("--window-size", default="1280,900", metavar="W,H")
    args = p.parse_args(argv)
    try:
        w, h = (int(x) for x in args.window_size.split(","))
        check = check_page(args.page, screenshot=bool(args.screenshot), window=(w, h))
        if args.screenshot:
            from ..io import atomic_write_bytes

            atomic_write_bytes(args.screenshot, check.screenshot)
    except (BrowserError, ValueError, OSError) as e:
        print(f"browser: error: {e}", file=sys.stderr)
        return 2
    print(f"{check.url}: {len(check.images)} images, {len(check.broken_images)} broken, {len(check.errors)} errors")
    for src in check.broken_images:
        print(f"  broken image: {src}")
    for err in check.errors:
        print(f"  {err}")
    return 0 if check.ok else 1


if __name__ == "__main__":
    sys.exit(main())
