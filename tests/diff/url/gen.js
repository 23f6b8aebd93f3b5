// gen.js -- records whatwg-url's answers for silk's URL differential test.
//
// Generates deterministic random (base, href) pairs from a grammar of the
// pieces URL parsers get wrong (dot segments plain and escaped, empty
// segments, empty and non-empty query and fragment, percent escapes valid,
// invalid and lowercase, IPv4 in every notation with overflow and trailing
// dots, IPv6, userinfo with '@' and ':', IDN and xn-- labels valid and not,
// backslashes, tabs and newlines inside, special and non-special schemes,
// ports), parses each with whatwg-url (the URL Standard's reference
// implementation) and writes tests/diff/url/expected.lua, which
// tests/spec/url_diff_spec.lua replays offline against silk.url.
//
// Each case records whatwg-url's href (false when it fails) and host. silk's
// contract (url.h) accepts only http and https: the spec, not this file,
// turns a recorded URL of another scheme into an expected failure.
//
// Usage: cd tests/diff && npm install && node url/gen.js [npairs] [seed]
"use strict";
const fs = require("fs");
const path = require("path");
const { URL } = require("whatwg-url");

const NPAIRS = Number(process.argv[2] || 3000);
const SEED = Number(process.argv[3] || 20261207);

// xorshift32: a small deterministic PRNG (seed 0 would stay 0)
function rng(seed) {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 4294967296;
  };
}
const R = rng(SEED);
const pick = (a) => a[Math.floor(R() * a.length)];
const chance = (p) => R() < p;
const int = (lo, hi) => lo + Math.floor(R() * (hi - lo + 1));

// ---- the grammar ---------------------------------------------------------

const SCHEMES = ["http", "https", "http", "https", "HTTP", "hTtPs", "ws", "wss", "ftp", "file",
  "foo", "mailto", "javascript", "data", "h1+x.y-z"];
const AFTER_SCHEME = ["//", "//", "//", "/", "", "///", "\\\\", "/\\", "\\/", "////"];
const USERINFO = ["u@", "u:p@", "u:@", ":p@", "@", "a@b@", "u:p:q@", "u%40x@", "\u00fc@",
  "a b@", "u:p@x@", "%zz@", "U:P@", "a\\b@", "a/b@", "u;p=x@"];
const NAMES = ["h.test", "H.TeSt", "a-b.c", "xn--fa-hia.de", "xn--zca.de", "XN--ZCA.de",
  "xn--a.com", "xn--abc-.com", "xn--ls8h.la", "fa\u00df.de", "b\u00fccher.example",
  "\u00c4\u00d6\u00dc.test", "%41.test", "%zz.test", "%C3%BC.test", "a_b.test", "ex ample",
  "a^b", "m\u00fcnchen.de", "\u4f8b\u3048.jp", "xn--55qx5d.cn", "xn--55QX5D.cn", "xn--",
  "xn--ab--", "xn--a-ecp.ru", "-a.b", "a-.b", "a--b.c", "ab--cd.test", "xn--nxa.gr",
  "xn--ssa.de", "xn--bcher-kva.example", "xn--bcher-KVA.example", "xn--tda.test",
  "xn--0.test", "xn--zz-.test", "xn--9a.test", "a.xn--nxa", "h.test.", "h..test", ".h.test",
  "09.test", "test.09", "a.0x", "a.0xg", "\u3002.test", "a\u3002b", "\u00ad.test",
  "a\u200db.test", "%00.test", "a%2Eb", "a#b", "localhost", "LOCALHOST", "x.y.z.w",
  "1a.test", "a.1a", "1.2.3.a", "\u212a.test", "\u2603.test", "\ud83d\udca9.la", "a\u0300.test",
  "\u0300a.test", "xn--a-0ba.test", "\u03c2.gr", "\u200c.test", "\u0627\u0644.test",
  "{}\u00fc.test", "a=\u00e9.test"];
