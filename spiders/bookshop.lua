-- Crawls the demo bookshop: follows the paginated catalogue to every book page and extracts title, price, availability and rating.
local silk = require("silk")

return silk.spider{
  name = "bookshop",
  start_urls = { os.getenv("BOOKSHOP_URL") or "http://127.0.0.1:8080/" },
  concurrency = 32,
  max_per_host = 8,

  -- Listing pages: follow every book and the next page.
  parse = function(res, crawl)
    for _, a in ipairs(res:select("article.product_pod h3 a")) do
      crawl:follow(a:attr("href"), { callback = "book" })
    end
    for _, a in ipairs(res:select("ul.categories a, li.next a, header a")) do
      crawl:follow(a:attr("href"))
    end
  end,

  book = function(res, crawl)
    local page = res:one("article.product_page")
    if not page then return end
    crawl:emit{
      url = res.url,
      title = page:one("h1"):text(),
      price = page:one("p.price_color"):text(),
      availability = page:one("p.availability"):text(),
      rating = page:one("p.star-rating"):attr("class"):match("star%-rating%s+(%w+)"),
    }
  end,
}
