-- tests/lib/fnv32.lua: FNV-1a (32 bits) of a string's bytes, as the
-- differential generators (tests/diff/luaout.js) hash a recorded tree, so
-- that a spec can tell a document where silk builds another tree.
return function(str)
  local h = 2166136261
  for i = 1, #str do
    h = bit.bxor(h, str:byte(i)) % 2^32
    h = (h * 403 + bit.lshift(h, 24) % 2^32) % 2^32   -- h * 16777619 mod 2^32
  end
  return h
end
