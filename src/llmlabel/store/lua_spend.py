"""Lua scripts of the spend ledger: reserve, settle, reap reservations, cache hits, pause, resume.

A reservation is a hash `ll:spend:r:{id}` holding its state (pending, reaped,
settled), its worst-case cost and its attribution; the pending ones are in the
sorted set `ll:spend:pending` by the time the reaper may count them. Every
script derives the ledger keys from the attribution with the suffixes of
`keys.py`: `{prefix}spend`, `{prefix}spend:s:{scope}`, `{prefix}spend:p:{day|month}`,
`{prefix}spend:by`, `{prefix}spend:scopes`, `{prefix}budget`, `{prefix}paused`,
plus the all-teams `ll:spend` and `ll:spend:models`.

Counting happens exactly once per reservation: `settle` of a pending one adds
the real outcome; the reaper counts a pending one whose worker vanished at its
worst case (one request, `unsettled` + 1, no tokens); a late `settle` of a
reaped one replaces that worst case by the real outcome; anything else is a no-op.
"""

from __future__ import annotations

from llmlabel.store import keys
from llmlabel.store.lua import _script

__all__ = ["HIT", "PAUSE", "REAP_SPEND", "RELEASE", "RESERVE", "RESUME", "SETTLE"]

_LEDGER = """
local GLOBAL, GLOBAL_MODELS = '@GLOBAL@', '@GLOBAL_MODELS@'
local METRICS = {'requests', 'failed', 'timeouts', 'unsettled', 'prompt_tokens',
  'completion_tokens', 'cached_tokens', 'cache_hits'}
-- Period hashes live about a year (a monthly cap needs its month).
local PERIOD_TTL = 400 * 86400

-- The hashes caps are checked against and reservations held on.
local function held_keys(prefix, scope, day, month)
  return {prefix .. 'spend:s:' .. scope, prefix .. 'spend', prefix .. 'spend:p:' .. day,
    prefix .. 'spend:p:' .. month}
end

-- Add one outcome `v` (metric -> number, plus `cost`) to every ledger total it belongs to.
local function add(prefix, scope, project, version, model, day, month, v)
  local hashes = held_keys(prefix, scope, day, month)
  hashes[#hashes + 1] = GLOBAL
  for _, h in ipairs(hashes) do
    for _, m in ipairs(METRICS) do
      if (v[m] or 0) ~= 0 then redis.call('HINCRBY', h, m, v[m]) end
    end
    if (v.cost or 0) ~= 0 then redis.call('HINCRBYFLOAT', h, 'cost_usd', v.cost) end
  end
  local by = project .. '\\t' .. version .. '\\t' .. model .. '\\t'
  for _, m in ipairs(METRICS) do
    if (v[m] or 0) ~= 0 then
      redis.call('HINCRBY', prefix .. 'spend:by', by .. m, v[m])
      redis.call('HINCRBY', GLOBAL_MODELS, model .. '\\t' .. m, v[m])
    end
  end
  if (v.cost or 0) ~= 0 then
    redis.call('HINCRBYFLOAT', prefix .. 'spend:by', by .. 'cost_usd', v.cost)
    redis.call('HINCRBYFLOAT', GLOBAL_MODELS, model .. '\\t' .. 'cost_usd', v.cost)
  end
end

local function release(prefix, scope, day, month, worst)
  for _, h in ipairs(held_keys(prefix, scope, day, month)) do
    redis.call('HINCRBYFLOAT', h, 'reserved_usd', -worst)
  end
end

local R_FIELDS = {'state', 'worst', 'prefix', 'scope', 'project', 'version', 'model', 'day', 'month'}
"""


def _spend_script(body: str) -> str:
    ledger = _LEDGER.replace("@GLOBAL@", keys.spend_total())
    return _script(ledger.replace("@GLOBAL_MODELS@", keys.spend_models()) + body)


RESERVE = _spend_script("""
-- KEYS: reservation, pending
-- ARGV: id, worst, deadline, now, prefix, scope, project, version, model, day, month
-- Returns {'ok'} or {'wait'|'denied', which cap, cap, spent, held}: 'wait' when only
-- other calls' reservations keep this one out (they settle soon), 'denied' when the
-- cap's spent money alone leaves no room.
if redis.call('EXISTS', KEYS[1]) == 1 then return {'ok'} end
local worst, prefix, scope, day, month = tonumber(ARGV[2]), ARGV[5], ARGV[6], ARGV[10], ARGV[11]
local held = held_keys(prefix, scope, day, month)
local checks = {}
local scope_cap = redis.call('HGET', held[1], 'cap_usd')
if scope_cap then checks[#checks + 1] = {'batch', held[1], tonumber(scope_cap)} end
local budget = redis.call('HMGET', prefix .. 'budget', 'amount_usd', 'period')
if budget[1] then
  local key = held[2]
  if budget[2] == 'day' then key = held[3] elseif budget[2] == 'month' then key = held[4] end
  checks[#checks + 1] = {'team', key, tonumber(budget[1])}
end
local verdict = nil
for _, c in ipairs(checks) do
  local f = redis.call('HMGET', c[2], 'cost_usd', 'reserved_usd')
  local spent, reserved = tonumber(f[1] or 0), math.max(0, tonumber(f[2] or 0))
  local answer = nil
  if worst > c[3] - spent then answer = 'denied' elseif worst > c[3] - spent - reserved then answer = 'wait' end
  if answer and (verdict == nil or answer == 'denied') then
    verdict = {answer, c[1], tostring(c[3]), tostring(spent), tostring(reserved)}
  end
end
if verdict then return verdict end
for i, h in ipairs(held) do
  redis.call('HINCRBYFLOAT', h, 'reserved_usd', worst)
  if i > 2 then redis.call('EXPIRE', h, PERIOD_TTL) end
end
redis.call('HSET', KEYS[1], 'state', 'pending', 'worst', ARGV[2], 'prefix', prefix, 'scope', scope,
  'project', ARGV[7], 'version', ARGV[8], 'model', ARGV[9], 'day', day, 'month', month)
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
redis.call('ZADD', prefix .. 'spend:scopes', 'NX', ARGV[4], scope)
return {'ok'}
""")

