// cheerio_select.js -- the same pages and ten selectors as bench_parse.c,
// through cheerio (parse5), for the select-throughput comparison.
// Run: NODE_PATH=tests/diff/node_modules node bench/parse/cheerio_select.js [pages] [rounds]
"use strict";
const cheerio = require("cheerio");
const npages = Number(process.argv[2] || 500), rounds = Number(process.argv[3] || 5);

function page(seed) {
  let s = `<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>Shop page ${seed}</title>` +
    `<link rel=canonical href=/p/${seed}><link rel=stylesheet href=/s.css></head><body>` +
    `<header class=top><nav><ul class=menu>`;
  for (let i = 0; i < 8; i++) s += `<li><a href=/c/${i}>Category ${i}</a></li>`;
  s += `</ul></nav></header><main id=content><div class=grid>`;
  for (let i = 0; s.length < 19500; i++) {
    const id = seed * 100 + i, cents = String(id % 100).padStart(2, "0");
    s += `<div class="product card" data-id=${id}><a class=thumb href=/item/${id}>` +
      `<img src=/img/${id}.jpg alt="Item ${id}"></a><h3 class=title><a href=/item/${id}>` +
      `Product number ${id} with a longer name</a></h3><p class=desc>A short description of ` +
      `product ${id} &amp; its features<br>second line</p><span class=price>${id % 500}.${cents} &euro;` +
      `</span><form action=/cart method=post><input type=hidden name=id value=${id}>` +
      `<button type=submit>Add</button></form></div>\n`;
  }
  return s + `</div><div class=pager><a rel=prev href=?p=1>prev</a> <a rel=next href=?p=3>next</a>` +
    `</div></main><footer><p>&copy; shop</p></footer></body></html>`;
}

const sels = ["div.product", "h3.title > a", "span.price", "a[href^='/item/']", "img[src]",
  ".pager a[rel=next]", "title", "main#content .card:nth-child(odd) .desc",
  "form input[name=id]", "nav ul.menu > li:first-child a"];
const pages = [];
for (let i = 0; i < npages; i++) pages.push(page(i));
const bytes = pages.reduce((a, p) => a + p.length, 0);
const med = (v) => v.sort((a, b) => a - b)[v.length >> 1];
const parseT = [], selT = [];
let docs, matches = 0;
for (let r = 0; r < rounds; r++) {
  let t0 = process.hrtime.bigint();
  docs = pages.map((p) => cheerio.load(p));
  parseT.push(Number(process.hrtime.bigint() - t0) / 1e9);
  t0 = process.hrtime.bigint();
  matches = 0;
  for (const $ of docs) for (const s of sels) matches += $(s).length;
  selT.push(Number(process.hrtime.bigint() - t0) / 1e9);
}
const p = med(parseT), s = med(selT);
console.log(`cheerio parse: ${(bytes / p / 1e6).toFixed(1)} MB/s ${(npages / p).toFixed(0)} pages/s`);
console.log(`cheerio select (10 selectors/page): ${(npages / s).toFixed(0)} pages/s ` +
  `${(npages * sels.length / s).toFixed(0)} selects/s ${(s / npages * 1e3).toFixed(3)} ms/page (${matches} matches)`);
