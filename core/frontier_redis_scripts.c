/*
 * frontier_redis_scripts.c -- the scripts the shared frontier runs inside
 * Redis (EVAL; Redis caches them by SHA): each one a step that must be
 * atomic for the fleet. See frontier_redis_int.h.
 */
#include "frontier_redis_int.h"

/* KEYS q seen open items ikeys next epoch; ARGV group leaseprefix epoch, then ops:
 *   P hash dont_filter blob   push (dedupe, queue)
 *   U host token              release a lease
 *   A id blob                 ack id; blob ~= '': queue blob again (retry)
 *   I hash n json...          store n items unless their key hash is known
 *   H host ms                 no dispatch to host for ms (server clock)
 * -> {open, new, dup, items stored, items dropped as duplicates} */
const char FR_REDIS_APPLY[] =
    "if redis.call('GET',KEYS[7])~=ARGV[3] then return redis.error_reply('" EPOCH_ERR "') end\n"
    "local q,seen,open=KEYS[1],KEYS[2],KEYS[3] local g,hp=ARGV[1],ARGV[2]\n"
    "local new,dup,ni,di,i,now=0,0,0,0,4,nil\n"
    "while i<=#ARGV do local op=ARGV[i]\n"
    " if op=='P' then\n"
    "  local fresh=redis.call('SADD',seen,ARGV[i+1])==1\n"
    "  if fresh or ARGV[i+2]=='1' then redis.call('XADD',q,'*','r',ARGV[i+3])"
    " redis.call('INCR',open) new=new+1 else dup=dup+1 end i=i+4\n"
    " elseif op=='U' then redis.call('ZREM',hp..ARGV[i+1],ARGV[i+2]) i=i+3\n"
    " elseif op=='A' then\n"
    "  if redis.call('XACK',q,g,ARGV[i+1])==1 then redis.call('XDEL',q,ARGV[i+1])\n"
    "   if ARGV[i+2]~='' then redis.call('XADD',q,'*','r',ARGV[i+2])"
    " else redis.call('DECR',open) end end i=i+3\n"
    " elseif op=='I' then local n=tonumber(ARGV[i+2])\n"
    "  if redis.call('SADD',KEYS[5],ARGV[i+1])==1 then\n"
    "   for k=1,n do redis.call('XADD',KEYS[4],'*','i',ARGV[i+2+k]) end ni=ni+n else di=di+n end\n"
    "  i=i+3+n\n"
    " elseif op=='H' then\n"
    "  if not now then local t=redis.call('TIME') now=tonumber(t[1])*1000+math.floor(tonumber(t[2])/1000) end\n"
    "  local u=now+tonumber(ARGV[i+2]) if u>tonumber(redis.call('HGET',KEYS[6],ARGV[i+1]) or '0') then"
    " redis.call('HSET',KEYS[6],ARGV[i+1],u) end i=i+3\n"
    " else return redis.error_reply('silk: bad op') end\n"
    "end\n"
    "return {tonumber(redis.call('GET',open) or '0'),new,dup,ni,di}\n";

/* KEYS next; ARGV leaseprefix ttl_ms max, then triples host token delay_ms
 * -> per triple: 0 granted, >0 ms until the host's next slot, -1 host full */
const char FR_REDIS_LEASE[] =
    "local nk,hp,ttl,max=KEYS[1],ARGV[1],tonumber(ARGV[2]),tonumber(ARGV[3])\n"
    "local t=redis.call('TIME') local now=tonumber(t[1])*1000+math.floor(tonumber(t[2])/1000)\n"
    "local out,no={},{}\n"
    "for i=4,#ARGV,3 do local h=ARGV[i] local k=hp..h\n"
    " if no[h] then out[#out+1]=no[h] else\n"
    " redis.call('ZREMRANGEBYSCORE',k,'-inf',now)\n"
    " local nxt=tonumber(redis.call('HGET',nk,h) or '0')\n"
    " if nxt>now then no[h]=nxt-now out[#out+1]=no[h]\n"
    " elseif redis.call('ZCARD',k)>=max then no[h]=-1 out[#out+1]=-1\n"
    " else redis.call('ZADD',k,now+ttl,ARGV[i+1]) local d=tonumber(ARGV[i+2])\n"
    "  if d>0 then redis.call('HSET',nk,h,now+d) end out[#out+1]=0 end end\n"
    "end\n"
    "return out\n";

/* KEYS q open seen epoch; ARGV group consumer leaseprefix ttl_ms epoch, then
 * pairs id host (host '' = no lease) -> {open, seen, stream length} */
const char FR_REDIS_TICK[] =
    "if redis.call('GET',KEYS[4])~=ARGV[5] then return redis.error_reply('" EPOCH_ERR "') end\n"
    "local t=redis.call('TIME') local now=tonumber(t[1])*1000+math.floor(tonumber(t[2])/1000)\n"
    "for i=6,#ARGV,2 do\n"
    " redis.call('XCLAIM',KEYS[1],ARGV[1],ARGV[2],0,ARGV[i],'JUSTID')\n"
    " if ARGV[i+1]~='' then redis.call('ZADD',ARGV[3]..ARGV[i+1],'XX',now+tonumber(ARGV[4]),"
    "ARGV[2]..'/'..ARGV[i]) end\n"
    "end\n"
    "return {tonumber(redis.call('GET',KEYS[2]) or '0'),redis.call('SCARD',KEYS[3]),"
    "redis.call('XLEN',KEYS[1])}\n";

/* KEYS q open epoch; ARGV group consumer leaseprefix epoch, then pairs host
 * token: releases the leases, queues again every entry pending for the
 * consumer, deletes the consumer -> entries handed back */
const char FR_REDIS_GIVEBACK[] =
    "if redis.call('GET',KEYS[3])~=ARGV[4] then return redis.error_reply('" EPOCH_ERR "') end\n"
    "local q,g,c=KEYS[1],ARGV[1],ARGV[2]\n"
    "for i=5,#ARGV,2 do redis.call('ZREM',ARGV[3]..ARGV[i],ARGV[i+1]) end\n"
    "local n=0\n"
    "while true do local p=redis.call('XPENDING',q,g,'-','+',100,c)\n"
    " if #p==0 then break end\n"
    " for _,e in ipairs(p) do local r=redis.call('XRANGE',q,e[1],e[1])\n"
    "  redis.call('XACK',q,g,e[1]) redis.call('XDEL',q,e[1])\n"
    "  if r[1] then redis.call('XADD',q,'*',r[1][2][1],r[1][2][2]) else redis.call('DECR',KEYS[2]) end\n"
    "  n=n+1 end\n"
    "end\n"
    "redis.call('XGROUP','DELCONSUMER',q,g,c)\n"
    "return n\n";
