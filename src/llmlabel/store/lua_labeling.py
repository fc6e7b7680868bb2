"""Lua scripts of labeling: the fair claim, lease renewal, the one label write, the reaper.

Queued items wait on their batch's ready list (`{prefix}ready:{batch}`). Which
list a worker takes from next is stride scheduling on two levels: teams on
`ll:sched`, each team's batches on `{prefix}sched`, each scored by its *pass*.
A claim takes from the team with the lowest pass (+1 per item: teams share
equally) and, within it, the batch with the lowest pass (+1/weight per item:
the batch's priority sets its weight). A 100k-item batch therefore gets no more
than its team's turn, and a newcomer starts at its peers' pass, not behind
their backlog. Every script that makes an item `queued` pushes it onto its
ready list in the same atomic step, so a queued item is never out of reach
(the only exception, a submit that died before pushing, is covered by the
`dispatch` set and the reaper).
"""

from __future__ import annotations

from llmlabel.store.lua_prelude import script

__all__ = [
    "CLAIM_LABELING",
    "FAIL",
    "READY",
    "REAP_LABELING",
    "RELEASE_LABELING",
    "RENEW_LABELING",
    "RETRY_FAILED",
    "SAVE",
]

READY = script("""
-- KEYS: none. ARGV: prefix, team, batch, item ids... (appended to the batch's ready list)
local prefix, team, batch = ARGV[1], ARGV[2], ARGV[3]
local rkey = prefix .. 'ready:' .. batch
for i = 4, #ARGV, 500 do
  redis.call('RPUSH', rkey, unpack(ARGV, i, math.min(i + 499, #ARGV)))
end
if #ARGV > 3 then activate(prefix, team, batch) end
return #ARGV - 3
""")

CLAIM_LABELING = script("""
-- KEYS: labeling leases. ARGV: root, now, lease_until, token, want
-- Moves up to `want` queued items to labeling under one lease, fairly across teams and
-- batches. Returns 16 fields per item: team, item id, batch, client id, task, input,
-- guideline version, prompt version, attempts, partial label JSON ('' = none), cache
-- ('0' = the batch opted out), then project, guideline hash, prompt hash, model profile
-- ('' for items stored before projects), pilot ('1' = every label goes to review).
local root, now, lease_until, token = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local want = tonumber(ARGV[5])
local out, got = {}, 0
-- Stale entries (items of deleted batches, duplicates) are dropped as they are met;
-- the budget bounds one call's work however many there are.
local budget = want + 1000
while got < want and budget > 0 do
  budget = budget - 1
  local t = redis.call('ZRANGE', SCHED, 0, 0, 'WITHSCORES')
  if #t == 0 then break end
  local team, tpass = t[1], tonumber(t[2])
  local prefix = root .. ':t:' .. team .. ':'
  local tsched = prefix .. 'sched'
  local b = redis.call('ZRANGE', tsched, 0, 0, 'WITHSCORES')
  if #b == 0 then
    redis.call('ZREM', SCHED, team)
  else
    local batch, bpass = b[1], tonumber(b[2])
    local bkey = prefix .. 'b:' .. batch
    local rkey = prefix .. 'ready:' .. batch
    local id = redis.call('LPOP', rkey)
    if redis.call('LLEN', rkey) == 0 then
      redis.call('ZREM', tsched, batch)
      redis.call('HSET', PASSES, team, bpass)
    else
      local weight = tonumber(redis.call('HGET', bkey, 'weight') or 4)
      redis.call('ZADD', tsched, bpass + 1 / weight, batch)
    end
    if redis.call('ZCARD', tsched) == 0 then
      redis.call('ZREM', SCHED, team)
    else
      redis.call('ZADD', SCHED, tpass + 1, team)
    end
    redis.call('HSET', PASSES, '', tpass)
    if id then
      local ikey = prefix .. 'i:' .. id
      if redis.call('HGET', ikey, 'state') == 'queued'
          and move(prefix, ikey, id, 'queued', 'labeling', now) then
        redis.call('HINCRBY', ikey, 'attempts', 1)
        redis.call('HSET', ikey, 'lease', token, 'lease_until', lease_until)
        redis.call('ZADD', KEYS[1], lease_until, team .. '|' .. id)
        local f = redis.call('HMGET', ikey, 'batch', 'id', 'task', 'input', 'gv', 'pv', 'attempts',
          'partial', 'proj', 'gh', 'ph', 'mp')
        out[#out + 1] = team
        out[#out + 1] = id
        for j = 1, 8 do out[#out + 1] = f[j] or '' end
        out[#out + 1] = redis.call('HGET', bkey, 'cache') or '1'
        for j = 9, 12 do out[#out + 1] = f[j] or '' end
        out[#out + 1] = redis.call('HGET', bkey, 'pilot') or ''
        got = got + 1
      end
    end
  end
end
return out
""")

