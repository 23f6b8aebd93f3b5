// gen.js -- records what a headless Chromium submits for generated forms,
// for silk's form differential test (tests/spec/form_diff_spec.lua).
//
// Generates deterministic random pages, each with one or two <form>s built
// from the controls whose entries are hard to get right: every input type
// (and unknown ones), names and values with spaces, '&', '=', '+', line
// breaks and non-ASCII; checked and unchecked checkboxes and radios (several
// checked radios of one name), selects single and multiple, with and
// without selected options, sizes, disabled options and optgroups;
// textareas with a leading newline and CRLF; buttons of every type;
// disabled controls and disabled fieldsets with controls in their legend;
// controls inside <datalist> and <template>; controls outside the form with
// form="f1", controls inside it that name another form; submit buttons with
// formaction/formmethod/formenctype; actions relative, absolute, empty or
// missing, resolved under a <base href> or not; every method and enctype.
//
// Chromium (Debian's chromium-headless-shell through puppeteer-core) loads
// each page from http://forms.test/... (served by request interception) and
// for each form and each choice of submitter (none, then each submit button
// in tree order) records:
// - the entries of new FormData(form, submitter) (a file as its name and a
//   flag), which silk's form.entries must give;
// - the request form.requestSubmit(submitter) sends: method, URL,
//   Content-Type and body (intercepted and answered 204, so the page
//   stays), which silk's form.request must build (the multipart boundary
//   aside).
//
// Not generated, on purpose (see lua/silk/form.lua's "Not followed"):
// controls associated through the parser's form pointer (a form closed by
// an enclosing element), dirname, and date/time/range inputs, whose value
// sanitization silk does not do; method=dialog (it submits nothing);
// accept-charset (silk always sends UTF-8); forms nested in tables (the
// parser moves the form out of the table); <select size=0>, whose display
// size silk's :checked takes as 0, as the standard says, and Chromium as 1;
// enctype="TEXT/PLAIN" (not lowercase), for which Chromium sends a
// urlencoded body labelled text/plain (silk, as the standard, compares
// enctypes ASCII case-insensitively and sends text/plain).
//
// Recorded but skipped by the spec: a GET submission with enctype
// text/plain, which Chromium encodes as text/plain into the query although
// the standard urlencodes every GET submission (silk does).
//
// Usage: cd tests/diff && PUPPETEER_SKIP_DOWNLOAD=1 npm install &&
//   node forms/gen.js [ndocs] [seed] [chromium]
"use strict";
const { launch, run } = require("../chromium");

const NDOCS = Number(process.argv[2] || 150);
const SEED = Number(process.argv[3] || 20261207);
const CHROMIUM = process.argv[4];
const ORIGIN = "http://forms.test";

const { pick, chance, int } = require("../rng").random(SEED);
const { luaString, fnv32, writeExpected } = require("../luaout");

const NAMES = ["a", "b", "a", "c d", "&eacute;t&eacute;", "x&amp;y=z", "", "q+r", "m&#10;n",
  "_charset_", "say &quot;hi&quot;"];
const VALUES = ["", "v", " sp ace ", "l1&#10;l2", "a+b&amp;c=d", "&uuml;&euro;", "  12.5 ",
  "12.5", "1e3", ".5", "5.", "#ABCDEF", "#abc", "x&#13;&#10;y", "a@b.c ", " http://x.test/ "];
const INPUT_TYPES = ["text", "hidden", "password", "search", "tel", "email", "url", "number",
  "color", "checkbox", "checkbox", "radio", "radio", "file", "submit", "image", "reset", "button",
  "foo", "", "TEXT", "Submit"];
const ACTIONS = [null, "", "target", "/abs/path?q=1", "sub/x#frag", "?only=query",
  "http://other.test/x?y=1", "../up", "#f"];
const METHODS = [null, "get", "post", "POST", "bogus"];
const ENCTYPES = [null, "application/x-www-form-urlencoded", "multipart/form-data", "text/plain",
  "MULTIPART/form-data", "bogus"];

function attr(name, value) {
  return value === null ? "" : ` ${name}="${value}"`;
}

function maybe(p, name, list) {
  return chance(p) ? attr(name, pick(list)) : "";
}

function nameAttr() {
  return chance(0.9) ? attr("name", pick(NAMES)) : "";
}

function common() {
  return (chance(0.1) ? " disabled" : "") + (chance(0.05) ? ` form="${pick(["f1", "f2", "nope"])}"` : "");
}

