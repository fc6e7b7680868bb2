"""Lua scripts: one per item state transition, each checking the current state first.

A transition moves the item hash's `state`, the batch's `c:{state}` counters, the
batch's per-state sorted sets and the all-teams totals in one atomic step, so
counters always equal the item states, and a transition that already happened
is a no-op (work done twice never counts twice). The labeling scripts
(claim, renew, save, fail, reap) are in `lua_labeling.py`; `_script` (the prelude in
front of a body) is in `lua_prelude.py` and re-exported here for the other script modules. Key suffixes used here
mirror `keys.py`: `{prefix}i:{item}`, `{prefix}b:{batch}`, `{prefix}b:{batch}:s:{state}`,
`{prefix}rq`, `{prefix}rq:task:{task}`, `{prefix}rq:batch:{batch}`, `{prefix}rl`,
`{prefix}audit`, `{prefix}rh:{key_id}`, `{prefix}ready:{batch}`, `{prefix}sched`, and for second reviews `{prefix}rq2`, `{prefix}rq2:task:{task}`,
`{prefix}rq2:batch:{batch}`, `{prefix}rl2`, and for the review order `{prefix}p:{project}`
(its `review_order`) and `{prefix}rrecent:{reviewer}`, where `prefix` is `keys.team_prefix(team)`.
"""

from __future__ import annotations

from llmlabel.store.lua_gold import GOLD_DECIDE, GOLD_SAVE, GOLD_UNDO
from llmlabel.store.lua_labeling import (
    CLAIM_LABELING,
    FAIL,
    READY,
    REAP_LABELING,
    RELEASE_LABELING,
    RENEW_LABELING,
    RETRY_FAILED,
    SAVE,
)
from llmlabel.store.lua_prelude import script as _script

__all__ = [
    "CLAIM",
    "CLAIM_LABELING",
    "CLAIM_SECOND",
    "DECIDE",
    "DECIDE_SECOND",
    "FAIL",
    "GOLD_DECIDE",
    "GOLD_SAVE",
    "GOLD_UNDO",
    "PUBLISH",
    "READY",
    "REAP_LABELING",
    "RELEASE_LABELING",
    "RELEASE_REVIEWS",
    "RENEW_LABELING",
    "RENEW_REVIEW",
    "RENEW_SECOND",
    "RETRY_FAILED",
    "ROLLBACK",
    "SAVE",
]

PUBLISH = _script("""
-- KEYS: batch, batches, idempotency, teams, dispatch
-- ARGV: team, batch_id, created_at, total, idem_value ('' without an idempotency key: KEYS[3]
--   is then a key name never used, since ACL users may only name keys of their patterns),
--   dispatch_member, dispatch_due, field, value, ...
if ARGV[5] ~= '' then
  local existing = redis.call('GET', KEYS[3])
  if existing then return existing end
end
local fields = {}
for i = 8, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', KEYS[1], unpack(fields))
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[2])
redis.call('SADD', KEYS[4], ARGV[1])
redis.call('HINCRBY', TOTALS, 'queued', ARGV[4])
redis.call('ZADD', KEYS[5], ARGV[7], ARGV[6])
if ARGV[5] ~= '' then redis.call('SET', KEYS[3], ARGV[5]) end
return false
""")

ROLLBACK = _script("""
-- KEYS: batch, batches, idempotency, dispatch. ARGV: batch_id, idem_value ('' if none), dispatch_member
local counts = redis.call('HGETALL', KEYS[1])
for i = 1, #counts, 2 do
  local f = counts[i]
  if string.sub(f, 1, 2) == 'c:' then
    redis.call('HINCRBY', TOTALS, string.sub(f, 3), -tonumber(counts[i + 1]))
  end
end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[3])
if ARGV[2] ~= '' and redis.call('GET', KEYS[3]) == ARGV[2] then redis.call('DEL', KEYS[3]) end
return 1
""")

RELEASE_REVIEWS = _script("""
-- ARGV: prefix, now
return release_expired(ARGV[1], ARGV[2])
""")