const IPV6 = ["[::1]", "[::]", "[1:0::]", "[0:0:0:0:0:0:0:1]", "[::ffff:1.2.3.4]", "[::1.2.3.4]",
  "[1::2::3]", "[FFFF::]", "[::1%25eth0]", "[1:2:3:4:5:6:7:8]", "[1:2:3:4:5:6:7:8:9]",
  "[::01.2.3.4]", "[::1.2.3]", "[00000::]", "[1:2:3:4:5:6:1.2.3.4]", "[::1", "[:1]",
  "[1:0:0:2:0:0:0:3]", "[1:0:0:0:2:0:0:3]", "[0:0:1::]", "[::0:0]", "[1:2:3:4:5:6:7::]",
  "[::1.2.3.256]", "[::1.2.3.4.5]", "[g::]", "[::1]x", "[1:2:3:4:5:6:7:8::]", "[::ffff:0.0.0.0]"];
const PORTS = ["", "", "", ":", ":80", ":443", ":8080", ":0", ":65535", ":65536",
  ":99999999999", ":0080", ":8a", ":-1", ": 80", ":00000000000000000081"];

function ipv4Part(last) {
  const v = pick([0, 1, 7, 8, 10, 127, 255, 256, 4095, 65535, 16777215, 4294967295,
    4294967296, int(0, 300)]);
  switch (int(0, 6)) {
    case 0: return "0x" + v.toString(16);
    case 1: return "0X" + v.toString(16).toUpperCase();
    case 2: return "0" + v.toString(8);
    case 3: return pick(["0x", "0X", "0", "00", "", "0x0x1", "09", "0xg", "1e1", "08"]);
    default: return String(last || chance(0.9) ? v % 256 : v);
  }
}

function ipv4() {
  const n = pick([1, 2, 3, 4, 4, 4, 4, 5]);
  const parts = [];
  for (let i = 0; i < n; i++)
    parts.push(chance(0.7) ? String(int(0, 255)) : ipv4Part(i === n - 1));
  return parts.join(".") + (chance(0.2) ? "." : "") + (chance(0.03) ? "." : "");
}

function host() {
  const r = R();
  if (r < 0.5) return pick(NAMES);
  if (r < 0.8) return ipv4();
  return pick(IPV6);
}

function authority() {
  return (chance(0.2) ? pick(USERINFO) : "") + host() + pick(PORTS);
}

const SEGMENTS = ["a", "b", "c", "", "", ".", "..", "%2e", "%2E", ".%2e", "%2E%2e", "%2e.",
  "...", "a%20b", "%zz", "%4a", "%4A", "%a", "a b", "\u00fc", "^", "x^y", "{}", "`", "<>",
  "\"", "'", "|", ";p", "=", "@", ":", "a:b", "~", "%7e", "%2f", "%2F", "\u00e9", "%",
  "%%", "[x]", "\u0001", "\u007f", "?", "#"];

function segment() {
  let s = pick(SEGMENTS);
  if (chance(0.1)) s += pick(SEGMENTS);
  return s;
}

function pathTail() {
  const n = int(0, 4);
  let p = "";
  for (let i = 0; i < n; i++) p += segment() + (i < n - 1 ? (chance(0.8) ? "/" : "\\") : "");
  return p;
}

const QUERIES = ["?", "?a=b", "?a=b&c", "?%zz", "?a b", "?'\"<>", "?^`{}", "?\u00fc", "?q=%41",
  "?\\x", "?/./..", "?a=1&a=2", "??", "?%7e"];
const FRAGMENTS = ["#", "#f", "#%AB", "#%ab", "#x\\y", "#a b", "#\"<>`", "#\u00fc", "#^{}",
  "#a#b", "#?x", "#/./", "#%zz", "#F"];

function tail() {
  let s = "";
  if (chance(0.35)) s += pick(QUERIES);
  if (chance(0.3)) s += pick(FRAGMENTS);
  return s;
}

// A path starting with a separator (or nothing).
function absPath() {
  if (chance(0.15)) return "";
  return (chance(0.85) ? "/" : "\\") + pathTail();
}

function absolute(schemes) {
  return pick(schemes) + ":" + pick(AFTER_SCHEME) + authority() + absPath() + tail();
}

function relative() {
  switch (int(0, 9)) {
    case 0: return "//" + authority() + absPath() + tail();
    case 1: case 2: return "/" + pathTail() + tail();
    case 3: return tail();
    case 4: return pick(["http:", "https:", "HTTP:"]) + pick(["", "/", "\\"]) + pathTail() + tail();
    case 5: return pick([".", "./", "..", "../", ".//", "..//", "%2e/", "%2E%2e/"]) + pathTail() + tail();
    default: return pathTail() + tail();
  }
}

