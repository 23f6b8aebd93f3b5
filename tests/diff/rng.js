// rng.js -- the deterministic random choices the differential generators
// share: mulberry32, a small PRNG, and helpers drawing from it.
"use strict";

function mulberry32(seed) {
  let a = seed >>> 0;
  return function () {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// { R, pick, chance, int } drawing from one generator seeded with `seed`.
function random(seed) {
  const R = mulberry32(seed);
  return {
    R,
    pick: (a) => a[Math.floor(R() * a.length)],
    chance: (p) => R() < p,
    int: (lo, hi) => lo + Math.floor(R() * (hi - lo + 1)),
  };
}

module.exports = { random };
