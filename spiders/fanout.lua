-- For each catalogue page, fetches all its books at once inside a silk.scope and emits one summary per page (cheapest, dearest, in stock).
local silk = require("silk")

local function book(url)
  local res = assert(silk.fetch(url))
  local page = res:one("article.product_page")
  return {
    title = page:one("h1"):text(),
    price = tonumber(page:one("p.price_color"):text():match("[%d.]+")),
    in_stock = page:one("p.availability"):text():find("In stock") ~= nil,
  }
end

return silk.spider{
  name = "bookshop-fanout",
  start_urls = { (os.getenv("BOOKSHOP_URL") or "http://127.0.0.1:8080/") .. "catalogue/page-1.html" },

  parse = function(res, crawl)
    local links = {}
    for _, a in ipairs(res:select("article.product_pod h3 a")) do
      links[#links + 1] = res:urljoin(a:attr("href"))
    end
    -- One child task per book; if one fails, the scope cancels the others.
    local books = {}
    local ok, err = silk.scope(function(s)
      for i, u in ipairs(links) do
        s:spawn(function() books[i] = book(u) end)
      end
    end)
    if ok == nil and err then error(err) end
    table.sort(books, function(a, b) return a.price < b.price end)
    local in_stock = 0
    for _, b in ipairs(books) do if b.in_stock then in_stock = in_stock + 1 end end
    crawl:emit{
      page = res.url, books = #books, in_stock = in_stock,
      cheapest = books[1] and books[1].title, dearest = books[#books] and books[#books].title,
    }
    local next = res:one("li.next a")
    if next then crawl:follow(next:attr("href")) end
  end,
}
