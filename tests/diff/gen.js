// gen.js -- records cheerio's selector matches for silk's differential test.
//
// Generates deterministic random documents (implied end tags, tables
// without <tbody>, misnested formatting, <template>, forms) and random
// selectors, runs them through cheerio (parse5 builds the HTML5 tree,
// css-select matches), and writes tests/diff/expected.lua, which
// tests/spec/diff_spec.lua replays offline against silk.
//
// Elements are named by their index in document order over the whole tree
// (template contents excluded: they are not the template's children in the
// DOM). Selectors where css-select departs from the Selectors/HTML standards
// are not generated; tests/spec/diff_spec.lua checks those by hand
// (see DIFFERENCES there).
//
// Usage: cd tests/diff && npm install && node gen.js [ndocs] [seed]
"use strict";
const fs = require("fs");
const path = require("path");
const cheerio = require("cheerio");

const NDOCS = Number(process.argv[2] || 120);
const SEED = Number(process.argv[3] || 20240611);
const PER_DOC = 40;

const { R, pick, chance, int } = require("./rng").random(SEED);

const CLASSES = ["a", "b", "c", "item", "x-y", "A"];
const WORDS = ["alpha", "beta", "gamma", "delta", "en", "en-US", "fr", "one two", ""];
const BLOCK = ["div", "section", "article", "ul", "ol", "p", "table", "form", "h2", "nav"];
const INLINE = ["span", "a", "b", "i", "em", "strong", "code", "label"];
const VOID = ["br", "img", "input", "hr"];

let idn = 0;
function attrs(tag) {
  const out = [];
  if (chance(0.5)) out.push(`id=e${idn++}`);
  if (chance(0.5)) {
    const cs = [];
    for (let k = int(1, 2); k > 0; k--) cs.push(pick(CLASSES));
    out.push(`class="${cs.join(" ")}"`);
  }
  if (chance(0.2)) out.push(`title="${pick(WORDS)}"`);
  if (chance(0.2)) out.push(`data-x="${pick(WORDS)}"`);
  if (chance(0.1)) out.push(`lang=${pick(["en", "en-GB", "fr"])}`);
  if (tag === "a" && chance(0.7)) out.push(`href="${pick(["/x", "#top", "http://e.com/", ""])}"`);
  if (tag === "input") out.push(`type=${pick(["text", "checkbox", "radio", "TEXT"])}`);
  return out.length ? " " + out.join(" ") : "";
}

function text() {
  return chance(0.6) ? pick(["hello", " ", "world ", "a&amp;b", "\n  "]) : "";
}

// One element with children, at depth d. Leaves end tags out where HTML
// implies them, and sometimes misnests.
function element(d) {
  const r = R();
  if (r < 0.1 && d > 0) return `<${pick(VOID)}${attrs("input")}>`;
  if (r < 0.18) {
    // a list with implied </li>
    let s = `<ul${attrs("ul")}>`;
    for (let k = int(1, 5); k > 0; k--) s += `<li${attrs("li")}>${text()}${d < 4 && chance(0.3) ? element(d + 1) : ""}`;
    return s + "</ul>";
  }
  if (r < 0.24) {
    // a table without tbody, cells without end tags
    let s = `<table${attrs("table")}>`;
    for (let k = int(1, 3); k > 0; k--) {
      s += `<tr${attrs("tr")}>`;
      for (let m = int(1, 3); m > 0; m--) s += `<td${attrs("td")}>${text()}`;
    }
    return s + "</table>";
  }
  if (r < 0.28) return `<b${attrs("b")}>${text()}<i${attrs("i")}>${text()}</b>${text()}</i>`;
  if (r < 0.31) return `<template${attrs("template")}><p${attrs("p")}>t</p></template>`;
  if (r < 0.36) return `<p${attrs("p")}>${text()}<span${attrs("span")}>${text()}</span>${text()}`;
  if (r < 0.40) return `<select${attrs("select")}><option${attrs("option")}>a<option${attrs("option")}>b</select>`;
  const tag = chance(0.6) ? pick(BLOCK) : pick(INLINE);
  let s = `<${tag}${attrs(tag)}>${text()}`;
  if (d < 5) for (let k = int(0, 4); k > 0; k--) s += element(d + 1) + text();
  return s + `</${tag}>`;
}

function document() {
  idn = 0;
  let body = "";
  for (let k = int(2, 6); k > 0; k--) body += element(0);
  return `<!DOCTYPE html><html><head><title>t</title></head><body>${body}</body></html>`;
}

// --- selectors ------------------------------------------------------------

const TYPES = ["div", "p", "span", "a", "li", "ul", "td", "tr", "tbody", "b", "i", "section",
  "input", "table", "option", "*", "P", "LI"];
const NTH = ["1", "2", "odd", "even", "2n+1", "-n+2", "3n", "n+2", "0n+1", "-2n+3", " 2n + 1 "];
const ATTR_OPS = ["=", "~=", "|=", "^=", "$=", "*="];