RENEW_LABELING = script("""
-- KEYS: labeling leases. ARGV: root, lease_until, then (team, item id, token) triples
local root, lease_until = ARGV[1], ARGV[2]
local n = 0
for i = 3, #ARGV, 3 do
  local team, id = ARGV[i], ARGV[i + 1]
  local ikey = root .. ':t:' .. team .. ':i:' .. id
  local f = redis.call('HMGET', ikey, 'state', 'lease')
  if f[1] == 'labeling' and f[2] == ARGV[i + 2] then
    redis.call('HSET', ikey, 'lease_until', lease_until)
    redis.call('ZADD', KEYS[1], lease_until, team .. '|' .. id)
    n = n + 1
  end
end
return n
""")

RELEASE_LABELING = script("""
-- KEYS: labeling leases. ARGV: root, now, then (team, item id, token) triples
-- A worker that stops hands back items it holds but will not finish: queued again at
-- the front, the attempt not counted (it was not lost, only cut short).
local root, now = ARGV[1], ARGV[2]
local n = 0
for i = 3, #ARGV, 3 do
  local team, id = ARGV[i], ARGV[i + 1]
  local prefix = root .. ':t:' .. team .. ':'
  local ikey = prefix .. 'i:' .. id
  local f = redis.call('HMGET', ikey, 'state', 'lease')
  if f[1] == 'labeling' and f[2] == ARGV[i + 2] and move(prefix, ikey, id, 'labeling', 'queued', now) then
    redis.call('HDEL', ikey, 'lease', 'lease_until')
    redis.call('HINCRBY', ikey, 'attempts', -1)
    redis.call('ZREM', KEYS[1], team .. '|' .. id)
    make_ready(prefix, team, ikey, id, true)
    n = n + 1
  end
end
return n
""")

SAVE = script("""
-- KEYS: labeling leases. ARGV: prefix, team, id, token, now, to_state, record, label,
--   calls, prompt_tokens, completion_tokens, cached_tokens, cost_usd, duration_s,
--   latency bucket, cache hits, cache ttl, calibration counts key, accepted (0/1),
--   review value head start (s) and near-duplicate bucket ('' when not for review),
--   then (cache key, completion JSON) pairs
-- The answered calls are cached in the same step: an entry always backs a stored label.
-- The version's calibration counters count each saved label once, in the same step.
local prefix, team, id, token, now, to = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local ikey = prefix .. 'i:' .. id
local f = redis.call('HMGET', ikey, 'state', 'lease', 'batch')
if f[1] ~= 'labeling' or f[2] ~= token then return 0 end
if not move(prefix, ikey, id, 'labeling', to, now) then return 0 end
redis.call('HSET', ikey, 'record', ARGV[7], 'label', ARGV[8], 'source', 'llm')
redis.call('HDEL', ikey, 'lease', 'lease_until', 'error')
redis.call('HINCRBY', ikey, 'label_writes', 1)
redis.call('ZREM', KEYS[1], team .. '|' .. id)
local bkey = prefix .. 'b:' .. f[3]
redis.call('HINCRBY', bkey, 'u:calls', ARGV[9])
redis.call('HINCRBY', bkey, 'u:prompt_tokens', ARGV[10])
redis.call('HINCRBY', bkey, 'u:completion_tokens', ARGV[11])
redis.call('HINCRBY', bkey, 'u:cached_tokens', ARGV[12])
redis.call('HINCRBYFLOAT', bkey, 'u:cost_usd', ARGV[13])
redis.call('HINCRBY', bkey, 'u:cache_hits', ARGV[16])
if to == 'needs_review' then
  if ARGV[21] ~= '' then redis.call('HSET', ikey, 'rboost', ARGV[20], 'rbucket', ARGV[21]) end
  enqueue_review(prefix, ikey, id, now)
end
-- All-teams LLM usage and labeling latency, for /metrics.
redis.call('HINCRBY', TOTALS, 'u:calls', ARGV[9])
redis.call('HINCRBY', TOTALS, 'u:prompt_tokens', ARGV[10])
redis.call('HINCRBY', TOTALS, 'u:completion_tokens', ARGV[11])
redis.call('HINCRBYFLOAT', TOTALS, 'u:cost_usd', ARGV[13])
redis.call('HINCRBYFLOAT', TOTALS, 'lat:sum', ARGV[14])
redis.call('HINCRBY', TOTALS, 'lat:le:' .. ARGV[15], 1)
redis.call('HINCRBY', ARGV[18], 'labeled', 1)
redis.call('HINCRBY', ARGV[18], 'accepted', ARGV[19])
for i = 22, #ARGV, 2 do
  redis.call('SET', ARGV[i], ARGV[i + 1], 'EX', ARGV[17])
end
return 1
""")

