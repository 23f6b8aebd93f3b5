// gen.js -- records a headless Chromium's innerText and textContent for
// silk's text() differential test.
//
// Generates deterministic random documents from a grammar of the pieces that
// make readable text hard (inline and block nesting, comments between inline
// pieces, <br>, <p>, lists, tables, <pre> with newlines, runs of white space,
// &nbsp;, entities, script/style/noscript/template, [hidden], closed
// <details>, buttons, images and inputs, misnested and unclosed
// tags), loads each in Chromium (Debian's chromium-headless-shell, driven by
// puppeteer-core) and writes tests/diff/text/expected.lua, which
// tests/spec/text_diff_spec.lua replays offline against silk: for a sample
// of each document's elements, innerText (silk's text{lines=true}) and
// textContent (text{raw=true}). The single-line text() is checked against
// innerText with its white space collapsed.
//
// Elements are named by their index in document order (document
// .querySelectorAll("*"), which leaves template contents out), and each
// document records a hash (FNV-1a, 32 bits, of the UTF-8 bytes) of its <html>
// element's serialisation, so that the spec can tell a document where gumbo
// builds a different tree.
//
// Not generated, on purpose:
// - author CSS (style attributes, <style> rules that apply, text-transform,
//   floats, positioning): silk reads no CSS, the default style sheet stands
//   in for layout;
// - SVG and MathML (Chromium lays <svg><text> out as a block), <object>,
//   <embed>, <ruby>, <dialog>, <select> (Chromium reads its options as
//   lines but collapses the white space around it as around an image),
//   hidden=until-found: rare in scraped text, their rendering Chromium's own;
// - <textarea> (innerText of a textarea is "" in Chromium, silk gives its
//   text, see html.h), form feeds, CJK line breaks (segment break
//   transformation), bidi controls;
// - a carriage return from a character reference (&#13;): Chromium keeps it
//   as a space where it drops other collapsible white space (at a line's
//   start); the parser turns every literal CR into a line feed;
// - markup inside <noscript>: gumbo parses it with scripting off (as
//   elements), browsers as raw text; either way it is not rendered;
// - a <tfoot> before its <tbody> (visual row order differs from tree order);
// - a <details> whose content is not one block after its summary: Chromium
//   lays the summary out first and collapses white space in that order;
// - <wbr>, and <legend> (a fieldset's first is laid out in its border): where
//   a line wraps or what shares a line then depends on layout, and a
//   collapsible space at a wrap is dropped.
//
// Usage: cd tests/diff && PUPPETEER_SKIP_DOWNLOAD=1 npm install &&
//   node text/gen.js [ndocs] [seed] [chromium]
"use strict";
const { launch, run } = require("../chromium");

const NDOCS = Number(process.argv[2] || 300);
const SEED = Number(process.argv[3] || 20261207);
const CHROMIUM = process.argv[4];
const PER_DOC = 12;

const { R, pick, chance, int } = require("../rng").random(SEED);
const { luaString, fnv32, writeExpected } = require("../luaout");

const WORDS = ["Hel", "lo", "world", "$", "268.36", "a", "b", "x-y", "caf&eacute;", "1&nbsp;000",
  "&amp;", "&lt;b&gt;", "&#65;", "&nbsp;", "Price:", "€", "é", "ok.", "(", ")"];
const SPACES = [" ", "  ", "\n", "\n  ", "\t", " \n\t ", "&#32;", "&#10;"];
const BLOCK = ["div", "section", "h1", "h3", "article", "header", "footer", "nav", "blockquote",
  "address", "figure", "figcaption", "main", "aside", "center", "form", "fieldset", "dl", "dt",
  "dd", "hr"];
const INLINE = ["span", "b", "i", "a", "em", "strong", "code", "small", "label", "abbr", "sub",
  "sup", "q", "u", "s", "font", "time", "mark", "cite", "kbd", "bdi", "output", "nobr", "tt"];

function words() {
  let s = "";
  for (let k = int(0, 3); k > 0; k--) {
    if (chance(0.5)) s += pick(SPACES);
    s += pick(WORDS);
  }
  if (chance(0.4)) s += pick(SPACES);
  return s;
}

function hidden() {
  return chance(0.06) ? " hidden" : "";
}

// Content at depth d: a mix of text, inline and block pieces.
function content(d) {
  let s = chance(0.5) ? words() : "";
  for (let k = int(0, d < 3 ? 4 : 1); k > 0; k--) {
    s += piece(d + 1);
    if (chance(0.5)) s += words();
  }
  return s;
}

