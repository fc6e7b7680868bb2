"""Lua scripts of the review tools: undo a decision, bulk approve, claim one chosen item.

They use the transition prelude of `lua.py` (`move`, the review queues, the
history list), so counters, per-state sets and queues move in the same atomic
step as the item, exactly as a single decision does. The `d*` item fields that
`DECIDE` writes (`dkey`, `dat`, `dprev_state`, `dprev_label`, `dprev_source`,
`dr2`) are what an undo checks and restores.
"""

from __future__ import annotations

from llmlabel.store.lua import _script

__all__ = ["BULK_APPROVE", "CLAIM_ITEM", "UNDO"]

_UNDO_FIELDS = "'dkey', 'dat', 'dprev_state', 'dprev_label', 'dprev_source', 'dr2'"

UNDO = _script("""
-- ARGV: prefix, id, key_id, now, window_s, lease_until, token, actor, audit_max, history_max
-- Returns {code, state}: code 'ok', 'missing', 'none' (no decision of this key to undo),
-- 'expired' (older than the window) or 'second' (a second reviewer has taken it).
local prefix, id, key_id, now = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local ikey = prefix .. 'i:' .. id
local f = redis.call('HMGET', ikey, 'state', 'dkey', 'dat', 'dprev_state', 'dprev_label',
  'dprev_source', 'dr2', 'r2state', 'label', 'rsince')
if not f[1] then return {'missing', ''} end
local decided = {approved = true, fixed = true, rejected = true}
if f[2] ~= key_id or not decided[f[1]] or not f[4] then return {'none', f[1]} end
if now - tonumber(f[3]) > tonumber(ARGV[5]) then return {'expired', f[1]} end
if f[8] == 'in_review' or f[8] == 'done' then return {'second', f[1]} end
local to = f[4]
if not move(prefix, ikey, id, f[1], to, now) then return {'missing', ''} end
if f[1] == 'approved' or f[1] == 'fixed' then pool_remove(prefix, ikey, id) end
if f[5] == '' then redis.call('HDEL', ikey, 'label') else redis.call('HSET', ikey, 'label', f[5]) end
if f[6] == '' then redis.call('HDEL', ikey, 'source') else redis.call('HSET', ikey, 'source', f[6]) end
redis.call('HDEL', ikey, 'comment', @UNDO_FIELDS@)
if f[8] == 'queued' and f[7] == '1' then
  -- The decision queued a second review nobody took yet: it goes with the decision.
  dequeue_review2(prefix, ikey, id)
  redis.call('HDEL', ikey, 'r2state', 'r2since')
end
if to == 'in_review' then
  redis.call('HSET', ikey, 'rtoken', ARGV[7], 'runtil', ARGV[6], 'reviewer', ARGV[8])
  redis.call('ZADD', prefix .. 'rl', ARGV[6], id)
else
  redis.call('HDEL', ikey, 'reviewer')
  enqueue_review(prefix, ikey, id, f[10] or now)
end
local before = f[9] or 'null'
local after = f[5]
if after == '' then after = 'null' end
local event = '{"at":' .. ARGV[4] .. ',"actor":' .. cjson.encode(ARGV[8]) .. ',"action":"review.undo"'
  .. ',"item_id":' .. cjson.encode(id) .. ',"before":{"state":"' .. f[1] .. '","label":' .. before
  .. '},"after":{"state":"' .. to .. '","label":' .. after .. '},"comment":null}'
redis.call('LPUSH', prefix .. 'audit', event)
redis.call('LTRIM', prefix .. 'audit', 0, tonumber(ARGV[9]) - 1)
push_history(prefix, key_id, event, ARGV[10])
return {'ok', to}
""".replace("@UNDO_FIELDS@", _UNDO_FIELDS))

BULK_APPROVE = _script("""
-- ARGV: prefix, now, key_id, actor, comment, audit_max, history_max, item ids...
-- Approves each item still waiting for review (needs_review, with an LLM label) as if it
-- had been claimed and approved: one audit event and one history entry per item.
-- Returns one code per id: 'ok', 'missing', 'state' (not waiting) or 'nolabel'.
local prefix, now, key_id, actor, comment = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local comment_json = 'null'
if comment ~= '' then comment_json = cjson.encode(comment) end
local out = {}
for i = 8, #ARGV do
  local id = ARGV[i]
  local ikey = prefix .. 'i:' .. id
  local f = redis.call('HMGET', ikey, 'state', 'label', 'source')
  if not f[1] then
    out[#out + 1] = 'missing'
  elseif f[1] ~= 'needs_review' then
    out[#out + 1] = 'state'
  elseif not f[2] or f[2] == '' or f[2] == 'null' then
    out[#out + 1] = 'nolabel'
  elseif move(prefix, ikey, id, 'needs_review', 'approved', now) then
    dequeue_review(prefix, ikey, id)
    redis.call('HSET', ikey, 'reviewer', actor, 'comment', comment, 'dkey', key_id, 'dat', now,
      'dprev_state', 'needs_review', 'dprev_label', f[2], 'dprev_source', f[3] or '', 'dr2', '0')
    local event = '{"at":' .. now .. ',"actor":' .. cjson.encode(actor)
      .. ',"action":"review.approve","item_id":' .. cjson.encode(id)
      .. ',"before":{"state":"needs_review","label":' .. f[2] .. '},"after":{"state":"approved","label":'
      .. f[2] .. ',"bulk":true},"comment":' .. comment_json .. '}'
    redis.call('LPUSH', prefix .. 'audit', event)
    push_history(prefix, key_id, event, ARGV[7])
    pool_add(prefix, ikey, id, 'approve', f[2], now)
    out[#out + 1] = 'ok'
  else
    out[#out + 1] = 'missing'
  end
end
redis.call('LTRIM', prefix .. 'audit', 0, tonumber(ARGV[6]) - 1)
return out
""")

CLAIM_ITEM = _script("""
-- ARGV: prefix, id, now, lease_until, token, reviewer
-- Lease one chosen item if it waits for review (the list view's "open"); false otherwise.
local prefix, id, now = ARGV[1], ARGV[2], ARGV[3]
release_expired(prefix, now)
local ikey = prefix .. 'i:' .. id
if redis.call('HGET', ikey, 'state') ~= 'needs_review' then return false end
if not move(prefix, ikey, id, 'needs_review', 'in_review', now) then return false end
dequeue_review(prefix, ikey, id)
redis.call('HSET', ikey, 'rtoken', ARGV[5], 'runtil', ARGV[4], 'reviewer', ARGV[6])
redis.call('ZADD', prefix .. 'rl', ARGV[4], id)
return id
""")
