---@meta silk
-- LuaLS annotations for silk's Lua API (editor completion and checks only:
-- never loaded at run time). `silk new` writes a .luarc.json whose
-- "workspace.library" points here. tests/spec/types_spec.lua checks that
-- every function declared below exists on the real object.

---An error value: a table whose tostring is "kind: message".
---@class silk.error
---@field kind "timeout"|"cancelled"|"closed"|"error"|"memory"|"dns"|"connect"|"tls"|"reset"|"too_large"|"redirect_loop"|"blocked"|"protocol"|"http"|"invalid"|"url"|string
---@field message string
---@field url? string the URL a fetch or parse error is about
---@field status? integer the HTTP status (fetch errors of kind "http")
---@field response? silk.response the response (kind "http", with raise_for_status)
---@field traceback? string where a Lua error was raised (kind "error")
---@field task? integer the task that went past --max-memory (kind "memory")

---A request: silk.fetch's argument (a URL string does too), and what
---crawl:follow, crawl:request and crawl:fetch take (the crawl's own options:
---callback, errback, meta, priority, depth, dont_filter, cookies).
---@class silk.request
---@field url string an absolute http(s) URL (crawl: relative to the page)
---@field callback? string|fun(res: silk.response, crawl: silk.crawl) crawl: default "parse"
---@field errback? string|function crawl: gets the failure
---@field meta? table crawl: what the callback reads as crawl.meta
---@field priority? number crawl: higher first
---@field depth? integer crawl: default the page's depth + 1
---@field dont_filter? boolean crawl: fetch it even if seen
---@field cookies? table<string, string>|false sent with this request; false: no jar
---@field method? string "GET" unless a body is given
---@field headers? table<string, string|string[]>|string[] names to values, or "Name: value" lines
---@field body? string
---@field form? table<string, string> sent as application/x-www-form-urlencoded
---@field json? any sent as application/json
---@field timeout? number seconds for one attempt (default 30)
---@field connect_timeout? number
---@field max_size? integer largest body accepted, bytes
---@field follow_redirects? boolean default true
---@field max_redirects? integer
---@field proxy? string http://, https://, socks5:// or socks5h:// URL
---@field session? string a cookie jar shared by the requests naming it
---@field user_agent? string
---@field http2? boolean|"prior_knowledge"
---@field insecure? boolean do not verify TLS certificates
---@field ca_file? string
---@field retries? integer extra attempts on transient failures
---@field backoff? number
---@field retry_after_max? number
---@field raise_for_status? boolean a status >= 400 becomes an error of kind "http"
---@field block_private? boolean refuse private, loopback and link-local addresses

---What silk.fetch returns, and what a spider's callbacks receive.
---@class silk.response
---@field status integer
---@field url string the final URL, after redirects
---@field method string
---@field redirects {url: string, status: integer}[]
---@field headers table<string, string> lowercase names, read case-insensitively; repeats joined by ", "
---@field body string the raw bytes
---@field http_version string
---@field remote_ip string
---@field size integer
---@field wire_size integer
---@field attempts integer
---@field retry_after? number
---@field timings {dns: number, connect: number, tls: number, ttfb: number, total: number, queued: number, done_at: number}
local response = {}

---The body as UTF-8 text (from the charset of Content-Type, a BOM, <meta>, then the default).
---@param default_charset? string
---@return string text
---@return string charset
---@return string source "header", "bom", "meta" or "default"
function response:text(default_charset) end

---A header's value (repeats joined by ", "), or nil.
---@param name string
---@return string?
function response:header(name) end

---Every value of a header, in arrival order.
---@param name string
---@return string[]
function response:headers_all(name) end

---The parsed page (cached).
---@return silk.document? doc
---@return silk.error? err
function response:html() end

---The elements matching a CSS selector; raises when the page cannot be parsed.
---@param css string
---@return silk.node[]
function response:select(css) end

---The first element matching a CSS selector, or nil; raises when the page cannot be parsed.
---@param css string
---@return silk.node?
function response:one(css) end

---The document base URL: <base href> resolved against res.url, else res.url.
---@return string
function response:base_url() end

---href resolved against res:base_url().
---@param href string
---@return string? url
---@return silk.error? err
function response:urljoin(href) end

---The body decoded as JSON (cached); JSON null is silk.null.
---@return any
function response:json() end

