"""Render a markdown report as GitHub renders it, for the report tests.

GitHub turns a comment's markdown into HTML with its own cmark-gfm (the `cmarkgfm` package
wraps the same C library) and draws each ```mermaid fence with mermaid in a browser. Here:

- `gfm_html(markdown)`: the HTML, with GitHub's extensions (table, strikethrough, autolink,
  tagfilter, tasklist), footnotes, raw HTML kept (`<details>`, `<summary>`...) and fences
  written as `<pre lang="mermaid"><code>`. GitHub then sanitises that HTML (drops `style`
  attributes, scripts and the like); this does not, so assert on what GitHub keeps.
- `mermaid_blocks(html)`: the text of each mermaid block, in document order.
- `render(...)`, `render_mermaid(...)`, `screenshot(...)`: one run of
  scripts/render/render.mjs, which draws every block with the pinned mermaid in headless
  Chromium (one browser for all blocks) and can screenshot the whole report. A block that
  mermaid refuses is a `MermaidError` naming the block and its markdown lines.

The first render of a session runs scripts/render-tools.sh, which installs what is missing
(Debian's chromium, the npm packages in .tools/render) and does nothing when all is there.
"""

from __future__ import annotations

import functools
import json
import os
import re
import subprocess
import tempfile
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import cmarkgfm  # type: ignore[import-untyped]
from cmarkgfm.cmark import Options  # type: ignore[import-untyped]

from tests.tools import ToolsError, install_tool

ROOT = Path(__file__).resolve().parents[2]
RENDER_TOOLS = ROOT / "scripts" / "render-tools.sh"
RENDERER = ROOT / "scripts" / "render" / "render.mjs"
EXTENSIONS = ("table", "strikethrough", "autolink", "tagfilter", "tasklist")
# Only text already rendered to HTML holds a block in this form; markdown holds fences.
_HTML_BLOCK = re.compile(r'<pre\b[^>]*\blang="mermaid"|<code\b[^>]*\bclass="[^"]*language-mermaid')


def gfm_html(markdown: str, *, sourcepos: bool = False) -> str:
    """`markdown` as GitHub's cmark-gfm renders a comment, before GitHub's sanitiser.

    With `sourcepos`, every block element carries `data-sourcepos="12:1-20:3"` (its markdown
    lines and columns), which `render` uses to say where a broken mermaid block is.
    """
    options = Options.CMARK_OPT_GITHUB_PRE_LANG | Options.CMARK_OPT_UNSAFE
    options |= Options.CMARK_OPT_FOOTNOTES
    if sourcepos:
        options |= Options.CMARK_OPT_SOURCEPOS
    html = cmarkgfm.markdown_to_html_with_extensions(
        markdown, options=options, extensions=list(EXTENSIONS)
    )
    return str(html)


class _MermaidBlocks(HTMLParser):
    """Collects the text of `<pre lang="mermaid">` (or `<code class="language-mermaid">`)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[str] = []
        self._inside: str | None = None  # the tag that opened the current block
        self._nested = 0  # tags of that name opened inside it
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._inside is not None:
            self._nested += tag == self._inside
            return
        values = dict(attrs)
        if (tag == "pre" and values.get("lang") == "mermaid") or (
            tag == "code" and "language-mermaid" in (values.get("class") or "").split()
        ):
            self._inside, self._nested, self._text = tag, 0, []

    def handle_endtag(self, tag: str) -> None:
        if tag != self._inside:
            return
        if self._nested:
            self._nested -= 1
        else:
            self.blocks.append("".join(self._text))
            self._inside = None

    def handle_data(self, data: str) -> None:
        if self._inside is not None:
            self._text.append(data)


def mermaid_blocks(html: str) -> list[str]:
    """The text of every mermaid block in `html` (as `gfm_html` writes them), in order."""
    parser = _MermaidBlocks()
    parser.feed(html)
    parser.close()
    return parser.blocks


@dataclass(frozen=True)
class Block:
    """One mermaid block as render.mjs drew it (or failed to)."""

    index: int  # from 1, in document order
    ok: bool
    diagram: str | None  # mermaid's diagram type, e.g. "xychart"
    first_line: str
    title: str | None
    sourcepos: str | None  # "12:1-20:3" when the HTML came from markdown
    svg: Path | None  # the drawing, when an out_dir was given and the block drew
    error: str | None

    @property
    def lines(self) -> tuple[int, int] | None:
        """The block's first and last markdown lines (its fences included), when known."""
        found = re.fullmatch(r"(\d+):\d+-(\d+):\d+", self.sourcepos or "")
        return (int(found[1]), int(found[2])) if found else None

    def name(self, count: int) -> str:
        """How render.mjs names it: `mermaid block 2 of 3 (markdown lines 12-20, xychart-beta
        "Latency")`, the lines when known, the title when the block has one."""
        what = self.first_line
        if self.title is not None:
            what += f" {json.dumps(self.title, ensure_ascii=False)}"
        lines = self.lines
        where = f"markdown lines {lines[0]}-{lines[1]}, {what}" if lines else what
        return f"mermaid block {self.index} of {count} ({where})"