CLAIM = _script("""
-- KEYS: the review queue to take from, the reviewer's recent near-duplicate buckets.
-- ARGV: prefix, now, lease_until, token, reviewer, penalty_s, recent_max, recent_ttl_s
-- The lowest queue place wins; an item queued in `value` order whose bucket is among the
-- reviewer's recent ones counts `penalty_s` later (review_priority.py). The queue is sorted
-- by place and penalties only add, so the scan (pages of 50, at most 200 entries) stops at
-- the first place past the best one: in age order that is the head.
local prefix, now, lease_until, token = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local penalty = tonumber(ARGV[6])
release_expired(prefix, now)
local recent = {}
if penalty > 0 then
  for _, b in ipairs(redis.call('LRANGE', KEYS[2], 0, -1)) do recent[b] = true end
end
for _ = 1, 20 do
  local best, best_place, best_bucket
  local stale = {}
  local offset, done = 0, false
  while not done and offset < 200 do
    local page = redis.call('ZRANGE', KEYS[1], offset, offset + 49, 'WITHSCORES')
    if #page == 0 then break end
    for i = 1, #page, 2 do
      local id, place = page[i], tonumber(page[i + 1])
      if best and place >= best_place then done = true break end
      local f = redis.call('HMGET', prefix .. 'i:' .. id, 'state', 'rorder', 'rbucket')
      if f[1] ~= 'needs_review' then
        stale[#stale + 1] = id  -- item gone or moved on: dropped below
      else
        local bucket = f[2] == 'value' and f[3] or nil
        if bucket and recent[bucket] then place = place + penalty end
        if not best or place < best_place then best, best_place, best_bucket = id, place, bucket end
      end
    end
    offset = offset + 50
  end
  for _, id in ipairs(stale) do redis.call('ZREM', KEYS[1], id) end
  if not best then
    if #stale == 0 then return false end
  else
    local ikey = prefix .. 'i:' .. best
    if move(prefix, ikey, best, 'needs_review', 'in_review', now) then
      dequeue_review(prefix, ikey, best)
      redis.call('HSET', ikey, 'rtoken', token, 'runtil', lease_until, 'reviewer', ARGV[5])
      redis.call('ZADD', prefix .. 'rl', lease_until, best)
      if best_bucket then
        redis.call('LPUSH', KEYS[2], best_bucket)
        redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[7]) - 1)
        redis.call('EXPIRE', KEYS[2], ARGV[8])
      end
      return best
    end
    -- Its batch is gone: drop the entry and look again.
    redis.call('ZREM', KEYS[1], best)
  end
end
return false
""")

RENEW_REVIEW = _script("""
-- ARGV: prefix, id, token, now, lease_until
local prefix, id = ARGV[1], ARGV[2]
local ikey = prefix .. 'i:' .. id
local f = redis.call('HMGET', ikey, 'state', 'rtoken', 'runtil')
if f[1] ~= 'in_review' or f[2] ~= ARGV[3] or tonumber(f[3]) <= tonumber(ARGV[4]) then return 0 end
redis.call('HSET', ikey, 'runtil', ARGV[5])
redis.call('ZADD', prefix .. 'rl', ARGV[5], id)
return 1
""")

DECIDE = _script("""
-- ARGV: prefix, id, token, now, decision, label ('' = keep), comment, actor, audit_max,
--   second ('1': queue the item once for a second reviewer after this decision),
--   key_id (the deciding key: its history list, and who may undo), history_max
-- Returns 'missing', 'lease' or the new state. The `d*` fields keep what an undo restores.
local prefix, id, token, now, decision = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local ikey = prefix .. 'i:' .. id
local f = redis.call('HMGET', ikey, 'state', 'rtoken', 'runtil', 'label', 'source')
if not f[1] then return 'missing' end
if f[1] ~= 'in_review' or f[2] ~= token or tonumber(f[3]) <= tonumber(now) then return 'lease' end
local to = ({approve = 'approved', fix = 'fixed', reject = 'rejected', skip = 'needs_review'})[decision]
if not move(prefix, ikey, id, 'in_review', to, now) then return 'missing' end
redis.call('HDEL', ikey, 'rtoken', 'runtil')
redis.call('ZREM', prefix .. 'rl', id)
local label = f[4] or 'null'
if decision == 'fix' then
  label = ARGV[6]
  redis.call('HSET', ikey, 'label', label, 'source', 'human')
end
if decision == 'skip' then
  redis.call('HDEL', ikey, 'reviewer', 'dkey', 'dat', 'dprev_state', 'dprev_label', 'dprev_source', 'dr2',
    'rboost')
  -- Behind the others (without its value head start), so the reviewer who skipped does
  -- not get it straight back.
  enqueue_review(prefix, ikey, id, now)
else
  redis.call('HSET', ikey, 'reviewer', ARGV[8], 'comment', ARGV[7], 'dkey', ARGV[11], 'dat', now,
    'dprev_state', 'in_review', 'dprev_label', f[4] or '', 'dprev_source', f[5] or '', 'dr2', '0')
  if ARGV[10] == '1' and redis.call('HEXISTS', ikey, 'r2state') == 0 then
    enqueue_review2(prefix, ikey, id, now)
    redis.call('HSET', ikey, 'dr2', '1')
  end
end
-- Labels are embedded as stored JSON text: a cjson round trip would turn [] into {}.
local comment = 'null'
if ARGV[7] ~= '' then comment = cjson.encode(ARGV[7]) end
local event = '{"at":' .. now .. ',"actor":' .. cjson.encode(ARGV[8]) .. ',"action":"review.' .. decision
  .. '","item_id":' .. cjson.encode(id) .. ',"before":{"state":"in_review","label":' .. (f[4] or 'null')
  .. '},"after":{"state":"' .. to .. '","label":' .. label .. '},"comment":' .. comment .. '}'
redis.call('LPUSH', prefix .. 'audit', event)
redis.call('LTRIM', prefix .. 'audit', 0, tonumber(ARGV[9]) - 1)
if decision ~= 'skip' then push_history(prefix, ARGV[11], event, ARGV[12]) end
if decision == 'approve' or decision == 'fix' then pool_add(prefix, ikey, id, decision, label, now) end
return to
""")

