"""The figures a run writes: vector PDFs with TrueType fonts (checked with poppler's
``pdffonts``), the --format/--dpi/--style options, and the data table next to each figure."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from attnlab import plot
from attnlab.cli import app


def pdf_fonts(pdffonts: str, pdf: Path) -> list[dict[str, str]]:
    """The rows of ``pdffonts PDF``: name, type, embedded."""
    proc = subprocess.run([pdffonts, str(pdf)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("name") and set(lines[1]) <= {"-", " "}, proc.stdout
    # columns are fixed-width: cut at the dashes of the header's underline
    cuts = [i for i, ch in enumerate(lines[1]) if ch == "-" and (i == 0 or lines[1][i - 1] == " ")]
    rows = []
    for line in lines[2:]:
        cells = [line[a:b].strip() for a, b in zip(cuts, cuts[1:] + [len(line)], strict=True)]
        rows.append({"name": cells[0], "type": cells[1], "embedded": cells[3]})
    return rows


def test_demo_pdfs_embed_truetype_and_no_type3(pdffonts: str, demo_report: Path) -> None:
    pdfs = sorted(demo_report.glob("*/*.pdf"))
    assert pdfs, "the quick demo run wrote no PDF"
    for pdf in pdfs:
        fonts = pdf_fonts(pdffonts, pdf)
        assert fonts, f"{pdf.name}: no font at all (text drawn as paths?)"
        assert not [f for f in fonts if "Type 3" in f["type"]], (pdf, fonts)
        assert all("TrueType" in f["type"] and f["embedded"] == "yes" for f in fonts), fonts
        # the demo's labels hold mathtext ($\bar x$, $N(\mu, 1/n)$): its italic glyphs come
        # from an embedded TrueType font too
        assert any("Oblique" in f["name"] or "Italic" in f["name"] for f in fonts), fonts


@pytest.mark.parametrize("style_name", ["paper", "talk"])
def test_mathtext_in_pdf_is_truetype(pdffonts: str, tmp_path: Path, style_name: str) -> None:
    with plot.style(style_name):
        fig, ax = plot.subplots()
        plot.theory_line(ax, [0, 1], [0, 1], label=r"$\langle u, \hat\mu \rangle^2$")
        plot.finish(
            ax,
            xlabel=r"$\alpha = n / d$",
            ylabel=r"$\mathcal{R}_\infty(\theta) + \sum_{i=1}^{L} \sqrt{\lambda_i}$",
            title=r"MP$_\delta \boxtimes$ MP$_\gamma$",
        )
        (name,) = plot.save_figure(fig, tmp_path / "math", formats=["pdf"])
    fonts = pdf_fonts(pdffonts, tmp_path / name)
    assert len(fonts) >= 2 and not [f for f in fonts if "Type 3" in f["type"]], fonts
    assert all(f["embedded"] == "yes" for f in fonts), fonts


def test_cli_figure_options_reach_the_files(tmp_path: Path) -> None:
    args = ["run", "demo-mean", "--quick", "--out", str(tmp_path), "--no-progress"]
    res = CliRunner().invoke(app, [*args, "--format", "svg,png", "--dpi", "100", "--style", "talk"])
    assert res.exit_code == 0, res.output
    (run,) = (p for p in tmp_path.iterdir() if p.is_dir())
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["figures"] == ["histogram.svg", "histogram.png"]
    assert not (run / "histogram.pdf").exists()
    svg = (run / "histogram.svg").read_text()
    assert "<text" in svg and "density" in svg  # text kept as text
    png = (run / "histogram.png").read_bytes()
    width = int.from_bytes(png[16:20], "big")
    # a talk panel is 5 in wide: about 500 px at 100 dpi ("tight" bbox: ±0.2 in)
    assert 4.8 * 100 <= width <= 5.2 * 100, width


def test_each_figure_has_its_data_next_to_it(demo_report: Path) -> None:
    (run,) = [p for p in demo_report.iterdir() if (p / "manifest.json").is_file()]
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["figure_data"] == {"histogram": "histogram.data.csv"}
    assert "histogram.data.csv" in manifest["files"]
    data = pd.read_csv(run / "histogram.data.csv")
    assert set(data["curve"]) == {"simulation", "theory"}
    # the histogram's samples are the run's estimates, to the last digit
    sim = data[data["curve"] == "simulation"]["x"].to_numpy()
    np.testing.assert_array_equal(sim, pd.read_parquet(run / "results.parquet")["mean"])
    theory = data[data["curve"] == "theory"]
    assert theory["density"].notna().all() and len(theory) == 200
    assert manifest["figure_problems"] == {}