function simplePart(depth) {
  const r = R();
  if (r < 0.22) return `.${pick(CLASSES)}`;
  if (r < 0.32) return `#e${int(0, 25)}`;
  if (r < 0.5) {
    const name = pick(["title", "data-x", "class", "id", "lang", "href", "type", "TITLE"]);
    if (chance(0.25)) return `[${name}]`;
    const flag = chance(0.15) ? " i" : "";
    return `[${name}${pick(ATTR_OPS)}"${pick(WORDS.concat(["a", "e1", "A", "x"]))}"${flag}]`;
  }
  if (r < 0.8) {
    return ":" + pick(["first-child", "last-child", "only-child", "first-of-type",
      "last-of-type", "only-of-type", "empty", "root",
      `nth-child(${pick(NTH)})`, `nth-last-child(${pick(NTH)})`,
      `nth-of-type(${pick(NTH)})`, `nth-last-of-type(${pick(NTH)})`]);
  }
  if (depth > 1) return `.${pick(CLASSES)}`;
  const r2 = R();
  if (r2 < 0.35) return `:not(${compound(depth + 1)}${chance(0.3) ? ", " + compound(depth + 1) : ""})`;
  if (r2 < 0.55) return `:is(${complex(depth + 1)}, ${compound(depth + 1)})`;
  if (r2 < 0.65) return `:where(${compound(depth + 1)})`;
  // One compound only: css-select lets the left part of a chain inside
  // :has() match outside the subject (see DIFFERENCES in diff_spec.lua).
  const lead = pick(["", "> ", "+ ", "~ "]);
  return `:has(${lead}${compound(depth + 1)})`;
}

function compound(depth) {
  let s = chance(0.6) ? pick(TYPES) : "";
  for (let k = s ? int(0, 2) : int(1, 2); k > 0; k--) s += simplePart(depth);
  return s;
}

function complex(depth) {
  let s = compound(depth);
  for (let k = int(0, depth ? 1 : 2); k > 0; k--) s += pick([" ", " > ", " + ", " ~ ", ">"]) + compound(depth);
  return s;
}

function selector() {
  let s = complex(0);
  if (chance(0.15)) s += ", " + complex(0);
  return s;
}

// Hand-written cases run on every document too.
const FIXED = ["*", "p", "li", "td", "body > *", "ul > li:nth-child(odd)", "div p", "p + p",
  "li ~ li", ":root > body", "template", "template p", "tbody > tr > td:first-child",
  "b i", "i", "body > i", "select option:last-child", "a[href]", "[class~=A]", "[class~=a]",
  "div:has(> p)", "li:not(:has(*))", "ul:has(> li + li)", ":is(ul, ol) > li", "p:empty", "span:only-child"];

// --- recording ------------------------------------------------------------

function elements($) {
  const out = [];
  (function walk(node) {
    for (const c of node.children || []) {
      if (c.type === "tag" || c.type === "script" || c.type === "style") {
        out.push(c);
        if (c.name !== "template") walk(c);
      }
    }
  })($.root()[0]);
  return out;
}

function luaString(s) {
  let eq = "=";
  while (s.includes("]" + eq + "]")) eq += "=";
  return `[${eq}[\n${s}]${eq}]`;
}

const docs = [];
for (let n = 0; n < NDOCS; n++) {
  const html = document();
  const $ = cheerio.load(html);
  const all = elements($);
  const index = new Map(all.map((el, i) => [el, i + 1]));
  const cases = [];
  const seen = new Set();
  const sels = FIXED.slice();
  while (sels.length < FIXED.length + PER_DOC) sels.push(selector());
  for (const css of sels) {
    if (seen.has(css)) continue;
    seen.add(css);
    let got;
    try {
      const m = $(css).toArray();
      if (m.some((el) => !index.has(el))) continue;   // matched inside template contents
      got = m.map((el) => index.get(el)).join(" ");
    } catch (e) {
      continue;    // css-select refused it: not a differential case
    }
    cases.push(`{ ${JSON.stringify(css)}, "${got}" }`);
  }
  docs.push(`  {\n    html = ${luaString(html)},\n    tags = "${all.map((e) => e.name).join(" ")}",\n` +
    `    cases = {\n      ${cases.join(",\n      ")},\n    },\n  }`);
}

const version = (name) =>
  JSON.parse(fs.readFileSync(path.join(__dirname, "node_modules", name, "package.json"))).version;
const out = `-- Generated by tests/diff/gen.js (node gen.js ${NDOCS} ${SEED}); do not edit.
-- cheerio ${version("cheerio")}, css-select ${version("css-select")}, parse5 ${version("parse5")}.
-- Each case: { selector, indexes of the matches in document order }.
return {
  seed = ${SEED},
  docs = {
${docs.join(",\n")},
  },
}
`;
fs.writeFileSync(path.join(__dirname, "expected.lua"), out);
console.log(`wrote expected.lua: ${NDOCS} documents`);
