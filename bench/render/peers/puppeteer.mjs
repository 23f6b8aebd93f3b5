// bench/render/peers/puppeteer.mjs URLS_FILE BASE_URL CONCURRENCY
// puppeteer-core tuned the way a careful user would: one browser (Debian's
// chromium-headless-shell, no download), CONCURRENCY pages opened once and
// reused for every URL, waiting for the products, the HTML read with
// page.content() and the products counted in it. Prints one JSON line.
import fs from 'node:fs';
import { launch } from './launch.mjs';

const [file, base, concArg] = process.argv.slice(2);
const conc = Number(concArg);
const urls = fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).map((p) => base + p);
const browser = await launch();
let next = 0, pages = 0, products = 0, errors = 0;
async function worker() {
  const page = await browser.newPage();
  for (;;) {
    const u = urls[next++];
    if (!u) break;
    try {
      await page.goto(u, { waitUntil: 'domcontentloaded', timeout: 30000 });
      await page.waitForSelector('.product', { timeout: 30000 });
      const html = await page.content();
      pages++;
      products += (html.match(/class="name">[^<]/g) || []).length;
    } catch (e) {
      errors++;
      console.error(String(e));
    }
  }
  await page.close();
}
await Promise.all(Array.from({ length: conc }, worker));
await browser.close();
const cpu = process.cpuUsage();
console.log(JSON.stringify({ pages, products, errors, controller_cpu_s: (cpu.user + cpu.system) / 1e6 }));