function input() {
  const type = pick(INPUT_TYPES);
  let s = `<input${type ? attr("type", type) : ""}${nameAttr()}${maybe(0.7, "value", VALUES)}${common()}`;
  if (/checkbox|radio/i.test(type) && chance(0.5)) s += " checked";
  if (/submit|image/i.test(type)) {
    s += maybe(0.2, "formaction", ACTIONS.filter((a) => a !== null));
    s += maybe(0.2, "formmethod", METHODS.filter((a) => a !== null));
    s += maybe(0.2, "formenctype", ENCTYPES.filter((a) => a !== null));
  }
  return s + ">";
}

function option() {
  const text = pick(["one", " two  words ", "&amp;three", "", "fo\nur"]);
  return `<option${maybe(0.5, "value", VALUES)}${chance(0.3) ? " selected" : ""}${chance(0.1) ? " disabled" : ""}>${text}${chance(0.5) ? "</option>" : ""}`;
}

function select() {
  let s = `<select${nameAttr()}${chance(0.3) ? " multiple" : ""}${maybe(0.15, "size", ["1", "2", "-1"])}${common()}>`;
  for (let k = int(0, 4); k > 0; k--) {
    if (chance(0.2)) {
      s += `<optgroup${chance(0.4) ? " disabled" : ""}>`;
      for (let m = int(1, 2); m > 0; m--) s += option();
      s += "</optgroup>";
    } else {
      s += option();
    }
  }
  return s + "</select>";
}

function textarea() {
  const text = pick(["", "plain", "\nleading newline", "\n\ntwo", "a\r\nb\rc\nd", "&lt;b&gt; &amp;", " spaced "]);
  return `<textarea${nameAttr()}${common()}>${text}</textarea>`;
}

function button() {
  const type = pick([null, "submit", "reset", "button", "bogus", "SUBMIT"]);
  let s = `<button${attr("type", type)}${nameAttr()}${maybe(0.7, "value", VALUES)}${common()}`;
  s += maybe(0.2, "formaction", ACTIONS.filter((a) => a !== null));
  s += maybe(0.2, "formmethod", METHODS.filter((a) => a !== null));
  s += maybe(0.2, "formenctype", ENCTYPES.filter((a) => a !== null));
  return s + `>${pick(["Go", "", "<b>x</b>"])}</button>`;
}

function control(d) {
  const r = int(0, 9);
  if (r < 4) return input();
  if (r < 5) return select();
  if (r < 6) return textarea();
  if (r < 7) return button();
  if (d > 1) return input();
  if (r < 8) {
    let s = `<fieldset${chance(0.6) ? " disabled" : ""}>`;
    if (chance(0.6)) s += `<legend>${control(d + 1)}</legend>`;
    for (let k = int(1, 2); k > 0; k--) s += control(d + 1);
    if (chance(0.3)) s += `<legend>${control(d + 1)}</legend>`;
    return s + "</fieldset>";
  }
  if (r < 9) return pick([`<datalist>${input()}${option()}</datalist>`, `<template>${input()}</template>`]);
  return `<div><p>${control(d + 1)}</p>${control(d + 1)}</div>`;
}

function form(id) {
  let s = `<form novalidate id="${id}"${attr("action", pick(ACTIONS))}${attr("method", pick(METHODS))}${attr("enctype", pick(ENCTYPES))}>`;
  for (let k = int(1, 7); k > 0; k--) s += control(0);
  if (chance(0.5)) s += `<input type=submit name=go value=Go>`;
  return s + "</form>";
}

// Pages written out, before the generated ones: what chance may not pair.
const FIXED = [
  `<form novalidate method=post enctype=multipart/form-data action=up><input type=file name=f>
   <input name="q&quot;uote" value="x&#10;y"><input type=file name="m&#10;n&quot;"><textarea name=t>a\r\nb</textarea>
   <input type=submit></form>`,
  `<form novalidate method=post enctype=text/plain><input type=file name=f><input name=a value="1=2"></form>`,
  `<form novalidate><input type=file name=f><input type=image name=pic><input type=image></form>`,
];

function documentSource(n) {
  if (n < FIXED.length) return `<!DOCTYPE html><html><head><meta charset="utf-8"></head><body>${FIXED[n]}</body></html>`;
  const base = chance(0.3) ? `<base href="${pick(["/base/dir/", "http://base.test/b/", "sub/"])}">` : "";
  let body = form("f1");
  if (chance(0.3)) body += `<p>${input()}</p>` + form("f2");
  if (chance(0.4)) body += `<input form="f1"${nameAttr()}${maybe(0.7, "value", VALUES)}>`;
  return `<!DOCTYPE html><html><head><meta charset="utf-8"><title>t</title>${base}</head><body>${body}</body></html>`;
}

