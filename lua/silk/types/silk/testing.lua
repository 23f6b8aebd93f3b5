---@meta silk.testing
-- LuaLS annotations for silk.testing (see lua/silk/types/silk.lua).

---The double testing.crawl returns: records instead of crawling.
---@class silk.testing.crawl: silk.crawl
---@field follows (silk.request|{href: string})[] what follow and request recorded
---@field items table[]
---@field fetches silk.request[]
---@field submits silk.request[]
local testcrawl = {}

---Records the link, resolved against the response; true when new.
---@param href string
---@param opts? {callback?: string|function, meta?: table, priority?: number, headers?: table, dont_filter?: boolean}
---@return boolean
function testcrawl:follow(href, opts) end

---Records crawl:follow(r.url, rest of r).
---@param r silk.request
---@return boolean
function testcrawl:request(r) end

---href resolved against the response.
---@param href string
---@return string? url
---@return string? canonical
---@return string? host
function testcrawl:resolve(href) end

---@param item table
---@return boolean ok
---@return silk.error? err
function testcrawl:emit(item) end

---The response given for the URL in testing.crawl{responses=}, else nil, err.
---@param url_or_request string|silk.request
---@return silk.response? res
---@return silk.error? err
function testcrawl:fetch(url_or_request) end

---Records the request submitting a <form> of the page, in submits.
---@param form silk.node
---@param fields? table<string, string|string[]|false>
---@param opts? table silk.form's clicked and dont_click, and request options
---@return boolean|nil ok
---@return string? err
function testcrawl:submit(form, fields, opts) end

---@class silk.testing
local testing = {}

---A response built in memory, with the methods of a fetched one.
---@param o {url: string, body?: string, status?: integer, headers?: table<string, string|string[]>}
---@return silk.response
function testing.response(o) end

---A response whose body is a saved page.
---@param path string
---@param url? string
---@return silk.response
function testing.from_file(path, url) end

---@param o? {spider?: silk.spider, meta?: table, depth?: integer, response?: silk.response, responses?: table<string, silk.response>}
---@return silk.testing.crawl
function testing.crawl(o) end

---Calls a spider's callback on res with a fresh testing.crawl; returns that crawl.
---@param spider silk.spider
---@param callback string|function
---@param res silk.response
---@param o? {meta?: table, depth?: integer, responses?: table<string, silk.response>}
---@return silk.testing.crawl
function testing.call(spider, callback, res, o) end

---What `silk run --record DIR` stored: recording[url] is the response fetched for url, or nil.
---@param dir string
---@return table<string, silk.response>
function testing.replay(dir) end

---Runs fn(...) and fails if a task it created is still alive.
---@param fn function
---@param ... any
---@return any ...
function testing.no_leaks(fn, ...) end

return testing
