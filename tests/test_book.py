"""The study book: notebooks run in quick mode, the book builds with -W -n, a real browser reads it.

All tests here carry the ``book`` marker (``pytest -m book``); ``make test`` runs them after the
library tests, with ``-n 2 --dist loadgroup`` (the build and the browser check share one worker
and one build, see the ``xdist_group`` marks).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.book

ROOT = Path(__file__).resolve().parent.parent
BOOK_DIR = ROOT / "book"
CELL_TIMEOUT_S = 600
PLACEHOLDER_MARK = "(작성 중)"


def _load_browser_check():
    spec = importlib.util.spec_from_file_location(
        "resnet_keras_browser_check", Path(__file__).with_name("browser_check.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


browser_check = _load_browser_check()
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
REPO_URL = CONFIG["repository"]["url"].rstrip("/")
PAGES = browser_check.toc_pages(ROOT)
NOTEBOOKS = [p for p in PAGES if (ROOT / f"{p}.ipynb").exists()]
NOTEBOOK_IDS = [Path(p).name for p in NOTEBOOKS]

INSTALL_CELL_LINES = [
    "# Colab에서 실행할 때 라이브러리를 설치합니다 (로컬에서는 건너뜁니다).",
    "import sys",
    'if "google.colab" in sys.modules:',
    f'    !pip install -q "resnet-keras @ git+{REPO_URL}"',
    "",
    "from resnet_keras import notebook",
    "",
]
# After the install lines, the first code cell holds only `env = notebook.setup("chNN", ...)`
# and `SMOKE = env.smoke`: log filters, fonts and scale are the library's job (notebook.setup).
SETUP_LINE_RE = re.compile(r'env = notebook\.setup\("(ch\d\d)"(, .*)?\)')
# Python warnings as the kernel prints them ("...py:12: UserWarning: Glyph 51092 ... missing").
WARNING_RE = re.compile(r"\b[A-Z]\w*Warning: ")
TRACEBACK = "Traceback (most recent call last)"


def _read_notebook(page):
    import nbformat

    return nbformat.read(ROOT / f"{page}.ipynb", as_version=4)


def _is_placeholder(nb) -> bool:
    has_code = any(c.cell_type == "code" for c in nb.cells)
    return not has_code and any(PLACEHOLDER_MARK in c.source for c in nb.cells)


def _code_lines(source: str) -> list[str]:
    return [line.rstrip() for line in source.strip("\n").splitlines()]


# ----------------------------------------------------------------------------------------------
# Configuration and table of contents


def test_toc_pages_exist():
    missing = [p for p in PAGES if not any((ROOT / f"{p}{s}").exists() for s in (".ipynb", ".md"))]
    assert not missing, f"pages listed in _toc.yml without a source file: {missing}"
    expected = [
        "book/ch01_intro", "book/ch02_degradation", "book/ch03_residual", "book/ch04_shortcuts",
        "book/ch05_highway", "book/ch06_bottleneck", "book/ch07_preactivation",
        "book/ch08_stochastic_depth", "book/ch09_family",
    ]
    assert NOTEBOOKS == expected, "the chapters must be these notebooks, in this order"


def test_config_essentials():
    assert CONFIG["execute"]["execute_notebooks"] == "off"  # the string, not YAML's false
    assert CONFIG["repository"]["branch"] == "main"
    assert CONFIG["launch_buttons"]["colab_url"] == "https://colab.research.google.com"
    assert CONFIG["sphinx"]["recursive_update"] is True
    assert CONFIG["sphinx"]["config"]["language"] == "ko"
    assert "book/references.bib" in CONFIG["bibtex_bibfiles"]
    assert re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+", REPO_URL)


def test_build_skips_the_virtual_environments():
    """`make test` creates .venv and .venv-floor in the repository, which is the book's source
    folder: Sphinx must not read the installed packages' .md/.ipynb files (their warnings fail the
    -W build, as on CI once .venv-floor existed)."""
    from sphinx.util.matching import Matcher

    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    venvs = re.findall(r"^VENV(?:_\w+)? := (\S+)$", makefile, flags=re.M)
    assert ".venv" in venvs and ".venv-floor" in venvs, venvs
    excluded = Matcher(CONFIG["exclude_patterns"])
    assert all(excluded(folder) for folder in venvs), (venvs, CONFIG["exclude_patterns"])


def test_library_knows_the_repository_url():
    """Colab downloads the stored results from the repository the book is published from."""
    from resnet_keras import notebook

    assert notebook.REPOSITORY_URL == REPO_URL
    owner_repo = REPO_URL.removeprefix("https://github.com/")
    assert notebook.PUBLISHED_RESULTS_URL == (
        f"https://raw.githubusercontent.com/{owner_repo}/{CONFIG['repository']['branch']}/results")


def test_results_page_is_up_to_date():
    """book/results.md is what tools/make_results_page.py writes from the results files."""
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "make_results_page.py"),
                           "--check"], capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-2000:]


def test_repository_url_is_written_consistently():
    """Every `git+https://github.com/...` in the docs and notebooks is _config.yml's URL."""
    files = [ROOT / "README.md", ROOT / "DESIGN.md", *BOOK_DIR.glob("*.md"), *BOOK_DIR.glob("*.ipynb")]
    wrong = []
    for path in files:
        if not path.exists():
            continue
        for url in re.findall(r"git\+(https://github\.com/[\w.-]+/[\w.-]+)", path.read_text("utf-8")):
            if url.rstrip("/").removesuffix(".git") != REPO_URL:
                wrong.append(f"{path.relative_to(ROOT)}: {url}")
    assert not wrong, f"repository URL differs from _config.yml ({REPO_URL}): {wrong}"