// In the page: for form number fi, its submit buttons (tree order, the
// form's own: form.elements leaves image buttons out) and the FormData
// entries with submitter number k (0: none).
function formData(fi, k) {
  const f = document.forms[fi];
  const subs = Array.from(document.querySelectorAll("input, button")).filter((e) =>
    e.form === f && (e.type === "submit" || e.type === "image"));
  if (k > subs.length) return null;
  const fd = new FormData(f, k ? subs[k - 1] : null);
  return { nsubs: subs.length, entries: Array.from(fd).map(([n, v]) => typeof v === "string" ? [n, v] : [n, v.name, true]) };
}

function submit(fi, k) {
  const f = document.forms[fi];
  const subs = Array.from(document.querySelectorAll("input, button")).filter((e) =>
    e.form === f && (e.type === "submit" || e.type === "image"));
  f.requestSubmit(k ? subs[k - 1] : undefined);
}

async function main() {
  const browser = await launch(CHROMIUM, "forms");
  const page = await browser.newPage();
  const version = await browser.version();
  await page.setRequestInterception(true);
  let pageHtml = "", pageUrl = "", waiting = null;
  page.on("request", (req) => {
    if (req.url().split("#")[0] === pageUrl && !waiting) {
      req.respond({ status: 200, contentType: "text/html; charset=utf-8", body: pageHtml });
      return;
    }
    if (waiting) {
      const w = waiting;
      waiting = null;
      w({ method: req.method(), url: req.url(), ctype: req.headers()["content-type"] || "",
          body: req.postData() || "" });
    }
    req.respond({ status: 204, body: "" });
  });
  const docs = [];
  let ncases = 0;
  for (let n = 0; n < NDOCS; n++) {
    pageHtml = documentSource(n);
    pageUrl = `${ORIGIN}/dir/page.html?p=${n}`;
    await page.goto(pageUrl + "#top", { waitUntil: "load" });
    const tree = await page.evaluate(() => document.documentElement.outerHTML);
    const nforms = await page.evaluate(() => document.forms.length);
    const forms = [];
    for (let fi = 0; fi < nforms; fi++) {
      const cases = [];
      for (let k = 0; ; k++) {
        const fd = await page.evaluate(formData, fi, k);
        if (!fd) break;
        const sent = new Promise((resolve) => { waiting = resolve; });
        await page.evaluate(submit, fi, k);
        const req = await Promise.race([sent, new Promise((r) => setTimeout(() => r(null), 2000))]);
        waiting = null;
        if (!req) throw new Error(`doc ${n} form ${fi} submitter ${k}: no request\n${pageHtml}`);
        cases.push({ k, entries: fd.entries, req });
        ncases++;
      }
      forms.push(cases);
    }
    docs.push({ html: pageHtml, url: pageUrl + "#top", tree, forms });
  }
  await browser.close();

  let out = `-- Recorded by tests/diff/forms/gen.js (${NDOCS} documents, seed ${SEED}, ${version}).\n`;
  out += "-- Do not edit: regenerate instead.\n";
  out += "-- forms[i] = { { submitter = k (0: none), entries = { {name, value [, true: a file]} },\n";
  out += "--   method =, url =, ctype =, body = }, ... }\n";
  out += "return {\n  docs = {\n";
  for (const d of docs) {
    out += `    { url = ${luaString(d.url)}, html = ${luaString(d.html)},\n      tree = ${fnv32(d.tree)},\n      forms = {\n`;
    for (const cases of d.forms) {
      out += "        {\n";
      for (const c of cases) {
        const entries = c.entries.map((e) => `{ ${luaString(e[0])}, ${luaString(e[1])}${e[2] ? ", true" : ""} }`).join(", ");
        out += `          { submitter = ${c.k}, entries = { ${entries} },\n`;
        out += `            method = ${luaString(c.req.method)}, url = ${luaString(c.req.url)}, ctype = ${luaString(c.req.ctype)}, body = ${luaString(c.req.body)} },\n`;
      }
      out += "        },\n";
    }
    out += "      } },\n";
  }
  out += "  },\n}\n";
  writeExpected(__dirname, out, `${docs.length} documents, ${ncases} cases`);
}

run(main);