SETTLE = _spend_script("""
-- KEYS: reservation, pending. ARGV: id, failed, unknown, prompt, completion, cached, cost, ttl
-- Returns 1 when this call counted the outcome, 0 when it was counted already.
local r = redis.call('HMGET', KEYS[1], unpack(R_FIELDS))
if not r[1] or r[1] == 'settled' then return 0 end
local worst = tonumber(r[2])
local cost = tonumber(ARGV[7])
if ARGV[3] == '1' then cost = worst end
local v = {failed = tonumber(ARGV[2]), timeouts = tonumber(ARGV[3]), prompt_tokens = tonumber(ARGV[4]),
  completion_tokens = tonumber(ARGV[5]), cached_tokens = tonumber(ARGV[6])}
if r[1] == 'pending' then
  release(r[3], r[4], r[8], r[9], worst)
  v.requests, v.cost = 1, cost
else
  -- reaped: the request was counted at its worst case; put the real outcome in its place.
  v.requests, v.unsettled, v.cost = 0, -1, cost - worst
end
add(r[3], r[4], r[5], r[6], r[7], r[8], r[9], v)
redis.call('HSET', KEYS[1], 'state', 'settled')
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[8]))
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
""")

RELEASE = _spend_script("""
-- KEYS: reservation, pending. ARGV: id. A reservation whose request was never sent: gone, uncounted.
local r = redis.call('HMGET', KEYS[1], unpack(R_FIELDS))
if r[1] ~= 'pending' then return 0 end
release(r[3], r[4], r[8], r[9], tonumber(r[2]))
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
""")

REAP_SPEND = _spend_script("""
-- KEYS: pending. ARGV: now, limit, ttl (how long a reaped reservation waits for a late settle)
-- Counts reservations nobody settled in time (the worker died) at their worst case.
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
local reaped = 0
for _, id in ipairs(ids) do
  local rkey = '@RESERVATION@' .. id
  local r = redis.call('HMGET', rkey, unpack(R_FIELDS))
  if r[1] == 'pending' then
    local worst = tonumber(r[2])
    release(r[3], r[4], r[8], r[9], worst)
    add(r[3], r[4], r[5], r[6], r[7], r[8], r[9], {requests = 1, unsettled = 1, cost = worst})
    redis.call('HSET', rkey, 'state', 'reaped')
    redis.call('EXPIRE', rkey, tonumber(ARGV[3]))
    reaped = reaped + 1
  end
  redis.call('ZREM', KEYS[1], id)
end
return reaped
""".replace("@RESERVATION@", keys.reservation("")))

HIT = _spend_script("""
-- ARGV: prefix, scope, project, version, model, day, month
add(ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], {cache_hits = 1})
return 1
""")

PAUSE = _spend_script("""
-- KEYS: labeling leases. ARGV: prefix, team, id, token, now, reason, partial JSON ('' = none)
local prefix, team, id, token, now = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local ikey = prefix .. 'i:' .. id
local f = redis.call('HMGET', ikey, 'state', 'lease', 'batch')
if f[1] ~= 'labeling' or f[2] ~= token then return 0 end
if not move(prefix, ikey, id, 'labeling', 'paused', now) then return 0 end
redis.call('HSET', ikey, 'pause_reason', ARGV[6])
if ARGV[7] ~= '' then redis.call('HSET', ikey, 'partial', ARGV[7]) end
redis.call('HDEL', ikey, 'lease', 'lease_until')
redis.call('ZREM', KEYS[1], team .. '|' .. id)
redis.call('SADD', prefix .. 'paused', f[3])
return 1
""")

RESUME = _spend_script("""
-- KEYS: labeling leases, the batch's paused set. ARGV: prefix, team, now, next_due, limit, batch id
local prefix, team, now, next_due = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local ids = redis.call('ZRANGE', KEYS[2], 0, tonumber(ARGV[5]) - 1)
local out = {}
for _, id in ipairs(ids) do
  local ikey = prefix .. 'i:' .. id
  if redis.call('HGET', ikey, 'state') == 'paused' and move(prefix, ikey, id, 'paused', 'queued', now) then
    -- Pausing is no lost worker: a fresh attempt budget for the reaper.
    redis.call('HSET', ikey, 'attempt_base', redis.call('HGET', ikey, 'attempts') or 0)
    redis.call('HDEL', ikey, 'pause_reason')
    redis.call('ZADD', KEYS[1], next_due, team .. '|' .. id)
    out[#out + 1] = id
  else
    redis.call('ZREM', KEYS[2], id)
  end
end
if redis.call('ZCARD', KEYS[2]) == 0 then redis.call('SREM', prefix .. 'paused', ARGV[6]) end
return out
""")
