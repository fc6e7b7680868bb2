"""Lua scripts: one per item state transition, each checking the current state first.

A transition moves the item hash's `state`, the batch's `c:{state}` counters, the
batch's per-state sorted sets and the all-teams totals in one atomic step, so
counters always equal the item states, and a transition that already happened
is a no-op (a job that runs twice never counts twice). Key suffixes used here
mirror `keys.py`: `{prefix}i:{item}`, `{prefix}b:{batch}`, `{prefix}b:{batch}:s:{state}`,
`{prefix}rq`, `{prefix}rq:task:{task}`, `{prefix}rq:batch:{batch}`, `{prefix}rl`,
`{prefix}audit`, `{prefix}rh:{key_id}`, and for second reviews `{prefix}rq2`, `{prefix}rq2:task:{task}`,
`{prefix}rq2:batch:{batch}`, `{prefix}rl2`, where `prefix` is `keys.team_prefix(team)`.
"""

from __future__ import annotations

from llmlabel.store import keys
from llmlabel.store.lua_gold import GOLD_DECIDE, GOLD_SAVE, GOLD_UNDO

__all__ = [
    "BEGIN",
    "CLAIM",
    "CLAIM_SECOND",
    "DECIDE",
    "DECIDE_SECOND",
    "FAIL",
    "GOLD_DECIDE",
    "GOLD_SAVE",
    "GOLD_UNDO",
    "PUBLISH",
    "REAP_LABELING",
    "RELEASE_REVIEWS",
    "RENEW_LABELING",
    "RENEW_REVIEW",
    "RENEW_SECOND",
    "RETRY_FAILED",
    "ROLLBACK",
    "SAVE",
]

_PRELUDE = """
local TOTALS = '@TOTALS@'
local CALLBACKS = '@CALLBACKS@'

-- Move one item from `from` to `to`; false (and nothing changed) if its batch is gone.
local function move(prefix, ikey, id, from, to, now)
  local batch = redis.call('HGET', ikey, 'batch')
  if not batch then return false end
  local bkey = prefix .. 'b:' .. batch
  if redis.call('HEXISTS', bkey, 'task') == 0 then return false end
  local idx = redis.call('HGET', ikey, 'idx')
  redis.call('HSET', ikey, 'state', to, 'updated_at', now)
  redis.call('HINCRBY', bkey, 'c:' .. from, -1)
  redis.call('HINCRBY', bkey, 'c:' .. to, 1)
  redis.call('ZREM', bkey .. ':s:' .. from, id)
  redis.call('ZADD', bkey .. ':s:' .. to, idx, id)
  redis.call('HINCRBY', TOTALS, from, -1)
  redis.call('HINCRBY', TOTALS, to, 1)
  if (from == 'queued' or from == 'labeling') and to ~= 'queued' and to ~= 'labeling' then
    -- The last item left labeling: the batch's callback is due (delivered by a worker).
    local c = redis.call('HMGET', bkey, 'c:queued', 'c:labeling', 'callback_url')
    if tonumber(c[1] or 0) == 0 and tonumber(c[2] or 0) == 0 and c[3] and c[3] ~= '' then
      redis.call('RPUSH', CALLBACKS, string.match(prefix, ':t:(.-):$') .. '|' .. batch)
    end
  end
  return true
end

local function review_keys(prefix, ikey)
  local f = redis.call('HMGET', ikey, 'task', 'batch')
  return {prefix .. 'rq', prefix .. 'rq:task:' .. f[1], prefix .. 'rq:batch:' .. f[2]}
end

local function enqueue_review(prefix, ikey, id, score)
  redis.call('HSET', ikey, 'rsince', score)
  for _, q in ipairs(review_keys(prefix, ikey)) do redis.call('ZADD', q, score, id) end
end

local function dequeue_review(prefix, ikey, id)
  for _, q in ipairs(review_keys(prefix, ikey)) do redis.call('ZREM', q, id) end
end

-- Second reviews: the same three queues under `rq2`; the item keeps its (final) state.
local function review2_keys(prefix, ikey)
  local f = redis.call('HMGET', ikey, 'task', 'batch')
  return {prefix .. 'rq2', prefix .. 'rq2:task:' .. f[1], prefix .. 'rq2:batch:' .. f[2]}
end

local function enqueue_review2(prefix, ikey, id, score)
  redis.call('HSET', ikey, 'r2state', 'queued', 'r2since', score)
  for _, q in ipairs(review2_keys(prefix, ikey)) do redis.call('ZADD', q, score, id) end
end

local function dequeue_review2(prefix, ikey, id)
  for _, q in ipairs(review2_keys(prefix, ikey)) do redis.call('ZREM', q, id) end
end

local function release_expired2(prefix, now)
  local ids = redis.call('ZRANGEBYSCORE', prefix .. 'rl2', '-inf', now, 'LIMIT', 0, 200)
  for _, id in ipairs(ids) do
    local ikey = prefix .. 'i:' .. id
    local f = redis.call('HMGET', ikey, 'r2state', 'r2until', 'r2since')
    if f[1] == 'in_review' and tonumber(f[2]) <= tonumber(now) then
      redis.call('HDEL', ikey, 'r2token', 'r2until', 'r2claimant')
      enqueue_review2(prefix, ikey, id, f[3] or now)
    end
    redis.call('ZREM', prefix .. 'rl2', id)
  end
end

-- A reviewer's own decisions, newest first (`{prefix}rh:{key_id}`), for their history and undo.
local function push_history(prefix, key_id, event, max)
  if key_id == nil or key_id == '' then return end
  redis.call('LPUSH', prefix .. 'rh:' .. key_id, event)
  redis.call('LTRIM', prefix .. 'rh:' .. key_id, 0, tonumber(max) - 1)
end

-- Return expired review leases of one team to needs_review, at their old queue place.
local function release_expired(prefix, now)
  local ids = redis.call('ZRANGEBYSCORE', prefix .. 'rl', '-inf', now, 'LIMIT', 0, 200)
  local released = 0
  for _, id in ipairs(ids) do
    local ikey = prefix .. 'i:' .. id
    local f = redis.call('HMGET', ikey, 'state', 'runtil', 'rsince')
    if f[1] == 'in_review' and tonumber(f[2]) <= tonumber(now) then
      if move(prefix, ikey, id, 'in_review', 'needs_review', now) then
        redis.call('HDEL', ikey, 'rtoken', 'runtil', 'reviewer')
        enqueue_review(prefix, ikey, id, f[3] or now)
        released = released + 1
      end
    end
    redis.call('ZREM', prefix .. 'rl', id)
  end
  return released
end
"""


