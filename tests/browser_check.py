"""Real-browser check of the built book with headless Chromium (Debian's /usr/bin/chromium).

Serves the HTML build on 127.0.0.1 (a free port) and, for every page in _toc.yml, loads it in
headless Chromium and reads the DOM after its JavaScript ran (``--dump-dom`` with a virtual time
budget). Pages are requested with ``?__check=1``: the server then appends a small script that, once
the page has loaded, writes what the browser saw (images and whether they decoded) into a
``<pre id="browser-check">`` element, so the dumped DOM carries the browser's own verdict.

Checks: every page loads with its title; every ``<img>`` exists on disk, is a valid image file and
decoded in the browser; each chapter's Colab launch link is
``https://colab.research.google.com/github/<owner>/<repo>/blob/<branch>/<page>.ipynb``; the search
page finds results for a Korean and an English term. Optionally writes screenshots.

Usage (after ``make book``)::

    .venv/bin/python tests/browser_check.py _build/html --screenshots /tmp/shots
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import http.server
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import threading
import urllib.parse
import urllib.request
from html.parser import HTMLParser
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
    "--hide-scrollbars",
    "--mute-audio",
]

SEARCH_TERMS = ("잔차", "residual")

_CHECK_SCRIPT = b"""
<script>
(function () {
  document.addEventListener("DOMContentLoaded", function () {
    Array.prototype.forEach.call(document.images, function (im) { im.loading = "eager"; });
  });
  window.addEventListener("load", function () {
    setTimeout(function () {
      var imgs = Array.prototype.slice.call(document.images);
      var report = {
        title: document.title,
        images: imgs.map(function (im) { return im.getAttribute("src"); }),
        broken: imgs.filter(function (im) { return !(im.complete && im.naturalWidth > 0); })
                    .map(function (im) { return im.getAttribute("src"); })
      };
      var pre = document.createElement("pre");
      pre.id = "browser-check";
      pre.textContent = JSON.stringify(report);
      document.body.appendChild(pre);
    }, 300);
  });
})();
</script>
"""


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    return "/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None


def read_book_config(root: Path = REPO_ROOT) -> dict:
    """owner, repo and branch from _config.yml (the one place the repository URL is written)."""
    config = yaml.safe_load((root / "_config.yml").read_text(encoding="utf-8"))
    repository = config["repository"]
    parts = urllib.parse.urlparse(repository["url"]).path.strip("/").split("/")
    return {
        "url": repository["url"].rstrip("/"),
        "owner": parts[0],
        "repo": parts[1],
        "branch": repository.get("branch", "master"),
        "colab_url": config["launch_buttons"]["colab_url"].rstrip("/"),
    }


def toc_pages(root: Path = REPO_ROOT) -> list[str]:
    """Page names (no suffix) in _toc.yml order, root first."""
    toc = yaml.safe_load((root / "_toc.yml").read_text(encoding="utf-8"))
    pages = [toc["root"]]
    for part in toc.get("parts", [{"chapters": toc.get("chapters", [])}]):
        for chapter in part["chapters"]:
            pages.append(chapter["file"])
    return [re.sub(r"\.(md|ipynb)$", "", p) for p in pages]


def source_suffix(page: str, root: Path = REPO_ROOT) -> str:
    for suffix in (".ipynb", ".md"):
        if (root / f"{page}{suffix}").exists():
            return suffix
    raise FileNotFoundError(f"No .ipynb or .md source for {page!r} listed in _toc.yml")


class _Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - keep the test output quiet
        pass

    def do_GET(self):  # noqa: N802
        parsed = urllib.parse.urlparse(self.path)
        query = urllib.parse.parse_qs(parsed.query)
        if "__check" not in query or not parsed.path.endswith(".html"):
            return super().do_GET()
        path = Path(self.translate_path(parsed.path))
        if not path.is_file():
            return self.send_error(404)
        body = path.read_bytes()
        marker = b"</body>"
        index = body.rfind(marker)
        body = body[:index] + _CHECK_SCRIPT + body[index:] if index >= 0 else body + _CHECK_SCRIPT
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _QuietServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # Chromium drops connections it no longer needs once the DOM is dumped; not an error.
        if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            return
        super().handle_error(request, client_address)


@contextlib.contextmanager
def serve(directory: Path):
    """Serve ``directory`` on 127.0.0.1 at a free port; yields the base URL."""
    handler = functools.partial(_Handler, directory=str(directory))
    server = _QuietServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def _chromium(chromium: str, args: list[str], timeout: float = 120) -> str:
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        result = subprocess.run(
            [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    if result.returncode != 0:
        raise RuntimeError(
            f"chromium exited with {result.returncode}: "
            f"{result.stderr.decode('utf-8', 'replace')[-2000:]}"
        )
    return result.stdout.decode("utf-8", "replace")


def dump_dom(chromium: str, url: str, budget_ms: int = 8000) -> str:
    return _chromium(chromium, [f"--virtual-time-budget={budget_ms}", "--dump-dom", url])


def screenshot(chromium: str, url: str, path: Path, size: str = "1280,2000") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    _chromium(
        chromium,
        ["--virtual-time-budget=5000", f"--window-size={size}", f"--screenshot={path}", url],
    )
    if not path.is_file() or path.stat().st_size == 0:
        raise RuntimeError(f"chromium wrote no screenshot to {path}")
    return path


class _Collector(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.imgs: list[str] = []
        self.hrefs: list[str] = []
        self.h1 = 0
        self._in_check = False
        self._in_search_results = 0
        self.search_hits: list[str] = []
        self.check_text = ""

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img" and attrs.get("src"):
            self.imgs.append(attrs["src"])
        if tag == "a" and attrs.get("href"):
            self.hrefs.append(attrs["href"])
            if self._in_search_results:
                self.search_hits.append(attrs["href"])
        if tag == "h1":
            self.h1 += 1
        if tag == "pre" and attrs.get("id") == "browser-check":
            self._in_check = True
        if tag == "ul" and "search" in (attrs.get("class") or "").split():
            self._in_search_results += 1

    def handle_endtag(self, tag):
        if tag == "pre":
            self._in_check = False
        if tag == "ul" and self._in_search_results:
            self._in_search_results -= 1

    def handle_data(self, data):
        if self._in_check:
            self.check_text += data


def _parse(html: str) -> _Collector:
    collector = _Collector()
    collector.feed(html)
    return collector


def image_problem(path: Path) -> str | None:
    """None if ``path`` is a readable PNG/JPEG/GIF/WebP/SVG with a non-zero size."""
    if not path.is_file():
        return "missing"
    data = path.read_bytes()
    if len(data) == 0:
        return "empty"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        if len(data) < 33 or data[12:16] != b"IHDR":
            return "PNG without an IHDR header"
        width, height = struct.unpack(">II", data[16:24])
        return None if width > 0 and height > 0 else f"PNG of size {width}x{height}"
    if data.startswith(b"\xff\xd8\xff") or data[:6] in (b"GIF87a", b"GIF89a"):
        return None
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return None
    head = data[:1000].lstrip().lower()
    if path.suffix.lower() == ".svg" and (head.startswith(b"<svg") or head.startswith(b"<?xml")):
        return None if b"<svg" in data[:5000].lower() else "SVG without <svg> element"
    return "not a recognised image format"


def check_page(chromium: str, base: str, html_root: Path, page: str) -> tuple[list[str], dict]:
    """Problems found on one page, and the browser's report."""
    problems = []
    url = f"{base}/{page}.html"
    with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 - loopback only
        if response.status != 200:
            return [f"{page}: HTTP {response.status}"], {}
    dom = dump_dom(chromium, url + "?__check=1")
    parsed = _parse(dom)
    if not parsed.check_text:
        return [f"{page}: the page never finished loading in the browser (no load event)"], {}
    report = json.loads(parsed.check_text)
    if not report.get("title"):
        problems.append(f"{page}: empty <title>")
    if parsed.h1 < 1:
        problems.append(f"{page}: no <h1> heading in the rendered page")
    for src in report["broken"]:
        problems.append(f"{page}: image did not load in the browser: {src}")
    page_dir = (html_root / page).parent
    for src in report["images"]:
        if src.startswith("data:"):
            continue
        if re.match(r"^[a-z]+://", src):
            problems.append(f"{page}: image from another site (the book must be self-contained): {src}")
            continue
        target = (page_dir / urllib.parse.unquote(src.split("?")[0].split("#")[0])).resolve()
        issue = image_problem(target)
        if issue:
            problems.append(f"{page}: image {src}: {issue}")
    report["hrefs"] = parsed.hrefs
    return problems, report