function piece(d) {
  if (d > 5) return words();
  const r = R();
  if (r < 0.25) {
    const t = pick(INLINE);
    return `<${t}${hidden()}>${content(d)}</${t}>`;
  }
  if (r < 0.42) {
    const t = pick(BLOCK);
    if (t === "hr") return "<hr>";
    return `<${t}${hidden()}>${content(d)}</${t}>`;
  }
  if (r < 0.50) return `<p${hidden()}>${content(d)}${chance(0.7) ? "</p>" : ""}`;
  if (r < 0.55) return "<br>";
  if (r < 0.59) return `<!--${pick(["c", " x ", ""])}-->`;
  if (r < 0.63) {
    let s = `<${pick(["ul", "ol", "menu"])}${hidden()}>`;
    for (let k = int(1, 4); k > 0; k--) s += `${pick(SPACES)}<li${hidden()}>${content(d + 1)}${chance(0.5) ? "</li>" : ""}`;
    return s + (chance(0.8) ? "</ul>" : "");
  }
  if (r < 0.68) return table(d);
  if (r < 0.71) {
    const t = pick(["pre", "pre", "listing", "xmp"]);
    const inner = t === "xmp" ? "a <b>  b\n c</b>" :
      pick(["\nfirst\n  second  \n", "x  y\n\nz", " lead", "a <b>bold  </b>\n\tc", "trail\n", "\n\n"]);
    return `<${t}>${inner}</${t}>`;
  }
  if (r < 0.74) return pick(["<script>var a = '<b>x</b>';</script>", "<style>p { color: red }</style>",
    "<noscript>no js</noscript>", "<template><p>tpl</p></template>"]);
  if (r < 0.77) return pick(["<img alt=pic>", "<input value=v>", "<input type=hidden value=h>",
    "<video>fallback</video>", "<canvas>cv</canvas>", "<iframe>if</iframe>",
    "<progress>p</progress>", "<meter>m</meter>"]);
  if (r < 0.80) return `<button${hidden()}>${content(d)}</button>`;
  if (r < 0.82) return `<${pick(["h2", "dd", "li"])}>${content(d)}</${pick(["h2", "dd", "li"])}>`;
  if (r < 0.85) {
    const open = chance(0.4) ? " open" : "";
    return `<details${open}><summary>${content(d)}</summary><div>${content(d)}</div></details>`;
  }
  if (r < 0.90) {
    // misnesting: the adoption agency and implied end tags
    return pick([`<b>${words()}<i>${words()}</b>${words()}</i>`, `<a>${words()}<div>${words()}</a>${words()}</div>`,
      `<p>${words()}<div>${words()}</div>${words()}`, `<span>${words()}<p>${words()}</span>`,
      `<b>${words()}<p>${words()}</b>${words()}</p>`]);
  }
  const t = pick(INLINE);
  return `<${t}>${words()}</${t}>`;
}

function table(d) {
  let s = `<table${hidden()}>`;
  if (chance(0.2)) s += `<caption>${words()}</caption>`;
  const groups = chance(0.5);
  for (let g = groups ? int(1, 2) : 1; g > 0; g--) {
    if (groups) s += pick(["<thead>", "<tbody>"]) + pick(SPACES);
    for (let k = int(1, 3); k > 0; k--) {
      s += `<tr${hidden()}>` + (chance(0.5) ? pick(SPACES) : "");
      for (let m = int(1, 3); m > 0; m--) {
        const c = pick(["td", "td", "th"]);
        s += `<${c}${hidden()}>${d < 4 && chance(0.3) ? content(d + 1) : words()}${chance(0.6) ? `</${c}>` : ""}`;
        if (chance(0.3)) s += pick(SPACES);
      }
      if (chance(0.6)) s += "</tr>";
    }
  }
  return s + "</table>";
}

function documentSource() {
  let body = "";
  for (let k = int(1, 4); k > 0; k--) body += piece(0);
  return `<!DOCTYPE html><html><head><title>${words()}</title></head><body>${body}</body></html>`;
}

// What the page computes: every element's tag, and for a sample of them
// innerText and textContent.
function inPage(perDoc, seed) {
  const all = Array.from(document.querySelectorAll("*"));
  const tree = document.documentElement.outerHTML;
  // deterministic sample: every element if few, else spread over the page
  let idx = all.map((_, i) => i).filter((i) => all[i].localName !== "head" && all[i].localName !== "html");
  if (idx.length > perDoc) {
    const step = idx.length / perDoc;
    idx = Array.from({ length: perDoc }, (_, k) => idx[Math.floor((k + (seed % 1000) / 1000) * step)]);
  }
  return { tree, cases: idx.map((i) => [i + 1, all[i].innerText, all[i].textContent]) };
}

async function main() {
  const browser = await launch(CHROMIUM, "text");
  const page = await browser.newPage();
  // Scripts stay on: with them off, <noscript> parses as markup and renders.
  const version = await browser.version();
  const docs = [];
  for (let n = 0; n < NDOCS; n++) {
    const html = documentSource();
    await page.setContent(html, { waitUntil: "load" });
    const got = await page.evaluate(inPage, PER_DOC, n * 7919);
    docs.push({ html, ...got });
  }
  await browser.close();

  let out = `-- Recorded by tests/diff/text/gen.js (${NDOCS} documents, seed ${SEED}, ${version}).\n`;
  out += "-- Do not edit: regenerate instead. cases: { element index, innerText, textContent }\n";
  out += "return {\n  docs = {\n";
  let ncases = 0;
  for (const d of docs) {
    out += `    { html = ${luaString(d.html)},\n      tree = ${fnv32(d.tree)},\n      cases = {\n`;
    for (const [i, inner, content] of d.cases) {
      out += `        { ${i}, ${luaString(inner)}, ${luaString(content)} },\n`;
      ncases++;
    }
    out += "      } },\n";
  }
  out += "  },\n}\n";
  writeExpected(__dirname, out, `${docs.length} documents, ${ncases} cases`);
}

run(main);
