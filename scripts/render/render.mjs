#!/usr/bin/env node
// Render a markdown report's mermaid blocks to SVG in headless Chromium, as GitHub draws them,
// and optionally screenshot the whole report: proof that a report renders, not a look-alike.
//
//   node scripts/render/render.mjs (--html FILE | --mmd FILE...) [--svg-dir DIR]
//        [--screenshot PNG] [--open-details] [--width PX]
//
//   --html FILE      the report as HTML, as GitHub's cmark-gfm renders its markdown (tests/report/
//                    render.py's gfm_html): every <pre lang="mermaid"> (or <code
//                    class="language-mermaid">) is a block, numbered from 1 in document order
//   --mmd FILE       a bare mermaid diagram, one block per file (repeatable; instead of --html)
//   --svg-dir DIR    write block N's drawing to DIR/mermaid-N.svg
//   --screenshot PNG write a full-page screenshot of the report: github-markdown-css (light),
//                    each block replaced by its SVG (a failed one by GitHub's "Unable to render
//                    rich display" and mermaid's message), <details> as they are
//   --open-details   open every <details> first, so the screenshot shows what they hold
//   --width PX       the page's width (default 1012: GitHub's 980 px column, plus margins)
//
// Prints one JSON object to stdout: {mermaid, browser, blocks: [{index, ok, diagram,
// first_line, title, sourcepos, svg, error}], screenshot}. `sourcepos` is the block's
// data-sourcepos ("12:1-20:3": markdown lines) when the HTML was rendered with cmark's SOURCEPOS
// option, else null. Exit 0: every block drew. Exit 1: a block did not; stderr names each, e.g.
//   mermaid block 2 of 3 (markdown lines 12-20, xychart-beta "Latency"): Parse error on line 4:...
// for mermaid's parse error, its render error, or the "Syntax error in text" bomb it draws in
// place of a diagram. Exit 2: bad arguments, no browser, no render packages, or a crash.
//
// Mermaid runs as GitHub's light mode does: theme "default", securityLevel "strict". Nothing is
// fetched: mermaid's dist bundle and the CSS are read from node_modules ($RENDER_NODE_MODULES,
// else .tools/render/node_modules, where scripts/render-tools.sh installs them, else
// scripts/render/node_modules), and the page's own network requests are refused. The browser is
// $CHROMIUM, else /usr/bin/chromium, else `chromium` on PATH, run headless with --no-sandbox
// (root cannot use Chromium's sandbox).
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { delimiter, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const here = dirname(fileURLToPath(import.meta.url));
const USAGE =
  "usage: node render.mjs (--html FILE | --mmd FILE...) [--svg-dir DIR] [--screenshot PNG] " +
  "[--open-details] [--width PX]";

function die(message) {
  process.stderr.write(`render.mjs: ${message}\n`);
  process.exit(2);
}

function nodeModules() {
  const candidates = [
    process.env.RENDER_NODE_MODULES,
    join(here, "..", "..", ".tools", "render", "node_modules"),
    join(here, "node_modules"),
  ].filter(Boolean);
  const found = candidates.find((dir) => existsSync(join(dir, "mermaid", "package.json")));
  if (!found) {
    die(`no render packages in ${candidates.join(" or ")}: run scripts/render-tools.sh`);
  }
  return resolve(found);
}

function chromiumPath() {
  if (process.env.CHROMIUM) return process.env.CHROMIUM;
  if (existsSync("/usr/bin/chromium")) return "/usr/bin/chromium";
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (dir && existsSync(join(dir, "chromium"))) return join(dir, "chromium");
  }
  return die("no Chromium: set CHROMIUM, or run scripts/render-tools.sh to install Debian's");
}

