// bench/render/peers/puppeteer_pss.mjs URLS_FILE BASE_URL K: puppeteer-core
// holding K open pages (products waited for); prints the PSS of the
// browser's process group and node's own RSS as one JSON line.
import fs from 'node:fs';
import { execSync } from 'node:child_process';
import { launch } from './launch.mjs';

const [file, base, kArg] = process.argv.slice(2);
const k = Number(kArg);
const urls = fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).map((p) => base + p);
const browser = await launch();
const pages = await Promise.all(Array.from({ length: k }, async (_, i) => {
  const page = await browser.newPage();
  await page.goto(urls[i % urls.length], { waitUntil: 'domcontentloaded' });
  await page.waitForSelector('.product');
  return page;
}));
await new Promise((ok) => setTimeout(ok, 1000));
const pgid = browser.process().pid;
let pss = 0, procs = 0;
for (const line of execSync('ps -eo pid=,pgid=').toString().split('\n')) {
  const [pid, g] = line.trim().split(/\s+/).map(Number);
  if (g !== pgid) continue;
  try {
    const m = fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8').match(/Pss:\s*(\d+) kB/);
    pss += Number(m[1]);
    procs++;
  } catch { /* gone */ }
}
const rss = Number(fs.readFileSync('/proc/self/status', 'utf8').match(/VmRSS:\s*(\d+) kB/)[1]);
await Promise.all(pages.map((p) => p.close()));
await browser.close();
console.log(JSON.stringify({ pages: k, browser_pss_mb: pss / 1024, pss_per_page_mb: pss / 1024 / k,
  processes: procs, controller_rss_mb: rss / 1024 }));
