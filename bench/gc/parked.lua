-- The parked tasks both GC benchmarks keep alive: n tasks, each holding a
-- crawl-like state (a parked fetch's), sleeping nap(i) seconds at a time
-- until stop() is called. Loaded by dofile from its neighbours.
--   local tasks, stop = dofile(here .. "parked.lua")(silk, n, nap)
return function(silk, n, nap)
  local stopped = false
  local tasks = {}
  for i = 1, n do
    tasks[i] = silk.spawn(function()
      local state = { id = i, url = "https://example.test/" .. i, headers = { a = "x", b = "y" } }
      for k = 1, 10 do state[k] = { k } end
      while not stopped do silk.sleep(nap(i)) end
      return state.id
    end)
  end
  return tasks, function() stopped = true end
end