function escapeHtml(text) {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

let options;
try {
  ({ values: options } = parseArgs({
    options: {
      html: { type: "string" },
      mmd: { type: "string", multiple: true },
      "svg-dir": { type: "string" },
      screenshot: { type: "string" },
      "open-details": { type: "boolean", default: false },
      width: { type: "string", default: "1012" },
      help: { type: "boolean", short: "h", default: false },
    },
    strict: true,
  }));
} catch (error) {
  die(`${error.message}\n${USAGE}`);
}
if (options.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}
if (Boolean(options.html) === Boolean(options.mmd)) die(`give --html or --mmd\n${USAGE}`);
const width = Number(options.width);
if (!Number.isInteger(width) || width < 200) die(`--width must be a whole number >= 200`);

let body;
try {
  body = options.html
    ? readFileSync(options.html, "utf8")
    : options.mmd
        .map((file) => escapeHtml(readFileSync(file, "utf8")))
        .map((text) => `<pre lang="mermaid"><code>${text}</code></pre>`)
        .join("\n");
} catch (error) {
  die(error.message);
}

const modules = nodeModules();
const require = createRequire(join(modules, "..", "package.json"));
const puppeteer = require("puppeteer-core");
const mermaidBundle = require.resolve("mermaid/dist/mermaid.min.js");
const mermaidVersion = require("mermaid/package.json").version;
const markdownCss = require.resolve("github-markdown-css/github-markdown-light.css");

let browser;
try {
  browser = await puppeteer.launch({
    executablePath: chromiumPath(),
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars"],
  });
} catch (error) {
  die(`Chromium did not start: ${error.message}`);
}

let results;
let screenshot = null;
let browserVersion = null;
try {
  const page = await browser.newPage();
  await page.setViewport({ width, height: 800, deviceScaleFactor: 1 });
  // Everything the page needs is put into it; a report's link to anywhere is not followed.
  await page.setRequestInterception(true);
  page.on("request", (request) =>
    /^(data|about|blob):/.test(request.url())
      ? request.continue()
      : request.abort("blockedbyclient"),
  );
  await page.setContent(
    `<!doctype html><html><head><meta charset="utf-8"><title>report</title></head>` +
      `<body><article class="markdown-body">${body}</article></body></html>`,
    { waitUntil: "load" },
  );
  // github-markdown-css's own README layout: GitHub's 980 px column.
  await page.addStyleTag({ path: markdownCss });
  await page.addStyleTag({
    content:
      "body { margin: 0; background: #fff; }" +
      ".markdown-body { box-sizing: border-box; min-width: 200px; max-width: 980px;" +
      " margin: 0 auto; padding: 16px; }",
  });
  await page.addScriptTag({ path: mermaidBundle });

  results = await page.evaluate(async () => {
    const mermaid = globalThis.mermaid;
    // GitHub's light theme; strict: no scripts or click handlers from a diagram's text.
    // suppressErrorRendering: a failed render throws instead of adding a bomb to the page.
    mermaid.initialize({
      startOnLoad: false,
      securityLevel: "strict",
      theme: "default",
      suppressErrorRendering: true,
    });
    const blocks = [
      ...document.querySelectorAll('pre[lang="mermaid"], pre:has(> code.language-mermaid)'),
    ];
    const out = [];
    for (const [offset, pre] of blocks.entries()) {
      const index = offset + 1;
      const code = pre.querySelector("code");
      const text = (code ?? pre).textContent;
      const title = text.match(/^\s*title\s+(?:"([^"]*)"|(.*\S))\s*$/m);
      // The first line that is no %% comment or directive: the diagram's type, usually.
      const lines = text.split("\n").map((line) => line.trim());
      const result = {
        index,
        ok: false,
        diagram: null,
        first_line: lines.find((line) => line && !line.startsWith("%%")) ?? "",
        title: title ? (title[1] ?? title[2]) : null,
        sourcepos:
          pre.getAttribute("data-sourcepos") ?? code?.getAttribute("data-sourcepos") ?? null,
        svg: null,
        error: null,
      };
      try {
        // parse throws on a syntax error (with suppressErrors off, the default).
        const parsed = await mermaid.parse(text);
        result.diagram = parsed?.diagramType ?? null;
        const { svg } = await mermaid.render(`mermaid-${index}`, text);
        // The bomb: mermaid's "error" diagram, drawn when it renders an error as a diagram.
        if (/aria-roledescription="error"/.test(svg)) {
          throw new Error("mermaid drew its 'Syntax error in text' diagram instead");
        }
        const figure = document.createElement("div");
        figure.className = "mermaid-rendered";
        figure.innerHTML = svg;
        pre.replaceWith(figure);
        result.ok = true;
        result.svg = svg;
      } catch (error) {
        const message = String(error?.message ?? error).trim();
        result.error = message || String(error);
        // What GitHub shows in the diagram's place.
        const box = document.createElement("div");
        box.className = "mermaid-error";
        box.style.cssText =
          "border: 1px solid #d1242f; border-radius: 6px; padding: 8px 16px; margin-bottom: 16px";
        const heading = document.createElement("p");
        heading.innerHTML = "<strong>Unable to render rich display</strong>";
        const detail = document.createElement("pre");
        detail.textContent = result.error;
        box.append(heading, detail);
        pre.replaceWith(box);
      }
      // A failed render can leave its scratch element behind.
      document.getElementById(`dmermaid-${index}`)?.remove();
      out.push(result);
    }
    return out;
  });

  if (options["svg-dir"]) mkdirSync(options["svg-dir"], { recursive: true });
  for (const block of results) {
    if (block.ok && options["svg-dir"]) {
      const file = resolve(options["svg-dir"], `mermaid-${block.index}.svg`);
      writeFileSync(file, block.svg);
      block.svg = file;
    } else {
      block.svg = null;
    }
  }

  if (options.screenshot) {
    if (options["open-details"]) {
      await page.evaluate(() => {
        for (const details of document.querySelectorAll("details")) details.open = true;
      });
    }
    await page.evaluate(() => document.fonts.ready);
    mkdirSync(dirname(resolve(options.screenshot)), { recursive: true });
    await page.screenshot({ path: options.screenshot, fullPage: true });
    screenshot = resolve(options.screenshot);
  }
  browserVersion = await browser.version();
} catch (error) {
  await browser.close();
  die(`rendering failed: ${error.stack ?? error}`);
}
await browser.close();

const summary = { mermaid: mermaidVersion, browser: browserVersion, blocks: results, screenshot };
process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
const failed = results.filter((block) => !block.ok);
for (const block of failed) {
  const lines = block.sourcepos?.match(/^(\d+):\d+-(\d+):\d+$/);
  let where = block.first_line + (block.title === null ? "" : ` ${JSON.stringify(block.title)}`);
  if (lines) where = `markdown lines ${lines[1]}-${lines[2]}, ${where}`;
  const name = `mermaid block ${block.index} of ${results.length} (${where})`;
  process.stderr.write(`${name}: ${block.error}\n`);
}
process.exit(failed.length ? 1 : 0);