FAIL = script("""
-- KEYS: labeling leases. ARGV: prefix, team, id, token, now, error
local prefix, team, id, token, now = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local ikey = prefix .. 'i:' .. id
local f = redis.call('HMGET', ikey, 'state', 'lease')
if f[1] ~= 'labeling' or f[2] ~= token then return 0 end
if not move(prefix, ikey, id, 'labeling', 'failed', now) then return 0 end
redis.call('HSET', ikey, 'error', ARGV[6])
redis.call('HDEL', ikey, 'lease', 'lease_until')
redis.call('ZREM', KEYS[1], team .. '|' .. id)
return 1
""")

REAP_LABELING = script("""
-- KEYS: labeling leases. ARGV: root, now, max_attempts, limit
-- Returns {failed count, re-queued count, entries looked at}.
local root, now, max_attempts = ARGV[1], ARGV[2], tonumber(ARGV[3])
local members = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[4]))
local requeued, failed = 0, 0
for _, m in ipairs(members) do
  local sep = string.find(m, '|', 1, true)
  local team = string.sub(m, 1, sep - 1)
  local prefix = root .. ':t:' .. team .. ':'
  local id = string.sub(m, sep + 1)
  local ikey = prefix .. 'i:' .. id
  local f = redis.call('HMGET', ikey, 'state', 'attempts', 'attempt_base')
  redis.call('ZREM', KEYS[1], m)
  if f[1] == 'labeling' then
    local used = tonumber(f[2] or 0) - tonumber(f[3] or 0)
    if used >= max_attempts then
      if move(prefix, ikey, id, 'labeling', 'failed', now) then
        redis.call('HSET', ikey, 'error',
          'labeling did not finish in ' .. used .. ' attempts (the worker was lost each time)')
        redis.call('HDEL', ikey, 'lease', 'lease_until')
        failed = failed + 1
      end
    elseif move(prefix, ikey, id, 'labeling', 'queued', now) then
      redis.call('HDEL', ikey, 'lease', 'lease_until')
      -- Item by item onto the ready list: claimed again one free slot at a time,
      -- by whichever workers have slots, never as one block.
      make_ready(prefix, team, ikey, id, true)
      requeued = requeued + 1
    end
  elseif f[1] == 'queued' then
    -- Watched while queued (by an older version): make sure it is ready.
    make_ready(prefix, team, ikey, id, false)
    requeued = requeued + 1
  end
end
return {failed, requeued, #members}
""")

RETRY_FAILED = script("""
-- KEYS: the batch's failed set. ARGV: prefix, team, now, limit
local prefix, team, now = ARGV[1], ARGV[2], ARGV[3]
local ids = redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[4]) - 1)
local out = {}
for _, id in ipairs(ids) do
  local ikey = prefix .. 'i:' .. id
  if redis.call('HGET', ikey, 'state') == 'failed' and move(prefix, ikey, id, 'failed', 'queued', now) then
    -- A fresh attempt budget; the old error stays visible until a label replaces it.
    redis.call('HSET', ikey, 'attempt_base', redis.call('HGET', ikey, 'attempts') or 0)
    make_ready(prefix, team, ikey, id, false)
    out[#out + 1] = id
  else
    redis.call('ZREM', KEYS[1], id)
  end
end
return out
""")
