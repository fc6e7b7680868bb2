"""Lua scripts of gold items (re-exported by `lua.py`, which the store registers).

They touch no item state, so they do without the transition prelude of `lua.py`.
"""

from __future__ import annotations

__all__ = ["GOLD_DECIDE", "GOLD_SAVE", "GOLD_UNDO"]

GOLD_SAVE = """
-- KEYS: gold hash, its records hash, the task's ready set. ARGV: gold_id, versions field, record
-- A gold item deleted while its labeling job ran stays deleted.
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
redis.call('HSET', KEYS[1], 'shown', ARGV[2])
redis.call('SADD', KEYS[3], ARGV[1])
return 1
"""

GOLD_DECIDE = """
-- KEYS: the gold lease, the team's gold scores, the team's audit list.
-- ARGV: n field, correct field, scored ('' no, '0' wrong, '1' right), audit event ('' none), audit_max
-- Deleting the lease is what makes a decision count once (a second POST finds no lease).
if redis.call('DEL', KEYS[1]) == 0 then return 0 end
if ARGV[3] ~= '' then
  redis.call('HINCRBY', KEYS[2], ARGV[1], 1)
  if ARGV[3] == '1' then redis.call('HINCRBY', KEYS[2], ARGV[2], 1) end
end
if ARGV[4] ~= '' then
  redis.call('LPUSH', KEYS[3], ARGV[4])
  redis.call('LTRIM', KEYS[3], 0, tonumber(ARGV[5]) - 1)
end
-- KEYS[4], KEYS[5]: the reviewer's undo record of this gold item and their history list.
-- ARGV: ..., undo record ('' for a skip), its ttl ms, history event, history_max.
-- The history entry reads like any decision's: reviewers must not tell gold items apart.
if KEYS[4] and ARGV[6] ~= '' then
  redis.call('SET', KEYS[4], ARGV[6], 'PX', ARGV[7])
  redis.call('LPUSH', KEYS[5], ARGV[8])
  redis.call('LTRIM', KEYS[5], 0, tonumber(ARGV[9]) - 1)
end
return 1
"""

GOLD_UNDO = """
-- KEYS: the undo record, the team's gold scores, the new gold lease, audit list, history list.
-- ARGV: n field, ok field, now, window_s, lease JSON, lease ttl ms, audit event, history event,
--   audit_max, history_max. Returns 'ok', 'none' or 'expired' (as an item's undo does).
local text = redis.call('GET', KEYS[1])
if not text then return 'none' end
local rec = cjson.decode(text)
if tonumber(ARGV[3]) - tonumber(rec['at']) > tonumber(ARGV[4]) then return 'expired' end
redis.call('DEL', KEYS[1])
if rec['scored'] ~= '' then
  redis.call('HINCRBY', KEYS[2], ARGV[1], -1)
  if rec['scored'] == '1' then redis.call('HINCRBY', KEYS[2], ARGV[2], -1) end
end
redis.call('SET', KEYS[3], ARGV[5], 'PX', ARGV[6])
redis.call('LPUSH', KEYS[4], ARGV[7])
redis.call('LTRIM', KEYS[4], 0, tonumber(ARGV[9]) - 1)
redis.call('LPUSH', KEYS[5], ARGV[8])
redis.call('LTRIM', KEYS[5], 0, tonumber(ARGV[10]) - 1)
return 'ok'
"""