# ----------------------------------------------------------------------------------------------
# Notebooks: structure, stored outputs, quick-mode execution


@pytest.mark.parametrize("page", NOTEBOOKS, ids=NOTEBOOK_IDS)
def test_notebook_structure_and_stored_outputs(page):
    nb = _read_notebook(page)
    assert nb.cells and nb.cells[0].cell_type == "markdown", "the first cell must be Markdown"
    title = nb.cells[0].source.lstrip().splitlines()[0]
    assert title.startswith("# "), "the first cell must start with the # title"
    assert not re.match(r"#\s*(제\s*)?\d+\s*(\.|장)", title), (
        f"{title!r}: no chapter number in the title, the book numbers chapters itself "
        "(it would show as '1. 1. ...')"
    )
    lexer = nb.metadata.get("language_info", {}).get("pygments_lexer")
    assert lexer == "ipython3", (
        f"metadata.language_info.pygments_lexer is {lexer!r}, not 'ipython3': the book would highlight "
        "the cells as plain Python, and the `!pip` line of the install cell then fails the -W build. "
        "Save the notebook from a Jupyter kernel (running it sets this), or set it by hand."
    )
    problems = []
    for index, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
            if output.output_type == "error":
                problems.append(f"cell {index}: stored error {output.ename}: {output.evalue}")
            elif output.output_type == "stream" and output.name == "stderr":
                problems += [
                    f"cell {index}: stored stderr: {line.strip()}"
                    for line in output.text.splitlines()
                    if WARNING_RE.search(line) or TRACEBACK in line
                ]
    assert not problems, "\n".join(problems)
    if _is_placeholder(nb):
        pytest.skip(f"{page} is still a placeholder {PLACEHOLDER_MARK}: no code cells yet")
    first_code = next(c for c in nb.cells if c.cell_type == "code")
    lines = _code_lines(first_code.source)
    assert lines[: len(INSTALL_CELL_LINES)] == INSTALL_CELL_LINES, (
        "the first code cell must be the standard Colab install cell (DESIGN.md, "
        "'Notebook conventions'):\n" + "\n".join(INSTALL_CELL_LINES)
    )
    rest = lines[len(INSTALL_CELL_LINES):]
    assert len(rest) == 2 and SETUP_LINE_RE.fullmatch(rest[0]), (
        f"after the install lines the first code cell holds exactly `env = notebook.setup(...)` "
        f"and `SMOKE = env.smoke ...`; found {rest}"
    )
    assert SETUP_LINE_RE.fullmatch(rest[0]).group(1) == Path(page).name[:4], "setup() names another chapter"
    assert rest[1].startswith("SMOKE = env.smoke"), rest[1]


# The chapter whose quick run presents the results of a smoke-scale campaign (CI's stand-in for
# the paper-scale results a GPU produces): `campaign --scale smoke` first, then the notebook.
PRESENTS_CAMPAIGN = "book/ch02_degradation"


def _shared_data():
    return Path(os.environ.get("RESNET_KERAS_SHARED_DATA", ROOT / ".." / "shared" / "data"))


@pytest.fixture(scope="session")
def smoke_campaign_results(tmp_path_factory):
    root = tmp_path_factory.mktemp("campaign")
    data = os.environ.get("RESNET_KERAS_DATA_DIR") or str(_shared_data().resolve())
    cmd = [sys.executable, "-m", "resnet_keras", "campaign", "--scale", "smoke", "--chapter",
           "ch02", "--results-dir", str(root / "results" / "smoke"), "--work-dir",
           str(root / "work"), "--data-dir", data]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1200, cwd=ROOT,
                          env=dict(os.environ, KERAS_BACKEND="tensorflow"))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return root / "results"


