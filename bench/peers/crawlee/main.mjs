// Crawlee (CheerioCrawler) peer for silk's benchmark: the bench's equal job.
//
//   (cd bench/peers/crawlee && npm install --no-audit --no-fund)   # once; node_modules is git-ignored
//   node bench/peers/crawlee/main.mjs --start http://127.0.0.1:PORT/index.html \
//        --out items.jsonl --concurrency 64
//
// Start at --start, follow every in-site link once (enqueueLinks, strategy
// same-hostname, Crawlee's request-queue dedupe), parse with cheerio (htmlparser2),
// write the 10 `.product` items a page as JSON Lines, obey robots.txt
// (respectRobotsTxtFile), no delay, no cache: in-memory storage
// (persistStorage=false), fixed concurrency (min = max = --concurrency).
import { CheerioCrawler, Configuration, log } from 'crawlee';
import { createWriteStream } from 'node:fs';

const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) =>
    (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), []));
const start = args.start;
const concurrency = Number(args.concurrency || 16);
if (!start) {
    console.error('usage: node main.mjs --start URL [--out items.jsonl] [--concurrency N]');
    process.exit(2);
}
const out = createWriteStream(args.out || 'items.jsonl');
log.setLevel(log.LEVELS.WARNING);

let pages = 0;
const crawler = new CheerioCrawler({
    minConcurrency: concurrency,
    maxConcurrency: concurrency,
    maxRequestsPerCrawl: Infinity,
    maxRequestRetries: 2,
    respectRobotsTxtFile: true,
    useSessionPool: false,
    persistCookiesPerSession: false,
    async requestHandler({ request, $, enqueueLinks }) {
        pages++;
        let buf = '';
        $('div.product').each((_, el) => {
            const p = $(el);
            buf += JSON.stringify({
                url: request.loadedUrl || request.url,
                title: p.find('.title').first().text().trim(),
                price: p.find('.price').first().text().trim(),
            }) + '\n';
        });
        out.write(buf);
        await enqueueLinks({ strategy: 'same-hostname' });
    },
    failedRequestHandler({ request }, error) {
        console.error(`failed ${request.url}: ${error.message}`);
    },
}, new Configuration({ persistStorage: false, purgeOnStart: true }));

const t0 = Date.now();
const stats = await crawler.run([start]);
await new Promise((resolve) => out.end(resolve));
console.error(JSON.stringify({ pages, seconds: (Date.now() - t0) / 1000,
    finished: stats.requestsFinished, failed: stats.requestsFailed }));