def expected_colab_link(cfg: dict, page: str) -> str:
    return f"{cfg['colab_url']}/github/{cfg['owner']}/{cfg['repo']}/blob/{cfg['branch']}/{page}.ipynb"


def check_search(chromium: str, base: str, term: str) -> list[str]:
    """Result links that the search page shows for ``term`` once its JavaScript ran."""
    url = f"{base}/search.html?q={urllib.parse.quote(term)}"
    return _parse(dump_dom(chromium, url, budget_ms=15000)).search_hits


def run_checks(
    html_root: Path,
    root: Path = REPO_ROOT,
    screenshots: Path | None = None,
    chromium: str | None = None,
    log=print,
) -> list[str]:
    """Run every check; returns the list of problems (empty when all is well)."""
    chromium = chromium or find_chromium()
    if not chromium:
        raise RuntimeError("chromium not found (apt-get install -y chromium)")
    html_root = Path(html_root).resolve()
    cfg = read_book_config(root)
    pages = toc_pages(root)
    problems: list[str] = []
    with serve(html_root) as base:
        for page in pages:
            page_problems, report = check_page(chromium, base, html_root, page)
            problems += page_problems
            if source_suffix(page, root) == ".ipynb" and report:
                want = expected_colab_link(cfg, page)
                if want not in report["hrefs"]:
                    colab = [h for h in report["hrefs"] if "colab" in h]
                    problems.append(f"{page}: no Colab link {want} (found: {colab})")
            log(
                f"  {page}: {len(report.get('images', []))} images, "
                f"{len(page_problems)} problems"
            )
        for term in SEARCH_TERMS:
            hits = check_search(chromium, base, term)
            log(f"  search {term!r}: {len(hits)} results")
            if not hits:
                problems.append(f"search.html?q={term}: no results after the search ran")
        if screenshots is not None:
            chapters = [p for p in pages if source_suffix(p, root) == ".ipynb"]
            for page in [pages[0], *chapters[:1]]:
                path = screenshot(chromium, f"{base}/{page}.html", screenshots / f"{Path(page).name}.png")
                log(f"  screenshot: {path}")
    return problems


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("html", nargs="?", default=str(REPO_ROOT / "_build" / "html"))
    parser.add_argument("--screenshots", type=Path, default=None)
    args = parser.parse_args(argv)
    problems = run_checks(Path(args.html), screenshots=args.screenshots)
    for problem in problems:
        print("PROBLEM:", problem)
    print("browser check:", "OK" if not problems else f"{len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
