// bench/render/peers/crawlee.mjs URLS_FILE BASE_URL CONCURRENCY
// Crawlee's PuppeteerCrawler as its documentation sets it up, driving
// Debian's chromium-headless-shell through puppeteer-core (no download),
// at a fixed concurrency, waiting for the products and counting them in
// page.content(). Storage goes to a temporary directory. Prints one JSON line.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import puppeteer from 'puppeteer-core';
import { launchOptions } from './launch.mjs';

process.env.CRAWLEE_STORAGE_DIR = fs.mkdtempSync(path.join(os.tmpdir(), 'crawlee-render-'));
process.env.CRAWLEE_LOG_LEVEL = 'ERROR';
const { PuppeteerCrawler, Configuration } = await import('crawlee');

const [file, base, concArg] = process.argv.slice(2);
const conc = Number(concArg);
const urls = fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).map((p) => base + p);
let pages = 0, products = 0, errors = 0;
const crawler = new PuppeteerCrawler({
  launchContext: {
    launcher: puppeteer,
    launchOptions,
  },
  minConcurrency: conc,
  maxConcurrency: conc,
  maxRequestRetries: 0,
  requestHandlerTimeoutSecs: 30,
  async requestHandler({ page }) {
    await page.waitForSelector('.product', { timeout: 30000 });
    const html = await page.content();
    pages++;
    products += (html.match(/class="name">[^<]/g) || []).length;
  },
  failedRequestHandler() { errors++; },
}, new Configuration({ persistStorage: false }));
await crawler.run(urls);
fs.rmSync(process.env.CRAWLEE_STORAGE_DIR, { recursive: true, force: true });
const cpu = process.cpuUsage();
console.log(JSON.stringify({ pages, products, errors, controller_cpu_s: (cpu.user + cpu.system) / 1e6 }));