// Tabs, newlines and surrounding spaces are removed before parsing.
function noise(s) {
  if (chance(0.08)) {
    const i = int(0, s.length);
    s = s.slice(0, i) + pick(["\t", "\n", "\r", "\r\n"]) + s.slice(i);
  }
  if (chance(0.04)) s = pick([" ", "\u0001", "\u001f "]) + s + pick(["", " ", "\u0007"]);
  return s;
}

// ---- recording ------------------------------------------------------------

function parse(href, base) {
  try {
    const u = base === null ? new URL(href) : new URL(href, base);
    return { url: u.href, host: u.hostname };
  } catch (e) {
    return null;
  }
}

// Fixed bases from the issue, then generated ones that whatwg-url accepts as
// http(s) URLs (silk resolves only against those).
const bases = ["http://h.test/d/p", "https://user:pw@h.test:8443/a/b/c?q=1#f", "http://h.test/",
  "http://h.test/a//b/", "http://10.0.0.1/x", "http://[::1]/x/y", "http://xn--fa-hia.de/p?x#y",
  "http://a.com/b/c/d;p?q", "https://h.test/a/b/..", "http://h.test/%2e%2E/x/"];
while (bases.length < 40) {
  const b = noise(absolute(["http", "https", "HTTP"]));
  const p = parse(b, null);
  if (p && /^https?:/.test(p.url)) bases.push(b);
}

const cases = [];
const seen = new Set();
function add(bi, href) {
  const key = bi + "\u0000" + href;
  if (seen.has(key)) return;
  seen.add(key);
  const p = parse(href, bi === 0 ? null : bases[bi - 1]);
  cases.push([bi, href, p ? p.url : false, p ? p.host : false]);
}

// the issue's own examples
add(1, ".//x"); add(1, "?"); add(1, "#"); add(2, "#%AB"); add(1, "#x\\y");
add(0, "http://10.0.0.1./"); add(0, "http://0x/"); add(0, "http://a@b@c/");
add(0, "http://xn--a.com/"); add(0, "http://h.test/a^b");
add(0, "\u0000http://h.test/"); // silk refuses NUL bytes (url_diff_spec.lua)

while (cases.length < NPAIRS) {
  if (chance(0.4)) add(0, noise(absolute(SCHEMES)));
  else add(int(1, bases.length), noise(chance(0.15) ? absolute(SCHEMES) : relative()));
}

// ---- the Lua file -----------------------------------------------------------

// A Lua string literal as a byte string (one char a byte, written as
// latin1): printable ASCII and UTF-8 bytes as they are, the rest as decimal
// escapes (Lua 5.1 has no \x).
function lua(s) {
  if (s === false) return "false";
  let out = '"';
  for (const b of Buffer.from(s, "utf8")) {
    if (b === 0x22 || b === 0x5c) out += "\\" + String.fromCharCode(b);
    else if (b < 0x20 || b === 0x7f) out += "\\" + String(b).padStart(3, "0");
    else out += String.fromCharCode(b);
  }
  return out + '"';
}

const pkg = (name) => require(name + "/package.json").version;
const lines = [];
lines.push(`-- Generated by tests/diff/url/gen.js (node url/gen.js ${NPAIRS} ${SEED}); do not edit.`);
lines.push(`-- whatwg-url ${pkg("whatwg-url")}, tr46 ${pkg("tr46")}.`);
lines.push("-- bases[i]; cases: { base index (0: none), href, whatwg href or false, hostname }.");
lines.push("return {");
lines.push("  bases = {");
for (const b of bases) lines.push("    " + lua(b) + ",");
lines.push("  },");
lines.push("  cases = {");
for (const [bi, href, url, h] of cases)
  lines.push(`    {${bi}, ${lua(href)}, ${lua(url)}, ${lua(h)}},`);
lines.push("  },");
lines.push("}");
fs.writeFileSync(path.join(__dirname, "expected.lua"), lines.join("\n") + "\n", "latin1");
const ok = cases.filter((c) => c[2] !== false).length;
console.log(`${cases.length} cases (${ok} parse), ${bases.length} bases`);
