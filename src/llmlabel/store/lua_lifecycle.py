"""Lua scripts of the data lifecycle: unpublishing a deleted batch, scrubbing audit lists.

`BATCH_DELETE` is the one step after which a batch is gone for every reader
and writer: the batch record (which every item transition checks first), its
place in the listings, the scheduler and the dispatch set, its idempotency
key, and the all-teams counters of its items go together, the audit log gets
its tombstone in the same step (a deleter that dies later cannot lose it), and
the batch is noted in `keys.purges()` until its items are removed
(`store/lifecycle.py`).
Key suffixes mirror `keys.py` (`{prefix}ready:{batch}`, `{prefix}sched`).
"""

from __future__ import annotations

__all__ = ["AUDIT_SCRUB", "BATCH_DELETE"]

BATCH_DELETE = """
-- KEYS: batch, batches, dispatch, purges, totals, team audit log
-- ARGV: prefix, team, batch_id, now, actor, audit entries kept
-- Returns false if the batch does not exist, else {task, total, guideline version}.
local prefix, team, batch = ARGV[1], ARGV[2], ARGV[3]
local raw = redis.call('HGETALL', KEYS[1])
local f = {}
for i = 1, #raw, 2 do f[raw[i]] = raw[i + 1] end
if not f['task'] then return false end
for name, value in pairs(f) do
  -- Zero counters are skipped: Lua turns -0 into "-0", which HINCRBY refuses.
  if string.sub(name, 1, 2) == 'c:' and tonumber(value) ~= 0 then
    redis.call('HINCRBY', KEYS[5], string.sub(name, 3), -tonumber(value))
  end
end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], batch)
redis.call('ZREM', KEYS[3], team .. '|' .. batch)
redis.call('DEL', prefix .. 'ready:' .. batch)
redis.call('ZREM', prefix .. 'sched', batch)
if f['idem'] and f['idem'] ~= '' then
  local stored = redis.call('GET', f['idem'])
  if stored and string.find(stored, batch, 1, true) then redis.call('DEL', f['idem']) end
end
local gv = f['gv'] or ''
local tombstone = cjson.encode({at = tonumber(ARGV[4]), actor = ARGV[5], action = 'batch.delete',
  batch_id = batch, before = {batch_id = batch, task = f['task'], items = tonumber(f['total'])}})
redis.call('LPUSH', KEYS[6], tombstone)
redis.call('LTRIM', KEYS[6], 0, tonumber(ARGV[6]) - 1)
redis.call('ZADD', KEYS[4], ARGV[4],
  team .. '|' .. batch .. '|' .. f['total'] .. '|' .. f['task'] .. '|' .. gv)
return {f['task'], f['total'], gv}
"""

AUDIT_SCRUB = """
-- KEYS: an audit or history list (newest first). ARGV: needle
-- Drops every entry containing the needle, keeping the others in order; returns how many went.
local all = redis.call('LRANGE', KEYS[1], 0, -1)
local kept, dropped = {}, 0
for _, entry in ipairs(all) do
  if string.find(entry, ARGV[1], 1, true) then dropped = dropped + 1 else kept[#kept + 1] = entry end
end
if dropped == 0 then return 0 end
redis.call('DEL', KEYS[1])
for i = 1, #kept, 1000 do
  redis.call('RPUSH', KEYS[1], unpack(kept, i, math.min(i + 999, #kept)))
end
return dropped
"""
