"""The Lua prelude every item-transition script starts with: `move` and the queue helpers.

`move` changes an item's state together with the batch counters, the per-state
sets and the all-teams totals; `activate`/`make_ready` keep the labeling
schedule (see `lua_labeling.py`); the review helpers keep the review queues.
"""

from __future__ import annotations

from llmlabel.store import keys

__all__ = ["script"]

_PRELUDE = """
local TOTALS = '@TOTALS@'
local CALLBACKS = '@CALLBACKS@'
local SCHED = '@SCHED@'
local PASSES = '@PASSES@'

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

-- Put a batch that has ready items on the schedule (a no-op if it is on it already).
-- A newcomer enters at the lowest pass of its peers (or where its team / the schedule
-- left off): it neither waits behind their backlog nor gets to jump ahead of them.
local function activate(prefix, team, batch)
  local tsched = prefix .. 'sched'
  if not redis.call('ZSCORE', tsched, batch) then
    local low = redis.call('ZRANGE', tsched, 0, 0, 'WITHSCORES')
    redis.call('ZADD', tsched, low[2] or redis.call('HGET', PASSES, team) or 0, batch)
  end
  if not redis.call('ZSCORE', SCHED, team) then
    local low = redis.call('ZRANGE', SCHED, 0, 0, 'WITHSCORES')
    redis.call('ZADD', SCHED, low[2] or redis.call('HGET', PASSES, '') or 0, team)
  end
end

-- Hand a queued item back to the workers: onto its batch's ready list (the front for
-- items a dead worker held: they are the oldest), its batch onto the schedule.
local function make_ready(prefix, team, ikey, id, front)
  local batch = redis.call('HGET', ikey, 'batch')
  if front then
    redis.call('LPUSH', prefix .. 'ready:' .. batch, id)
  else
    redis.call('RPUSH', prefix .. 'ready:' .. batch, id)
  end
  activate(prefix, team, batch)
end

local function review_keys(prefix, ikey)
  local f = redis.call('HMGET', ikey, 'task', 'batch')
  return {prefix .. 'rq', prefix .. 'rq:task:' .. f[1], prefix .. 'rq:batch:' .. f[2]}
end

-- Waiting since `since`; the queue place is that time, moved earlier by the item's value
-- head start (`rboost`, review_priority.py) while its project orders reviews by value.
local function enqueue_review(prefix, ikey, id, since)
  local f = redis.call('HMGET', ikey, 'proj', 'rboost')
  local score = since
  if f[2] and f[1] and f[1] ~= ''
      and redis.call('HGET', prefix .. 'p:' .. f[1], 'review_order') == 'value' then
    score = string.format('%.6f', tonumber(since) - tonumber(f[2]))
    redis.call('HSET', ikey, 'rsince', since, 'rorder', 'value')
  else
    redis.call('HSET', ikey, 'rsince', since)
    redis.call('HDEL', ikey, 'rorder')
  end
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

-- The example pool of the item's project (`{prefix}p:{proj}:pool`, see store/pool.py): an
-- approved or fixed decision enters it with the item's input and final label, in the
-- decision's own step. An operator's edit (stored JSON starting '{"edited":true') stays.
local function pool_add(prefix, ikey, id, source, label, now)
  local f = redis.call('HMGET', ikey, 'proj', 'input', 'task')
  if not f[1] or f[1] == '' or not label or label == '' or label == 'null' then return end
  local base = prefix .. 'p:' .. f[1] .. ':pool'
  local current = redis.call('HGET', base, id)
  if current and string.sub(current, 1, 14) == '{"edited":true' then return end
  redis.call('HSET', base, id, '{"edited":false,"id":' .. cjson.encode(id) .. ',"source":"' .. source
    .. '","task":' .. cjson.encode(f[3]) .. ',"item_id":' .. cjson.encode(id) .. ',"input":' .. f[2]
    .. ',"label":' .. label .. ',"at":' .. now .. '}')
  redis.call('ZADD', base .. ':ids', 'NX', now, id)
  redis.call('INCR', base .. ':rev')
end

-- An undone decision takes its example back out (unless an operator edited it).
local function pool_remove(prefix, ikey, id)
  local proj = redis.call('HGET', ikey, 'proj')
  if not proj or proj == '' then return end
  local base = prefix .. 'p:' .. proj .. ':pool'
  local current = redis.call('HGET', base, id)
  if not current or string.sub(current, 1, 14) == '{"edited":true' then return end
  redis.call('HDEL', base, id)
  redis.call('HDEL', base .. ':flags', id)
  redis.call('ZREM', base .. ':ids', id)
  redis.call('INCR', base .. ':rev')
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


def script(body: str) -> str:
    """A script body with the prelude (its helpers and global key names) in front."""
    prelude = _PRELUDE.replace("@TOTALS@", keys.state_totals())
    prelude = prelude.replace("@SCHED@", keys.schedule()).replace("@PASSES@", keys.schedule_passes())
    return prelude.replace("@CALLBACKS@", keys.callbacks()) + body
