"""Lua scripts of gold items (re-exported by `lua.py`, which the store registers).

They touch no item state, so they do without the transition prelude of `lua.py`.
"""

from __future__ import annotations

__all__ = ["GOLD_DECIDE", "GOLD_SAVE"]

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
return 1
"""
