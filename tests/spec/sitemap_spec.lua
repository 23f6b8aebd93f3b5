-- silk.core.sitemap: sitemap XML (and .xml.gz) parsing on expat (sitemap.c).
local sitemap = require("silk.core.sitemap")

local URLSET = [[<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
  <url><loc>https://ex.com/a?x=1&amp;y=2</loc><lastmod>2024-01-02</lastmod><priority>0.8</priority></url>
  <url><loc> https://ex.com/b </loc><changefreq>weekly</changefreq></url>
  <url><lastmod>2024-01-03</lastmod></url>
</urlset>]]

describe("silk.core.sitemap.parse", function()
  it("reads a urlset: locs, lastmod, changefreq, priority", function()
    local sm = assert(sitemap.parse(URLSET))
    assert.equal("urlset", sm.kind)
    assert.same({"https://ex.com/a?x=1&y=2", "https://ex.com/b"}, sm.urls)
    assert.same({}, sm.sitemaps)
    assert.equal("2024-01-02", sm.entries[1].lastmod)
    assert.equal(0.8, sm.entries[1].priority)
    assert.equal("weekly", sm.entries[2].changefreq)
    assert.is_nil(sm.entries[2].priority)
    assert.equal(1, sm.skipped)
    assert.is_false(sm.truncated)
  end)

  it("reads a sitemap index", function()
    local sm = assert(sitemap.parse(
      '<sitemapindex><sitemap><loc>https://ex.com/s1.xml.gz</loc></sitemap></sitemapindex>'))
    assert.equal("sitemapindex", sm.kind)
    assert.same({"https://ex.com/s1.xml.gz"}, sm.sitemaps)
    assert.same({}, sm.urls)
  end)

  it("stops at max_urls and says so", function()
    local parts = {"<urlset>"}
    for i = 1, 30 do parts[#parts + 1] = ("<url><loc>https://x/%d</loc></url>"):format(i) end
    parts[#parts + 1] = "</urlset>"
    local sm = assert(sitemap.parse(table.concat(parts), {max_urls = 10}))
    assert.equal(10, #sm.urls)
    assert.is_true(sm.truncated)
  end)

  it("returns nil, err for what is not a sitemap", function()
    local sm, err = sitemap.parse("this is not xml")
    assert.is_nil(sm)
    assert.equal("sitemap", err.kind)
    assert.matches("not XML", err.message)
    sm, err = sitemap.parse("<html><body></body></html>")
    assert.is_nil(sm)
    assert.matches("not a sitemap", err.message)
    sm, err = sitemap.parse("\31\139not really gzip")
    assert.is_nil(sm)
    assert.equal("sitemap", err.kind)
    sm, err = sitemap.parse(URLSET, {max_bytes = 100})
    assert.is_nil(sm)
    assert.equal("too_large", err.kind)
  end)

  it("never throws on binary garbage", function()
    math.randomseed(7)
    for _ = 1, 500 do
      local t = {}
      for i = 1, math.random(0, 200) do t[i] = string.char(math.random(0, 255)) end
      local ok = pcall(sitemap.parse, "<urlset>" .. table.concat(t))
      assert.is_true(ok)
    end
  end)
end)