CLAIM_SECOND = _script("""
-- KEYS: the second-review queue to take from. ARGV: prefix, now, lease_until, token, reviewer
-- The item stays in its final state; only its r2* fields and the rq2/rl2 sets change.
local prefix, now, lease_until, token, reviewer = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
release_expired2(prefix, now)
local ids = redis.call('ZRANGE', KEYS[1], 0, 499)
for _, id in ipairs(ids) do
  local ikey = prefix .. 'i:' .. id
  local f = redis.call('HMGET', ikey, 'r2state', 'reviewer')
  if f[1] ~= 'queued' then
    -- Stale (item gone or already taken): drop it from this queue.
    redis.call('ZREM', KEYS[1], id)
  elseif f[2] ~= reviewer then
    -- Never the reviewer who made the first decision.
    dequeue_review2(prefix, ikey, id)
    redis.call('HSET', ikey, 'r2state', 'in_review', 'r2token', token, 'r2until', lease_until,
      'r2claimant', reviewer)
    redis.call('ZADD', prefix .. 'rl2', lease_until, id)
    return id
  end
end
return false
""")

RENEW_SECOND = _script("""
-- ARGV: prefix, id, token, now, lease_until
local prefix, id = ARGV[1], ARGV[2]
local ikey = prefix .. 'i:' .. id
local f = redis.call('HMGET', ikey, 'r2state', 'r2token', 'r2until')
if f[1] ~= 'in_review' or f[2] ~= ARGV[3] or tonumber(f[3]) <= tonumber(ARGV[4]) then return 0 end
redis.call('HSET', ikey, 'r2until', ARGV[5])
redis.call('ZADD', prefix .. 'rl2', ARGV[5], id)
return 1
""")

DECIDE_SECOND = _script("""
-- ARGV: prefix, id, token, now, decision, label JSON ('null' for reject), comment, actor, audit_max
-- Records the second decision next to the first; the item's state and label stay as they are.
-- Returns 'missing', 'lease', 'queued' (skip) or 'done'.
local prefix, id, token, now, decision = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local ikey = prefix .. 'i:' .. id
local f = redis.call('HMGET', ikey, 'r2state', 'r2token', 'r2until', 'label')
if not f[1] then return 'missing' end
if f[1] ~= 'in_review' or f[2] ~= token or tonumber(f[3]) <= tonumber(now) then return 'lease' end
redis.call('HDEL', ikey, 'r2token', 'r2until', 'r2claimant')
redis.call('ZREM', prefix .. 'rl2', id)
if decision == 'skip' then
  enqueue_review2(prefix, ikey, id, now)
  return 'queued'
end
redis.call('HSET', ikey, 'r2state', 'done', 'r2reviewer', ARGV[8], 'r2decision', decision,
  'r2label', ARGV[6], 'r2comment', ARGV[7], 'r2at', now)
local comment = 'null'
if ARGV[7] ~= '' then comment = cjson.encode(ARGV[7]) end
local event = '{"at":' .. now .. ',"actor":' .. cjson.encode(ARGV[8]) .. ',"action":"review.second.'
  .. decision .. '","item_id":' .. cjson.encode(id) .. ',"before":{"label":' .. (f[4] or 'null')
  .. '},"after":{"label":' .. ARGV[6] .. '},"comment":' .. comment .. '}'
redis.call('LPUSH', prefix .. 'audit', event)
redis.call('LTRIM', prefix .. 'audit', 0, tonumber(ARGV[9]) - 1)
return 'done'
""")