class MermaidError(Exception):
    """Mermaid refused one or more blocks: a report GitHub would show a syntax error for."""


@dataclass(frozen=True)
class Rendered:
    """What one render.mjs run drew: every block, and the screenshot when one was asked for."""

    blocks: list[Block]
    screenshot: Path | None
    mermaid: str  # the mermaid version that drew them
    browser: str

    @property
    def failures(self) -> list[Block]:
        return [block for block in self.blocks if not block.ok]

    def check(self) -> list[Path]:
        """The SVG files, or a `MermaidError` naming every block that did not draw."""
        if self.failures:
            count = len(self.blocks)
            raise MermaidError(
                "\n".join(f"{block.name(count)}: {block.error}" for block in self.failures)
            )
        return [block.svg for block in self.blocks if block.svg is not None]


class RenderToolsError(ToolsError):
    """The renderer could not run: no browser, no render packages, or a crash."""


@functools.cache
def ensure_render_tools() -> str:
    """Run scripts/render-tools.sh once per session; the Chromium it settled on."""
    return install_tool(RENDER_TOOLS, "chromium", RenderToolsError)


def _as_html(html_or_markdown: str) -> str:
    """HTML as given (it holds a rendered mermaid block), else the markdown rendered."""
    if _HTML_BLOCK.search(html_or_markdown):
        return html_or_markdown
    return gfm_html(html_or_markdown, sourcepos=True)


def render(
    html_or_markdown: str,
    out_dir: Path | None = None,
    *,
    screenshot: Path | None = None,
    open_details: bool = False,
    width: int | None = None,
) -> Rendered:
    """Draw every mermaid block (into out_dir/mermaid-N.svg, with an out_dir) in one browser.

    Text holding `<pre lang="mermaid">` (or `class="language-mermaid"`) is taken as
    `gfm_html`'s output, anything else as markdown. Blocks that fail do not raise here: see
    `Rendered.failures` and `Rendered.check()`. `screenshot` writes a full-page PNG of the
    report (with every `<details>` opened first when `open_details`); `width` is the page's.
    """
    chromium = ensure_render_tools()
    with tempfile.TemporaryDirectory(prefix="conveyor-render-") as scratch:
        page = Path(scratch) / "report.html"
        page.write_text(_as_html(html_or_markdown), encoding="utf-8")
        command = ["node", str(RENDERER), "--html", str(page)]
        if out_dir is not None:
            command += ["--svg-dir", str(out_dir)]
        if screenshot is not None:
            command += ["--screenshot", str(screenshot)]
        if open_details:
            command.append("--open-details")
        if width is not None:
            command += ["--width", str(width)]
        done = subprocess.run(
            command,
            capture_output=True, text=True, timeout=300, check=False,
            env={**os.environ, "CHROMIUM": os.environ.get("CHROMIUM") or chromium},
        )  # fmt: skip
    if done.returncode not in (0, 1):
        raise RenderToolsError(f"render.mjs failed ({done.returncode}):\n{done.stderr}")
    summary: dict[str, Any] = json.loads(done.stdout)
    blocks = [
        Block(
            index=item["index"],
            ok=item["ok"],
            diagram=item["diagram"],
            first_line=item["first_line"],
            title=item["title"],
            sourcepos=item["sourcepos"],
            svg=Path(item["svg"]) if item["svg"] else None,
            error=item["error"],
        )
        for item in summary["blocks"]
    ]
    shot = Path(summary["screenshot"]) if summary["screenshot"] else None
    return Rendered(blocks, shot, summary["mermaid"], summary["browser"])


def render_mermaid(html_or_markdown: str, out_dir: Path) -> list[Path]:
    """Every mermaid block drawn to out_dir/mermaid-N.svg; `MermaidError` if any fails."""
    return render(html_or_markdown, out_dir).check()


def screenshot(markdown: str, png_path: Path, *, open_details: bool = False) -> Path:
    """A full-page PNG of `markdown` as GitHub would show it; `MermaidError` if a block fails."""
    rendered = render(markdown, screenshot=png_path, open_details=open_details)
    rendered.check()
    assert rendered.screenshot is not None
    return rendered.screenshot
