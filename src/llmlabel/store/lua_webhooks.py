"""Lua scripts of webhook deliveries (re-exported by `lua.py`, which the store registers).

A batch whose labeling finished is pushed on `keys.callbacks()` by the item
transition scripts; `WEBHOOK_PROMOTE` turns each into a delivery record with a
due time; `WEBHOOK_CLAIM` leases due deliveries to one delivery thread (a
lease that runs out makes the delivery due again: at least once); and
`WEBHOOK_FINISH` records an attempt. The batch hash mirrors the latest
delivery's state in `cb_*` fields, so reading a batch shows it in one HGETALL.
Keys are derived from `root` as in `keys.py`: `{root}:t:{team}:wh:{id}` and
`{root}:t:{team}:b:{batch}`.
"""

from __future__ import annotations

__all__ = ["WEBHOOK_CLAIM", "WEBHOOK_FINISH", "WEBHOOK_PROMOTE"]

WEBHOOK_PROMOTE = """
-- KEYS: callbacks list, due set, id counter. ARGV: root, now, limit
local n = 0
for _ = 1, tonumber(ARGV[3]) do
  local m = redis.call('LPOP', KEYS[1])
  if not m then break end
  local sep = string.find(m, '|', 1, true)
  local team, batch = string.sub(m, 1, sep - 1), string.sub(m, sep + 1)
  local prefix = ARGV[1] .. ':t:' .. team .. ':'
  local bkey = prefix .. 'b:' .. batch
  local url = redis.call('HGET', bkey, 'callback_url')
  if url and url ~= '' then
    local id = 'd' .. redis.call('INCR', KEYS[3])
    redis.call('HSET', prefix .. 'wh:' .. id, 'batch', batch, 'url', url, 'event', 'batch.labeled',
      'state', 'pending', 'attempts', 0, 'created_at', ARGV[2], 'next_at', ARGV[2])
    redis.call('HDEL', bkey, 'cb_last_status', 'cb_last_error', 'cb_last_at', 'cb_delivered_at')
    redis.call('HSET', bkey, 'cb_delivery', id, 'cb_state', 'pending', 'cb_attempts', 0,
      'cb_next_at', ARGV[2])
    redis.call('ZADD', KEYS[2], ARGV[2], team .. '|' .. id)
    n = n + 1
  end
end
return n
"""

WEBHOOK_CLAIM = """
-- KEYS: due set. ARGV: root, now, lease_until, limit
-- Returns the "team|id" members leased to the caller until lease_until.
local members = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[2], 'LIMIT', 0, tonumber(ARGV[4]))
local out = {}
for _, m in ipairs(members) do
  local sep = string.find(m, '|', 1, true)
  local prefix = ARGV[1] .. ':t:' .. string.sub(m, 1, sep - 1) .. ':'
  local dkey = prefix .. 'wh:' .. string.sub(m, sep + 1)
  if redis.call('EXISTS', dkey) == 0 then
    redis.call('ZREM', KEYS[1], m)
  else
    redis.call('ZADD', KEYS[1], ARGV[3], m)
    redis.call('HSET', dkey, 'state', 'delivering')
    local bkey = prefix .. 'b:' .. redis.call('HGET', dkey, 'batch')
    if redis.call('HGET', bkey, 'cb_delivery') == string.sub(m, sep + 1) then
      redis.call('HSET', bkey, 'cb_state', 'delivering')
    end
    out[#out + 1] = m
  end
end
return out
"""

WEBHOOK_FINISH = """
-- KEYS: due set. ARGV: root, team, id, state (pending | delivered | failed), attempts,
--   status ('' = no response), error, now, next_at ('' unless pending), keep_s
local prefix = ARGV[1] .. ':t:' .. ARGV[2] .. ':'
local member = ARGV[2] .. '|' .. ARGV[3]
local dkey = prefix .. 'wh:' .. ARGV[3]
if redis.call('EXISTS', dkey) == 0 then
  redis.call('ZREM', KEYS[1], member)
  return 0
end
local state = ARGV[4]
redis.call('HSET', dkey, 'state', state, 'attempts', ARGV[5], 'last_status', ARGV[6],
  'last_error', ARGV[7], 'last_at', ARGV[8], 'next_at', ARGV[9])
if state == 'pending' then
  redis.call('ZADD', KEYS[1], ARGV[9], member)
else
  redis.call('ZREM', KEYS[1], member)
  -- Finished records go after a while; the batch keeps the outcome in its cb_* fields.
  redis.call('EXPIRE', dkey, tonumber(ARGV[10]))
  if state == 'delivered' then redis.call('HSET', dkey, 'delivered_at', ARGV[8]) end
end
local bkey = prefix .. 'b:' .. redis.call('HGET', dkey, 'batch')
if redis.call('HGET', bkey, 'cb_delivery') == ARGV[3] then
  redis.call('HSET', bkey, 'cb_state', state, 'cb_attempts', ARGV[5], 'cb_last_status', ARGV[6],
    'cb_last_error', ARGV[7], 'cb_last_at', ARGV[8], 'cb_next_at', ARGV[9])
  if state == 'delivered' then redis.call('HSET', bkey, 'cb_delivered_at', ARGV[8]) end
end
return 1
"""