def _script(body: str) -> str:
    prelude = _PRELUDE.replace("@TOTALS@", keys.state_totals())
    return prelude.replace("@CALLBACKS@", keys.callbacks()) + body


PUBLISH = _script("""
-- KEYS: batch, batches, idempotency ('' if none), teams, dispatch
-- ARGV: team, batch_id, created_at, total, idem_value, dispatch_member, dispatch_due, field, value, ...
if KEYS[3] ~= '' then
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
if KEYS[3] ~= '' then redis.call('SET', KEYS[3], ARGV[5]) end
return false
""")

ROLLBACK = _script("""
-- KEYS: batch, batches, idempotency ('' if none), dispatch. ARGV: batch_id, idem_value, dispatch_member
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
if KEYS[3] ~= '' and redis.call('GET', KEYS[3]) == ARGV[2] then redis.call('DEL', KEYS[3]) end
return 1
""")

BEGIN = _script("""
-- KEYS: labeling leases. ARGV: prefix, team, now, lease_until, token, item ids...
local prefix, team, now, lease_until, token = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local out = {}
for i = 6, #ARGV do
  local id = ARGV[i]
  local ikey = prefix .. 'i:' .. id
  if redis.call('HGET', ikey, 'state') == 'queued' and move(prefix, ikey, id, 'queued', 'labeling', now) then
    redis.call('HINCRBY', ikey, 'attempts', 1)
    redis.call('HSET', ikey, 'lease', token, 'lease_until', lease_until)
    redis.call('ZADD', KEYS[1], lease_until, team .. '|' .. id)
    out[#out + 1] = id
  end
end
return out
""")

RENEW_LABELING = _script("""
-- KEYS: labeling leases. ARGV: prefix, team, lease_until, token, item ids...
local prefix, team, lease_until, token = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local n = 0
for i = 5, #ARGV do
  local ikey = prefix .. 'i:' .. ARGV[i]
  local f = redis.call('HMGET', ikey, 'state', 'lease')
  if f[1] == 'labeling' and f[2] == token then
    redis.call('HSET', ikey, 'lease_until', lease_until)
    redis.call('ZADD', KEYS[1], lease_until, team .. '|' .. ARGV[i])
    n = n + 1
  end
end
return n
""")