@pytest.mark.parametrize("page", NOTEBOOKS, ids=NOTEBOOK_IDS)
def test_notebook_runs_in_quick_mode(page, monkeypatch, request):
    from nbclient import NotebookClient

    nb = _read_notebook(page)
    # The kernel inherits this environment. The kernel spec runs "python", so put this
    # interpreter's bin first on PATH: the kernel must see the same installed packages.
    monkeypatch.setenv("RESNET_KERAS_SMOKE", "1")
    monkeypatch.setenv("KERAS_BACKEND", os.environ.get("KERAS_BACKEND", "tensorflow"))
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    # Offline (CI, this machine): the data sets beside the checkout stand in for the
    # tensorflow-datasets download that a reader's machine does.
    shared = _shared_data()
    if not os.environ.get("RESNET_KERAS_DATA_DIR") and shared.is_dir():
        monkeypatch.setenv("RESNET_KERAS_DATA_DIR", str(shared.resolve()))
    if page == PRESENTS_CAMPAIGN:
        monkeypatch.setenv("RESNET_KERAS_RESULTS_DIR",
                           str(request.getfixturevalue("smoke_campaign_results")))
    client = NotebookClient(
        nb,
        timeout=CELL_TIMEOUT_S,
        kernel_name="python3",
        resources={"metadata": {"path": str(BOOK_DIR)}},
        allow_errors=False,
    )
    start = time.monotonic()
    client.execute()  # raises CellExecutionError with the traceback on the first failing cell
    elapsed = time.monotonic() - start
    warnings_seen = [
        f"cell {index}: {line.strip()}"
        for index, cell in enumerate(nb.cells)
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
        if output.output_type == "stream" and output.name == "stderr"
        for line in output.text.splitlines()
        if WARNING_RE.search(line) or TRACEBACK in line
    ]
    assert not warnings_seen, "Python warnings in the quick run:\n" + "\n".join(warnings_seen)
    if page == PRESENTS_CAMPAIGN:  # it presented the campaign's results, and said so
        text = "\n".join(str(o.get("text", "")) + json.dumps(o.get("data", {}), ensure_ascii=False)
                         for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
        assert "저장된 결과" in text and "smoke/ch02/" in text, "the notebook did not present them"
    print(f"{page}: quick run {elapsed:.1f} s")


# ----------------------------------------------------------------------------------------------
# The HTML build and the browser check (one build, shared by both tests on one xdist worker)


@pytest.fixture(scope="session")
def built_book(tmp_path_factory):
    out = tmp_path_factory.mktemp("book")
    jupyter_book = Path(sys.executable).parent / "jupyter-book"
    cmd = [str(jupyter_book), "build", str(ROOT), "-W", "-n", "--keep-going", "--path-output", str(out)]
    start = time.monotonic()
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=1800, check=False)
    elapsed = time.monotonic() - start
    log = result.stdout + result.stderr
    warnings = [line for line in log.splitlines() if "WARNING" in line or "ERROR" in line]
    html = out / "_build" / "html"
    return {"rc": result.returncode, "log": log, "warnings": warnings, "html": html, "seconds": elapsed}


@pytest.mark.xdist_group("book_build")
def test_book_builds_without_warnings(built_book):
    assert built_book["rc"] == 0 and not built_book["warnings"], (
        "jupyter-book build -W -n failed:\n"
        + "\n".join(built_book["warnings"] or built_book["log"].splitlines()[-40:])
    )
    for page in PAGES:
        assert (built_book["html"] / f"{page}.html").is_file(), f"{page}.html was not built"
    print(f"book built in {built_book['seconds']:.1f} s")


@pytest.mark.xdist_group("book_build")
def test_book_in_a_real_browser(built_book, tmp_path):
    chromium = browser_check.find_chromium()
    if chromium is None:
        pytest.skip("browser check skipped: chromium is not installed (apt-get install -y chromium)")
    if built_book["rc"] != 0:
        pytest.fail("the book did not build; see test_book_builds_without_warnings")
    shots = Path(os.environ.get("BOOK_SCREENSHOT_DIR", tmp_path / "screenshots"))
    problems = browser_check.run_checks(built_book["html"], ROOT, screenshots=shots, chromium=chromium)
    assert not problems, "\n".join(problems)
    assert sorted(p.name for p in shots.glob("*.png")), "no screenshots were written"


def test_browser_check_catches_a_broken_image(tmp_path):
    """The checker itself: a page with a missing image and a corrupt one must be reported."""
    chromium = browser_check.find_chromium()
    if chromium is None:
        pytest.skip("browser check skipped: chromium is not installed (apt-get install -y chromium)")
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really a png")
    (tmp_path / "page.html").write_text(
        "<html><head><title>t</title></head><body><h1>t</h1>"
        '<img src="missing.png"><img src="bad.png"></body></html>',
        encoding="utf-8",
    )
    with browser_check.serve(tmp_path) as base:
        problems, report = browser_check.check_page(chromium, base, tmp_path, "page")
    assert sorted(report["broken"]) == ["bad.png", "missing.png"]
    assert any("missing.png: missing" in p for p in problems)
    assert any("bad.png: PNG without an IHDR header" in p for p in problems)
    assert any("bad.png" in p and "did not load in the browser" in p for p in problems)


def test_book_tools_installed():
    """The notebook and build tooling the tests rely on is installed (requirements.txt)."""
    import nbclient  # noqa: F401
    import nbformat  # noqa: F401

    assert shutil.which("jupyter-book", path=str(Path(sys.executable).parent)), (
        "jupyter-book is not installed next to this Python; run make test (it installs requirements.txt)"
    )
