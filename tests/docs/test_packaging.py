"""Packaging: one version, license and citation files, extras, dependency floors, no outside refs."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

import attnlab
from attnlab._validate import ParameterError
from attnlab.cli import app

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_version_has_one_source_and_the_cli_prints_it():
    project = PYPROJECT["project"]
    assert "version" not in project and "version" in project["dynamic"]
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "attnlab.__version__"}
    assert re.fullmatch(r"\d+\.\d+\.\d+", attnlab.__version__)
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0, result.output
    assert result.output == f"attnlab {attnlab.__version__}\n"
    cff = (ROOT / "CITATION.cff").read_text()
    assert re.search(r"^version: (\S+)$", cff, re.M)[1] == attnlab.__version__


def test_license_citation_and_typing_marker():
    assert PYPROJECT["project"]["license"] == "MIT"
    assert (ROOT / "LICENSE").read_text().startswith("MIT License\n")
    assert (ROOT / "src" / "attnlab" / "py.typed").is_file()
    assert "include src/attnlab/py.typed" in (ROOT / "MANIFEST.in").read_text()
    cff = (ROOT / "CITATION.cff").read_text()
    for arxiv in ("2606.22406", "2605.06826", "2410.01537", "2509.21936"):
        assert f'value: "arXiv:{arxiv}"' in cff
        assert arxiv in (ROOT / "docs" / "cite.md").read_text()


def test_dependencies_have_floors_and_extras_split_what_is_optional():
    deps = PYPROJECT["project"]["dependencies"]
    assert all(re.fullmatch(r"[A-Za-z0-9_.\-]+(\[[^\]]*\])?>=[0-9][^,;\s]*", d) for d in deps), deps
    names = {re.split(r"[\[>]", d)[0] for d in deps}
    assert not names & {"dask", "distributed"}, "dask is the optional [dask] extra"
    extras = PYPROJECT["project"]["optional-dependencies"]
    assert any(d.startswith("dask[distributed]") for d in extras["dask"])
    assert any(d.startswith("jax[cuda") for d in extras["gpu"])
    assert "attnlab[dask,docs]" in extras["test"]  # CI tests the dask engine and the docs build
    assert any(d.startswith("mkdocstrings") for d in extras["docs"])


def test_dask_engine_without_dask_says_how_to_install_it(tmp_path, monkeypatch):
    """With dask.distributed missing, `--engine dask` is one line naming the extra, exit 2."""
    monkeypatch.setitem(sys.modules, "distributed", None)  # `import distributed` fails
    from attnlab.sweep import Task, run_tasks

    with pytest.raises(ParameterError, match=r"pip install 'attnlab\[dask\]'"):
        run_tasks([Task("demo-mean", {}, True, tmp_path)], engine="dask", progress=False)
    sweep = tmp_path / "grid.toml"
    sweep.write_text('experiment = "demo-mean"\nquick = true\n[grid]\nn = [10]\n')
    result = CliRunner().invoke(
        app, ["sweep", str(sweep), "--engine", "dask", "--out", str(tmp_path)]
    )
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert lines[-1] == (
        "error: engine = 'dask' needs dask.distributed, which is not installed: "
        "pip install 'attnlab[dask]'"
    )
    assert not list(tmp_path.glob("demo-mean-*"))  # nothing ran


def test_min_versions_and_docs_scripts():
    """scripts/min-versions pins each declared floor; the scripts parse (nothing installed)."""
    script = (ROOT / "scripts" / "min-versions").read_text()
    assert '"pyproject.toml"' in script and "pip check" in script and "reproduce" in script
    assert "mkdocs build --strict" in (ROOT / "scripts" / "docs").read_text()
    test_script = (ROOT / "scripts" / "test").read_text()
    assert 'scripts/docs"' in test_script and 'scripts/min-versions"' in test_script
    for name in ("min-versions", "docs", "test", "_venv.sh"):
        res = subprocess.run(["bash", "-n", str(ROOT / "scripts" / name)], capture_output=True)
        assert res.returncode == 0, (name, res.stderr)


OUTSIDE = re.compile(r"shared/spec|\.\./shared|spec §|\bthe spec\b|\bspec's\b", re.IGNORECASE)


def test_nothing_refers_to_files_outside_the_repository():
    """A user who clones attnlab has no spec folder: no file may point to one."""
    files = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split("\0")
    this = Path(__file__).relative_to(ROOT).as_posix()
    offenders = []
    for rel in filter(None, files):
        path = ROOT / rel
        if rel == this or not path.is_file() or path.suffix in {".png", ".pdf", ".woff2"}:
            continue
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue
        offenders += [
            f"{rel}:{n}" for n, line in enumerate(text.splitlines(), 1) if OUTSIDE.search(line)
        ]
    assert not offenders, (
        f"{len(offenders)} references to files outside the repository: {offenders}"
    )