SAVE = _script("""
-- KEYS: labeling leases. ARGV: prefix, team, id, token, now, to_state, record, label,
--   calls, prompt_tokens, completion_tokens, cached_tokens, cost_usd, duration_s, latency bucket
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
if to == 'needs_review' then enqueue_review(prefix, ikey, id, now) end
-- All-teams LLM usage and labeling latency, for /metrics.
redis.call('HINCRBY', TOTALS, 'u:calls', ARGV[9])
redis.call('HINCRBY', TOTALS, 'u:prompt_tokens', ARGV[10])
redis.call('HINCRBY', TOTALS, 'u:completion_tokens', ARGV[11])
redis.call('HINCRBYFLOAT', TOTALS, 'u:cost_usd', ARGV[13])
redis.call('HINCRBYFLOAT', TOTALS, 'lat:sum', ARGV[14])
redis.call('HINCRBY', TOTALS, 'lat:le:' .. ARGV[15], 1)
return 1
""")

FAIL = _script("""
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

REAP_LABELING = _script("""
-- KEYS: labeling leases. ARGV: root, now, next_due, max_attempts, limit
-- Returns {failed_count, {"team|item", ...} to enqueue again}.
local root, now, next_due, max_attempts = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local members = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[5]))
local requeue, failed = {}, 0
for _, m in ipairs(members) do
  local sep = string.find(m, '|', 1, true)
  local prefix = root .. ':t:' .. string.sub(m, 1, sep - 1) .. ':'
  local id = string.sub(m, sep + 1)
  local ikey = prefix .. 'i:' .. id
  local f = redis.call('HMGET', ikey, 'state', 'attempts', 'attempt_base')
  if f[1] == 'labeling' then
    local used = tonumber(f[2] or 0) - tonumber(f[3] or 0)
    if used >= max_attempts then
      if move(prefix, ikey, id, 'labeling', 'failed', now) then
        redis.call('HSET', ikey, 'error',
          'labeling did not finish in ' .. used .. ' attempts (the worker was lost each time)')
        redis.call('HDEL', ikey, 'lease', 'lease_until')
        failed = failed + 1
      end
      redis.call('ZREM', KEYS[1], m)
    elseif move(prefix, ikey, id, 'labeling', 'queued', now) then
      redis.call('HDEL', ikey, 'lease', 'lease_until')
      -- Stay watched: if no job picks it up in time (lost job), it is enqueued again.
      redis.call('ZADD', KEYS[1], next_due, m)
      requeue[#requeue + 1] = m
    else
      redis.call('ZREM', KEYS[1], m)
    end
  elseif f[1] == 'queued' then
    redis.call('ZADD', KEYS[1], next_due, m)
    requeue[#requeue + 1] = m
  else
    redis.call('ZREM', KEYS[1], m)
  end
end
return {failed, requeue}
""")

RETRY_FAILED = _script("""
-- KEYS: labeling leases, the batch's failed set. ARGV: prefix, team, now, next_due, limit
local prefix, team, now, next_due = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local ids = redis.call('ZRANGE', KEYS[2], 0, tonumber(ARGV[5]) - 1)
local out = {}
for _, id in ipairs(ids) do
  local ikey = prefix .. 'i:' .. id
  if redis.call('HGET', ikey, 'state') == 'failed' and move(prefix, ikey, id, 'failed', 'queued', now) then
    -- A fresh attempt budget; the old error stays visible until a label replaces it.
    redis.call('HSET', ikey, 'attempt_base', redis.call('HGET', ikey, 'attempts') or 0)
    redis.call('ZADD', KEYS[1], next_due, team .. '|' .. id)
    out[#out + 1] = id
  else
    redis.call('ZREM', KEYS[2], id)
  end
end
return out
""")

RELEASE_REVIEWS = _script("""
-- ARGV: prefix, now
return release_expired(ARGV[1], ARGV[2])
""")

CLAIM = _script("""
-- KEYS: the review queue to pop from. ARGV: prefix, now, lease_until, token, reviewer
local prefix, now, lease_until, token = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
release_expired(prefix, now)
for _ = 1, 1000 do
  local head = redis.call('ZRANGE', KEYS[1], 0, 0)
  if #head == 0 then return false end
  local id = head[1]
  local ikey = prefix .. 'i:' .. id
  if redis.call('HGET', ikey, 'state') == 'needs_review'
      and move(prefix, ikey, id, 'needs_review', 'in_review', now) then
    dequeue_review(prefix, ikey, id)
    redis.call('HSET', ikey, 'rtoken', token, 'runtil', lease_until, 'reviewer', ARGV[5])
    redis.call('ZADD', prefix .. 'rl', lease_until, id)
    return id
  end
  -- A stale queue entry (item gone or moved on): drop it and look at the next one.
  redis.call('ZREM', KEYS[1], id)
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
  redis.call('HDEL', ikey, 'reviewer', 'dkey', 'dat', 'dprev_state', 'dprev_label', 'dprev_source', 'dr2')
  -- Behind the others, so the reviewer who skipped does not get it straight back.
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
