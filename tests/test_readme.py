"""The README is true to the code, and the repository stands alone.

- Every ```python and ```bash block of README.md runs as written: each in a fresh temporary
  folder (cwd; bash blocks with the running interpreter's bin folder first on PATH, python
  blocks with that interpreter), and again, one after the other, in a copy of the repository
  right after a real ``bash scripts/main.sh`` (the Quick start), so a block never collides
  with what the Quick start or an earlier block left in ``runs/``. Blocks that are not meant
  to be run (command synopses, folder trees) are ```text; any other fence fails the test.
- The Quick start block itself cannot run here in full: its second command,
  ``bash scripts/test.sh``, runs this test suite (it would recurse). So the test checks that
  the block is exactly ``bash scripts/main.sh`` + ``bash scripts/test.sh``, that CI
  (``.ci/run``) runs ``scripts/test.sh``, and runs ``scripts/main.sh`` for real.
- No file of the repository points at the development machine's ``shared`` folder beside it
  (design notes and reference numbers that a clone does not have: they live in
  ARCHITECTURE.md and docs/book-reference.md), and the docs' relative links name existing
  files.

The blocks train on Fashion-MNIST (minutes in all), hence ``slow``. They run with one
intra-op thread unless OMP_NUM_THREADS is set: the test may share the CPU with other test
processes, where OpenMP threads spinning against each other make small steps many times
slower (see conftest's ``one_thread``); results do not depend on it.
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
BIN = Path(sys.executable).parent
RUNNABLE = ("python", "bash")
LANGS = (*RUNNABLE, "text")
QUICK_START = ["bash scripts/main.sh", "bash scripts/test.sh"]
BLOCK_TIMEOUT_S = 300  # each block should take well under a minute; fail rather than hang
MAIN_TIMEOUT_S = 900
# Where the repository's own text lives (generated *.egg-info copies are skipped).
STANDALONE_PATHS = ("README.md", "ARCHITECTURE.md", "docs", "src", "benchmarks", "scripts",
                    "tests", ".ci", "pyproject.toml")
OUTSIDE = ("..", "/shared")  # joined below, so this file does not match itself


def readme_blocks(text: str | None = None) -> list[dict]:
    """The fenced blocks of the README in order: {"lang", "code", "line" (1-based line of
    the opening fence), "section" (the ``## `` heading above it)}."""
    lines = (README.read_text(encoding="utf-8") if text is None else text).splitlines()
    blocks, section, i = [], "", 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("## "):
            section = line[3:].strip()
        if line.startswith("```"):
            start, lang, body = i + 1, line[3:].strip(), []
            i += 1
            while i < len(lines) and not lines[i].startswith("```"):
                body.append(lines[i])
                i += 1
            assert i < len(lines), f"README.md:{start}: fence never closed"
            blocks.append({"lang": lang, "code": "\n".join(body) + "\n", "line": start,
                           "section": section})
        i += 1
    return blocks


def is_quick_start(block: dict) -> bool:
    return block["section"] == "Quick start"


def runnable_blocks() -> list[dict]:
    return [b for b in readme_blocks() if b["lang"] in RUNNABLE and not is_quick_start(b)]


def commands(code: str) -> list[str]:
    """Shell commands of a block: comments and blank lines dropped."""
    out = []
    for line in code.splitlines():
        line = re.sub(r"\s+#.*$", "", line).strip()
        if line and not line.startswith("#"):
            out.append(line)
    return out


def block_env() -> dict:
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("OMP_NUM_THREADS", "1")
    env.setdefault("MPLBACKEND", "Agg")
    env["PYTHONUNBUFFERED"] = "1"
    return env


def run_block(block: dict, cwd: Path) -> str:
    """Run one block as written in `cwd`; fails with its output when it exits non-zero."""
    if block["lang"] == "python":
        argv = [sys.executable, "-c", block["code"]]
    else:
        argv = ["bash", "-e", "-o", "pipefail", "-c", block["code"]]
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, env=block_env(), capture_output=True, text=True,
                          timeout=BLOCK_TIMEOUT_S)
    output = proc.stdout + proc.stderr
    print(f"README.md:{block['line']} {block['lang']} block: {time.perf_counter() - start:.1f} s")
    assert proc.returncode == 0, (
        f"README.md:{block['line']} ({block['lang']} block of '{block['section']}') exited "
        f"with {proc.returncode} in {cwd}:\n{output[-4000:]}")
    return output


# -- fences -------------------------------------------------------------------------------

def test_every_block_is_python_bash_or_text():
    blocks = readme_blocks()
    assert blocks, "README.md has no code blocks"
    odd = [(b["line"], b["lang"]) for b in blocks if b["lang"] not in LANGS]
    assert not odd, (f"README blocks at (line, fence) {odd}: use ```python or ```bash for "
                     "what runs as written, ```text for what does not")


def test_block_parser():
    text = "## A\n```bash\necho 1  # c\n```\n## Quick start\n```text\nx\n```\n"
    blocks = readme_blocks(text)
    assert [(b["lang"], b["line"], b["section"]) for b in blocks] == [
        ("bash", 2, "A"), ("text", 6, "Quick start")]
    assert commands(blocks[0]["code"]) == ["echo 1"]


# -- the Quick start ----------------------------------------------------------------------

def test_quick_start_is_main_then_the_ci_test_script():
    quick = [b for b in readme_blocks() if is_quick_start(b)]
    assert [b["lang"] for b in quick] == ["bash"], "Quick start: one bash block"
    assert commands(quick[0]["code"]) == QUICK_START
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^\s*(exec\s+)?bash scripts/test\.sh\b", ci, re.M), \
        ".ci/run must run scripts/test.sh (the README's test command)"
    assert "pytest" in (ROOT / "scripts" / "test.sh").read_text()
    assert (ROOT / "scripts" / "main.sh").is_file()


def _setup_is_done() -> str | None:
    """Why scripts/setup.sh would install something into the running venv (None: it would
    not). Running main.sh then would reinstall latentforge from a temporary copy."""
    prefix = Path(sys.prefix)
    if prefix == Path(sys.base_prefix):
        return "the tests do not run in a virtual environment"
    stamp = prefix / ".latentforge-installed"
    torch_spec = os.environ.get("LATENTFORGE_TORCH", "torch==2.13.0")
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()[:16]
    want = f"{torch_spec} {digest}"
    have = stamp.read_text().strip() if stamp.is_file() else None
    if have != want:
        return (f"{prefix} was not installed by scripts/setup.sh for this pyproject.toml "
                f"(stamp {have!r}, want {want!r}); run `bash scripts/setup.sh` first")
    return None


def _copy_repo(dest: Path) -> Path:
    """The repository's files (no .git, venv, runs or caches) in `dest`, with `.venv` a link
    to the running venv, as scripts/setup.sh leaves a clone."""
    shutil.copytree(ROOT, dest, ignore=shutil.ignore_patterns(
        ".git", ".venv", "runs", "__pycache__", "*.egg-info", ".pytest_cache", "data-cache",
        "build"))
    (dest / ".venv").symlink_to(Path(sys.prefix), target_is_directory=True)
    return dest


@pytest.mark.slow
def test_main_sh_then_every_block(tmp_path):
    """``bash scripts/main.sh`` in a copy of the repository, then every runnable block in
    that copy, in README order (a user who copies them right after the Quick start)."""
    why = _setup_is_done()
    if why:
        pytest.skip(why)
    repo = _copy_repo(tmp_path / "repo")
    start = time.perf_counter()
    proc = subprocess.run(["bash", "scripts/main.sh"], cwd=repo, env=block_env(),
                          capture_output=True, text=True, timeout=MAIN_TIMEOUT_S)
    output = proc.stdout + proc.stderr
    print(f"scripts/main.sh: {time.perf_counter() - start:.1f} s")
    assert proc.returncode == 0, f"scripts/main.sh exited with {proc.returncode}:\n{output[-4000:]}"
    run = repo / "runs" / "stacked_ae-book"
    for name in ("config.json", "model.safetensors", "evaluation.json", "report.html"):
        assert (run / name).is_file(), f"main.sh left no {name} in {run}"
    assert "done: see runs/stacked_ae-book/report.html" in output
    failures = []
    for block in runnable_blocks():  # all of them, also after a failure: one report
        try:
            run_block(block, repo)
        except AssertionError as exc:
            failures.append(str(exc))
    assert not failures, "\n\n".join(failures)
    assert (run / "model.safetensors").is_file(), "a README block removed the Quick start's run"


# -- every other block, in a fresh folder ------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("block", runnable_blocks(),
                         ids=lambda b: f"{b['lang']}-line{b['line']}")
def test_block_runs_in_a_fresh_folder(block, tmp_path):
    run_block(block, tmp_path)


# -- the repository stands alone ---------------------------------------------------------

def _text_files():
    for name in STANDALONE_PATHS:
        path = ROOT / name
        files = [path] if path.is_file() else sorted(path.rglob("*")) if path.is_dir() else []
        for f in files:
            parts = f.relative_to(ROOT).parts
            if not f.is_file() or "__pycache__" in parts or any(
                    p.endswith(".egg-info") for p in parts):
                continue
            try:
                yield f, f.read_text(encoding="utf-8")
            except UnicodeDecodeError:  # binary assets (weights)
                continue


def test_no_file_points_outside_the_repository():
    needles = ("".join(OUTSIDE), "/work" + "".join(OUTSIDE)[2:])
    hits = [f"{f.relative_to(ROOT)}:{n}: {line.strip()}"
            for f, text in _text_files()
            for n, line in enumerate(text.splitlines(), 1)
            if any(needle in line for needle in needles)]
    assert not hits, ("files the repository needs must live inside it (docs/book-reference.md, "
                      "ARCHITECTURE.md):\n" + "\n".join(hits))


def test_relative_links_of_the_docs_exist():
    docs = [README, ROOT / "ARCHITECTURE.md", *sorted((ROOT / "docs").glob("*.md"))]
    missing = []
    for doc in docs:
        assert doc.is_file(), f"{doc.relative_to(ROOT)} is missing"
        for target in re.findall(r"\]\(([^)\s]+)\)", doc.read_text(encoding="utf-8")):
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue  # URLs, anchors
            if not (doc.parent / target.split("#")[0]).exists():
                missing.append(f"{doc.relative_to(ROOT)} -> {target}")
    assert not missing, "broken relative links:\n" + "\n".join(missing)


def test_architecture_lists_every_module():
    """ARCHITECTURE.md describes the package as it is: every module and subpackage of
    src/latentforge is named in it (a new module needs its line there)."""
    text = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")
    package = ROOT / "src" / "latentforge"
    names = {p.name for p in package.rglob("*.py") if p.name != "__init__.py"}
    names |= {f"{p.name}/" for p in package.iterdir()
              if p.is_dir() and (p / "__init__.py").is_file()}
    missing = sorted(n for n in names if n not in text)
    assert not missing, f"ARCHITECTURE.md does not mention: {', '.join(missing)}"
