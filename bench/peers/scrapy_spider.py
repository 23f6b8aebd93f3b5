"""Scrapy peer for silk's benchmark: the bench's equal job in one file.

    scrapy runspider bench/peers/scrapy_spider.py -a start=http://127.0.0.1:PORT/index.html \
        -O items.jsonl -s CONCURRENT_REQUESTS=64 -s CONCURRENT_REQUESTS_PER_DOMAIN=64

Start at `start`, follow every in-site link once (Scrapy's dupefilter), parse with
lxml (Scrapy's selectors), yield the 10 `.product` items a page (feed export to
JSON Lines with -O), obey robots.txt, no delay, no cache, no autothrottle. Give the
concurrency as both CONCURRENT_REQUESTS and CONCURRENT_REQUESTS_PER_DOMAIN (the
bench site is one domain). Debian: python3-scrapy.
"""
from urllib.parse import urlsplit

import scrapy


class BenchSpider(scrapy.Spider):
    name = "bench"
    custom_settings = {
        "ROBOTSTXT_OBEY": True,
        "DOWNLOAD_DELAY": 0,
        "AUTOTHROTTLE_ENABLED": False,
        "HTTPCACHE_ENABLED": False,
        "COOKIES_ENABLED": False,
        "TELNETCONSOLE_ENABLED": False,
        "LOG_LEVEL": "INFO",
        "RETRY_TIMES": 2,
        "CONCURRENT_REQUESTS_PER_IP": 0,
        "REQUEST_FINGERPRINTER_IMPLEMENTATION": "2.7",
        "USER_AGENT": "silk-bench-scrapy",
        "FEED_EXPORT_ENCODING": "utf-8",
    }

    def __init__(self, start, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.start = start
        self.allowed_domains = [urlsplit(start).hostname]

    def start_requests(self):
        # dont_filter=False: the start page is deduplicated like every other link
        yield scrapy.Request(self.start, callback=self.parse, dont_filter=False)

    def parse(self, response):
        for p in response.css("div.product"):
            yield {"url": response.url,
                   "title": p.css(".title::text").get("").strip(),
                   "price": p.css(".price::text").get("").strip()}
        for href in response.css("a::attr(href)").getall():
            if href.startswith(("mailto:", "javascript:", "#")):
                continue
            yield response.follow(href, callback=self.parse)
