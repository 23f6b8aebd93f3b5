-- Crawls the demo bookshop from its sitemaps only (an index pointing to a plain and a gzipped sitemap) and extracts every book.
local silk = require("silk")

local base = os.getenv("BOOKSHOP_URL") or "http://127.0.0.1:8080/"

return silk.spider{
  name = "bookshop-sitemap",
  sitemap_urls = { base .. "sitemap.xml" },

  -- Every URL the sitemaps list arrives here; only book pages carry items.
  parse = function(res, crawl)
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