---The text of the first match, else default (or string.match's results with match=).
---@param css string
---@param default_or_opts? string|{default?: any, match?: string, lines?: boolean, raw?: boolean}
---@return any ...
function response:text_of(css, default_or_opts) end

---The texts of every match.
---@param css string
---@param opts? {match?: string, lines?: boolean, raw?: boolean}
---@return string[]
function response:texts(css, opts) end

---The attribute of the first match, else default.
---@param css string
---@param name string
---@param default_or_opts? string|{default?: any, match?: string}
---@return any ...
function response:attr_of(css, name, default_or_opts) end

---What documents and nodes share: selecting under them, their text and HTML.
---@class silk.tree
local tree = {}

---The elements under this one matching a CSS selector, in document order.
---@param css string
---@return silk.node[]
function tree:select(css) end

---The first element matching a CSS selector, or nil.
---@param css string
---@return silk.node?
function tree:one(css) end

---The text a reader sees, on one line; {lines=true}: innerText; {raw=true}: textContent.
---@param opts? {raw?: boolean, lines?: boolean}
---@return string
function tree:text(opts) end

---Serialised as HTML.
---@return string
function tree:html() end

---The text of the first match, else default (or string.match's results with match=).
---@param css string
---@param default_or_opts? string|{default?: any, match?: string, lines?: boolean, raw?: boolean}
---@return any ...
function tree:text_of(css, default_or_opts) end

---The texts of every match.
---@param css string
---@param opts? {match?: string, lines?: boolean, raw?: boolean}
---@return string[]
function tree:texts(css, opts) end

---The attribute of the first match, else default.
---@param css string
---@param name string
---@param default_or_opts? string|{default?: any, match?: string}
---@return any ...
function tree:attr_of(css, name, default_or_opts) end

---A parsed HTML document.
---@class silk.document: silk.tree
local document = {}

---The <html> element.
---@return silk.node
function document:root() end

---The <title>'s text, or nil.
---@return string?
function document:title() end

---The page's links, resolved against its base URL.
---@param opts? {a?: boolean, link?: boolean, img?: boolean, iframe?: boolean, text?: boolean}
---@return {url: string, nofollow: boolean, text?: string}[]
function document:links(opts) end

---The directives of <meta name="robots">.
---@return {noindex: boolean, nofollow: boolean}
function document:meta_robots() end

---<link rel="canonical">, resolved, or nil.
---@return string?
function document:canonical() end

---@return string
function document:base_url() end

---The URL the document was parsed with, or nil.
---@return string?
function document:url() end

---Bytes the document holds.
---@return integer
function document:memory() end

---Frees the tree now; its nodes then raise "attempt to use a freed document".
function document:free() end

---The same as free().
function document:close() end

---An element of a document.
---@class silk.node: silk.tree
---@field tag string the lowercase tag name
local node = {}

---@return string
function node:inner_html() end

---@param name string
---@return string?
function node:attr(name) end

---@return table<string, string>
function node:attrs() end

---@return silk.node?
function node:parent() end

---@return silk.node[]
function node:children() end

---The next element sibling.
---@return silk.node?
function node:next() end

---The previous element sibling.
---@return silk.node?
function node:prev() end

---@param css string
---@return boolean
function node:matches(css) end

---The document the node belongs to.
---@return silk.document
function node:document() end

---The object a spider's callbacks receive with the response.
---@class silk.crawl
---@field meta table what the request that led here carried (follow's meta)
---@field depth integer links followed from a start URL
---@field url string the request's URL
local crawl = {}

---Queues a link, resolved against the page's base URL; true when new.
---@param href string
---@param opts? silk.request without url
---@return boolean
function crawl:follow(href, opts) end

---crawl:follow(r.url, rest of r).
---@param r silk.request
---@return boolean
function crawl:request(r) end

---A request the callback waits for, under the crawl's rules (robots, politeness, cache).
---@param url_or_request string|silk.request
---@return silk.response? res
---@return silk.error? err
function crawl:fetch(url_or_request) end

---Queues what submitting a <form> of the page sends, with fields changed (Scrapy's FormRequest.from_response).
---@param form silk.node
---@param fields? table<string, string|string[]|false>
---@param opts? table silk.form's clicked and dont_click, and request options (callback, meta...)
---@return boolean|nil queued
---@return string? err
function crawl:submit(form, fields, opts) end

---href resolved against the page: the URL, its canonical form and host, or nil.
---@param href string
---@return string? url
---@return string? canonical
---@return string? host
function crawl:resolve(href) end

---Hands an item to the pipelines and the output; false, err when a value cannot be written.
---@param item table
---@return boolean ok
---@return silk.error? err
function crawl:emit(item) end

---A task: a coroutine the C core schedules.
---@class silk.task
---@field id integer
---@field name? string
local task = {}

---Waits for the task; true and its results, or false and its error.
---@return boolean ok
---@return any ...
function task:join() end

---@param reason? string
function task:cancel(reason) end

---@return "runnable"|"running"|"waiting"|"done"|"failed"|"cancelled"|string
function task:status() end

---Seconds of CPU the task has used.
---@return number
function task:cpu_time() end

---@class silk.channel
local channel = {}

---@param v any
function channel:send(v) end

---The next value; nil once closed and drained.
---@return any
function channel:recv() end

function channel:close() end

---@return integer
function channel:len() end

---@return integer
function channel:cap() end

---@return boolean
function channel:is_closed() end

---What silk.scope passes to its function.
---@class silk.scope
local scope = {}

---A child task: cancelled when the scope fails, waited for by the scope.
---@param fn function|table
---@param ... any
---@return silk.task
function scope:spawn(fn, ...) end

---@param reason? string
function scope:cancel(reason) end

---A robots.txt, parsed.
---@class silk.robots
local robots = {}

---@param user_agent string
---@param url_or_path string
---@return boolean
function robots:allowed(user_agent, url_or_path) end

---@param user_agent string
---@return number?
function robots:crawl_delay(user_agent) end

---@return string[]
function robots:sitemaps() end

function robots:close() end

---What a spider file returns: silk.spider's argument. Every other function
---field is a callback, reached by name.
---@class silk.spider_def
---@field name string
---@field start_urls? string[]
---@field sitemap_urls? string[]
---@field start_requests? fun(crawl: silk.crawl)
---@field parse? fun(res: silk.response, crawl: silk.crawl)
---@field errback? fun(failure: {url: string, error: silk.error, request: table}, crawl: silk.crawl)
---@field pipelines? (fun(item: table): table?)[]
---@field on_request? fun(req: silk.request) may change the request before it is sent
---@field on_response? fun(res: silk.response, req: silk.request): boolean? false drops the response
---@field on_error? fun(err: silk.error, req: silk.request) sees a failed request before errback
---@field blocked? fun(res: silk.response): boolean whether a response means the session was blocked
---@field concurrency? integer requests in flight at once (default 64)
---@field max_per_host? integer requests in flight per host (default 8)
---@field delay? number seconds between two requests to a host
---@field jitter? number random extra delay, a fraction of delay
---@field autothrottle? boolean
---@field autothrottle_target? number
---@field obey_robots? boolean default true
---@field robots_retry_for? number
---@field user_agent? string
---@field max_depth? integer
---@field max_pages? integer
---@field allowed_domains? string[]
---@field allow? string[] Lua patterns
---@field deny? string[] Lua patterns
---@field timeout? number
---@field retries? integer
---@field http_errors? integer[]
---@field task_timeout? number
---@field order? "bfs"|"dfs"
---@field max_size? integer
---@field close_after_pages? integer
---@field close_after_items? integer
---@field close_after_errors? integer
---@field close_after_seconds? number
---@field host_error_budget? integer
---@field stall_timeout? number
---@field checkpoint_interval? number
---@field deny_private? boolean
---@field fields? string[] CSV columns
---@field item_key? string
---@field parse_inline? boolean
---@field sitemap_from_robots? boolean
---@field cookies? boolean a crawl-wide cookie jar (default true)
---@field proxy? string
---@field proxies? string[] rotated round-robin
---@field proxy_failures? integer
---@field proxy_rest? number
---@field user_agents? string[] rotated as proxies
---@field sessions? integer a pool of sessions, retired when blocked
---@field blocked_statuses? integer[]
---@field render? boolean|"auto" render pages in headless Chromium (silk.render)
---@field render_options? silk.render_options
---@field needs_render? fun(res: silk.response): boolean render = "auto": whether a static page needs rendering
---@field [string] fun(res: silk.response, crawl: silk.crawl)

---@class silk.spider: silk.spider_def
---@field settings table

---silk.url: URLs by the URL Standard (http and https only).
---@class silk.url
local url = {}

---@param base string
---@param href string
---@return string? url
---@return silk.error? err
function url.join(base, href) end

---The URL without its fragment, escapes normalised.
---@param u string
---@return string? url
---@return silk.error? err
function url.canonical(u) end

---scheme://host:port, the key politeness is counted by.
---@param u string
---@return string?
function url.host_key(u) end

---@param u string
---@return string?
function url.host(u) end

---href against base: the URL, its canonical form and its host, in one call.
---@param base string
---@param href string
---@return string? url
---@return string? canonical
---@return string? host
function url.resolve(base, href) end

---@param u string
---@return {scheme: string, username: string, password: string, host: string, port: integer?, path: string, query: string?, fragment: string?}? parts
---@return silk.error? err
function url.parse(u) end

---@param u string
---@return boolean
function url.is_http(u) end

---@class silk.robots_module
local robots_module = {}

---@param text string
---@return silk.robots
function robots_module.parse(text) end

---@class silk
---@field url silk.url
---@field robots silk.robots_module
---@field null lightuserdata JSON null (cjson.null), in decoded JSON and in items
local silk = {}

---An error value like the core's.
---@param kind string
---@param message string
---@return silk.error
function silk.error(kind, message) end

---Starts fn(...) in a new task.
---@param fn function|{[1]: function, name?: string, timeout?: number}
---@param ... any
---@return silk.task
function silk.spawn(fn, ...) end

---Waits `seconds` (0: yields to the back of the run queue).
---@param seconds number
function silk.sleep(seconds) end

---@param capacity? integer 0 (default): a rendezvous
---@return silk.channel
function silk.channel(capacity) end

---@return silk.task
function silk.current() end

---A snapshot of the live tasks.
---@return table[]
function silk.tasks() end

---A goroutine-style dump of every task.
---@return string
function silk.dump_tasks() end

---Monotonic seconds.
---@return number
function silk.now() end

---fn(...) under a deadline; its results, or nil, err (err.kind "timeout").
---@param seconds number
---@param fn function
---@param ... any
---@return any ...
function silk.with_timeout(seconds, fn, ...) end

---Structured concurrency: fn(scope, ...) and its children; nil, err on the first failure.
---@param fn fun(scope: silk.scope, ...): ...
---@param ... any
---@return any ...
function silk.scope(fn, ...) end

---@param url_or_request string|silk.request
---@return silk.response? res
---@return silk.error? err
function silk.fetch(url_or_request) end

---Parses HTML (on a worker thread when large).
---@param text string
---@param base_url? string
---@return silk.document? doc
---@return silk.error? err
function silk.html(text, base_url) end

---Checks a spider definition (unknown settings, wrong types) and returns the spider.
---@param def silk.spider_def
---@return silk.spider
function silk.spider(def) end

---@class silk.render_options
---@field wait? "load"|"domcontentloaded"|"networkidle"|{selector: string}|{fn: string}
---@field timeout? number seconds for the whole render
---@field block? string[] resource types ("image", "font", "stylesheet", "media") and URL patterns
---@field evaluate? string JS whose JSON result comes back as res.evaluated
---@field screenshot? boolean PNG bytes in res.screenshot
---@field headers? table<string, string>
---@field cookies? table<string, string>
---@field user_agent? string
---@field viewport? {width: integer, height: integer}

---A browser tab for multi-step work (silk.page).
---@class silk.page
local page = {}
---@return boolean? ok
---@return silk.error? err
function page:goto(url, opts) end
function page:click(css) end
function page:type(css, text) end
---@return any value
function page:evaluate(js) end
function page:wait_for(css, timeout) end
---@return string? html
function page:html() end
---@return string? png
function page:screenshot() end
function page:cdp(method, params) end
function page:close() end

---Renders a page in headless Chromium; the response's body is the rendered HTML.
---@param url_or_request string|silk.request
---@param opts? silk.render_options
---@return silk.response? res
---@return silk.error? err
function silk.render(url_or_request, opts) end

---A browser tab for multi-step work, closed with page:close() or when its task ends.
---@param opts? {timeout: number}
---@return silk.page? page
---@return silk.error? err
function silk.page(opts) end

---The GC pacer's pause statistics, or nil when it is off.
---@return table?
function silk.gc_stats() end

return silk
