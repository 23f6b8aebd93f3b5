// luaout.js -- what the differential generators share for writing their
// recordings as Lua: string literals, and the hash that names a tree.
"use strict";
const fs = require("fs");
const path = require("path");

// s as a Lua quoted string literal (control bytes as decimal escapes): a
// long bracket would turn "\r" into "\n".
function luaString(s) {
  return '"' + s.replace(/[\\"\x00-\x1f\x7f]/g, (c) => {
    const named = { "\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r" }[c];
    return named || "\\" + String(c.charCodeAt(0)).padStart(3, "0");
  }) + '"';
}

// FNV-1a, 32 bits, of the UTF-8 bytes of s (the specs recompute it in Lua).
function fnv32(s) {
  let h = 2166136261;
  for (const b of Buffer.from(s, "utf8")) h = Math.imul(h ^ b, 16777619) >>> 0;
  return h;
}

// Writes a generator's recording, dir/expected.lua, and says what it holds.
function writeExpected(dir, text, summary) {
  fs.writeFileSync(path.join(dir, "expected.lua"), text);
  console.log(`wrote ${summary} (${text.length} bytes)`);
}

module.exports = { luaString, fnv32, writeExpected };
