"""The report-rendering tooling itself (tests/report/render.py, scripts/render/render.mjs).

One constructed report holds what the pull-request report holds: a GFM table, a `<details>`
block with an `xychart-beta` chart inside, then a chart that mermaid refuses and a block that
mermaid draws as its "Syntax error in text" bomb. It is rendered once for the module (one node
run, one browser): its HTML, SVGs and a screenshot are what the tests below assert on.
"""

from __future__ import annotations

import re
import struct
import subprocess
import zlib

import pytest

from tests.report.render import (
    RENDER_TOOLS,
    MermaidError,
    Rendered,
    _as_html,
    gfm_html,
    mermaid_blocks,
    render,
)

pytestmark = pytest.mark.render

CHART = """xychart-beta
    title "Accuracy by commit"
    x-axis [a1b2c3d, e4f5a6b, "PR #12"]
    y-axis "Accuracy" 0.8 --> 0.9
    line [0.84, 0.851, 0.862]
    line [0.85, 0.85, 0.85]
"""
BROKEN = """xychart-beta
    title "Latency by commit"
    x-axis [a1b2c3d, e4f5a6b
    line [12.5, 13.1]
"""
# Mermaid's own error diagram: it parses, and renders to the bomb instead of throwing.
BOMB = "error\n"
REPORT = f"""## Model report

| metric | main | this PR | Δ |
| --- | ---: | ---: | ---: |
| accuracy | 0.851 | 0.862 | +0.011 |
| ~~f1~~ | 0.70 | 0.71 | +0.01 |

<details><summary>Accuracy by commit</summary>

```mermaid
{CHART}```

</details>

```mermaid
{BROKEN}```

```mermaid
{BOMB}```
"""
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def fence_lines(markdown: str, body: str) -> tuple[int, int]:
    """The markdown lines (from 1) of the fence holding `body`, its two fence lines included."""
    start = markdown.index(body)
    first = markdown.count("\n", 0, start)  # the opening fence's line, counted from 1
    return first, first + body.count("\n") + 1


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Rendered:
    out = tmp_path_factory.mktemp("render")
    return render(REPORT, out / "svg", screenshot=out / "report.png", open_details=True)


def test_gfm_keeps_the_table_the_details_and_the_mermaid_fences() -> None:
    html = gfm_html(REPORT)
    table = re.search(r"<table>.*?</table>", html, re.DOTALL)
    assert table, html
    assert re.findall(r"<th[^>]*>(.*?)</th>", table[0]) == ["metric", "main", "this PR", "Δ"]
    assert '<td align="right">+0.011</td>' in table[0]
    assert "<td><del>f1</del></td>" in table[0]
    assert "<details><summary>Accuracy by commit</summary>" in html
    assert html.index("<details>") < html.index('<pre lang="mermaid">') < html.index("</details>")
    assert html.count('<pre lang="mermaid"><code>') == 3
    # Entities decoded: the quotes and `#` reach mermaid as written.
    assert mermaid_blocks(html) == [CHART, BROKEN, BOMB]


def test_gfm_filters_tags_as_github_does_and_marks_source_lines() -> None:
    html = gfm_html("<script>alert(1)</script>\n\n- [x] done\n", sourcepos=True)
    assert "<script>" not in html and "&lt;script>" in html
    assert '<input type="checkbox" checked="" disabled="" />' in html
    lines = fence_lines(REPORT, BROKEN)
    assert f'<pre data-sourcepos="{lines[0]}:1-{lines[1]}:3" lang="mermaid">' in gfm_html(
        REPORT, sourcepos=True
    )


def test_a_valid_xychart_renders_to_an_svg_with_its_text(rendered: Rendered) -> None:
    chart = rendered.blocks[0]
    assert chart.ok and chart.error is None, chart.error
    assert chart.diagram == "xychart" and chart.title == "Accuracy by commit"
    assert chart.lines == fence_lines(REPORT, CHART)
    assert chart.svg is not None and chart.svg.name == "mermaid-1.svg"
    svg = chart.svg.read_text()
    assert svg.startswith("<svg") and 'aria-roledescription="xychart"' in svg
    texts = re.findall(r"<text[^>]*>([^<]*)</text>", svg)
    for text in ("Accuracy by commit", "Accuracy", "a1b2c3d", "e4f5a6b", "PR #12", "0.8", "0.9"):
        assert text in texts, (text, texts)
    assert 'class="line-plot-0"' in svg and 'class="line-plot-1"' in svg
    assert "Syntax error" not in svg
    assert rendered.mermaid.startswith("11.")


def test_broken_blocks_fail_naming_them(rendered: Rendered) -> None:
    broken, bomb = rendered.blocks[1:]
    assert not broken.ok and broken.svg is None
    assert broken.error and "Parse error on line 3" in broken.error
    assert not bomb.ok and bomb.svg is None and bomb.diagram == "error"
    assert [block.index for block in rendered.failures] == [2, 3]
    with pytest.raises(MermaidError) as raised:
        rendered.check()
    first, last = fence_lines(REPORT, BROKEN)
    chart = 'xychart-beta "Latency by commit"'
    named = f"mermaid block 2 of 3 (markdown lines {first}-{last}, {chart})"
    assert str(raised.value).startswith(f"{named}: Parse error on line 3:")
    first, last = fence_lines(REPORT, BOMB)
    named = f"mermaid block 3 of 3 (markdown lines {first}-{last}, error)"
    assert f"{named}: mermaid drew its 'Syntax error in text' diagram instead" in str(raised.value)
    assert "block 1 " not in str(raised.value)


def png_size(data: bytes) -> tuple[int, int]:
    """A PNG's width and height, once its signature and IHDR chunk (with its CRC) check out."""
    assert data[:8] == PNG_SIGNATURE
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR" and length == 13
    (crc,) = struct.unpack(">I", data[29:33])
    assert zlib.crc32(data[12:29]) == crc
    width, height = struct.unpack(">II", data[16:24])
    assert data.endswith(b"IEND\xaeB`\x82")
    return width, height


def test_the_screenshot_is_a_png_of_the_whole_report(rendered: Rendered) -> None:
    assert rendered.screenshot is not None
    data = rendered.screenshot.read_bytes()
    width, height = png_size(data)
    assert width == 1012
    # The opened <details> shows the 500 px chart under the table; the two error boxes
    # follow it: the page is longer than the chart alone.
    assert height > 700, height
    assert len(data) > 20_000


def test_render_tools_is_idempotent(rendered: Rendered) -> None:
    """Once the fixture has installed everything, a second run only checks and says so."""
    done = subprocess.run(
        ["bash", str(RENDER_TOOLS)], capture_output=True, text=True, timeout=60, check=True
    )
    assert "render packages up to date" in done.stdout
    assert "apt-get" not in done.stdout and "npm ci" not in done.stdout
    assert re.search(r"^chromium=/\S+$", done.stdout, re.MULTILINE)


def test_render_reads_html_as_given() -> None:
    """No browser: text holding a rendered block is taken as HTML, not re-rendered."""
    html = gfm_html(REPORT)
    assert _as_html(html) == html
    assert _as_html(REPORT) == gfm_html(REPORT, sourcepos=True)
