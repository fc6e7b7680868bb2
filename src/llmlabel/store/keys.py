"""Every Redis key pattern of llmlabel, in one place.

Team data lives under `ll:t:{team}:`, so a key built from another team's id
simply does not exist (NotFoundError). The Lua scripts derive a few keys from
the team prefix themselves (item ids are only known inside the script); they use
the same suffixes as the functions here (see `lua.py`).
"""

from __future__ import annotations

import hashlib
import re
import secrets

from llmlabel.errors import InputError

__all__ = [
    "BATCH_ID_RE",
    "NAME_RE",
    "ROOT",
    "TEAM_RE",
    "apikey",
    "apikey_ids",
    "apikeys",
    "batch",
    "batch_state",
    "batches",
    "calibration_counts",
    "calibration_fit",
    "calibration_fits",
    "calibration_items",
    "calibration_judged",
    "calibration_settings",
    "call_cache",
    "callbacks",
    "check_name",
    "check_team",
    "dispatch",
    "gold",
    "gold_evaluation",
    "gold_evaluations",
    "gold_known",
    "gold_lease",
    "gold_ready",
    "gold_records",
    "gold_scores",
    "gold_seen",
    "gold_seq",
    "gold_task",
    "gold_undo",
    "idempotency",
    "is_batch_id",
    "item",
    "labeling_leases",
    "new_batch_id",
    "offline_due",
    "offline_job",
    "pool",
    "pool_flags",
    "pool_ids",
    "pool_rev",
    "project",
    "project_hashes",
    "project_history",
    "project_stack",
    "project_versions",
    "projects",
    "purges",
    "ratelimit",
    "ready",
    "relabel",
    "reservation",
    "reservations",
    "retention",
    "review2_leases",
    "review2_queue",
    "review2_queue_batch",
    "review2_queue_task",
    "review_history",
    "review_leases",
    "review_queue",
    "review_queue_batch",
    "review_queue_task",
    "review_recent",
    "schedule",
    "schedule_passes",
    "scope_spend",
    "spend_models",
    "spend_total",
    "state_totals",
    "team_apikeys",
    "team_audit",
    "team_budget",
    "team_paused",
    "team_prefix",
    "team_schedule",
    "team_spend",
    "team_spend_by",
    "team_spend_period",
    "team_spend_scopes",
    "teams",
    "version_content",
    "webhook_delivery",
    "webhook_secret",
    "webhook_seq",
    "webhooks_due",
]

ROOT = "ll"
# Batch ids are made by the store (`new_batch_id`); anything else a client sends
# cannot name a batch, and must not reach a key (it could alias another key type).
BATCH_ID_RE = re.compile(r"^b_[0-9a-f]{16}$")
# Team names end up inside keys and in the "team|item_id" members of the labeling
# lease set, so they may not contain ':' or '|'.
TEAM_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
# Project and version names end up inside keys and URL paths: no ':', '/', '|' or spaces.
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def check_team(team: str) -> str:
    """Return `team` if it is a valid team name, else raise InputError."""
    if not TEAM_RE.match(team):
        raise InputError(
            f"invalid team name {team!r}: use 1-64 letters, digits, '_', '.' or '-'", field="team"
        )
    return team


def check_name(value: str, *, what: str, field: str) -> str:
    """Return a project or version name if valid, else raise InputError naming `field`."""
    if not NAME_RE.match(value):
        raise InputError(
            f"invalid {what} {value!r}: use 1-64 letters, digits, '_', '.' or '-', "
            "starting with a letter or digit",
            field=field,
        )
    return value


def new_batch_id() -> str:
    """A fresh random batch id."""
    return "b_" + secrets.token_hex(8)


def is_batch_id(batch_id: str) -> bool:
    """True if `batch_id` has the shape of an id the store makes."""
    return bool(BATCH_ID_RE.match(batch_id))


def team_prefix(team: str) -> str:
    """Prefix of every key of one team."""
    return f"{ROOT}:t:{team}:"


def batch(team: str, batch_id: str) -> str:
    """Hash: batch fields, `c:{state}` counters and `u:{field}` usage sums."""
    return f"{team_prefix(team)}b:{batch_id}"


def batch_state(team: str, batch_id: str, state: str) -> str:
    """Sorted set of the batch's item ids in one state, scored by submit index."""
    return f"{team_prefix(team)}b:{batch_id}:s:{state}"


def batches(team: str) -> str:
    """Sorted set of the team's batch ids by creation time."""
    return f"{team_prefix(team)}batches"


def item(team: str, item_id: str) -> str:
    """Hash: one item's input, state, label record, lease and review fields."""
    return f"{team_prefix(team)}i:{item_id}"


def ready(team: str, batch_id: str) -> str:
    """List of the batch's queued item ids in the order workers take them (head first)."""
    return f"{team_prefix(team)}ready:{batch_id}"


def team_schedule(team: str) -> str:
    """Sorted set of the team's batch ids that have ready items, by pass (stride scheduling)."""
    return f"{team_prefix(team)}sched"


def call_cache(team: str, digest: str) -> str:
    """String (with TTL): one answered provider call (Completion JSON), by its request digest."""
    return f"{team_prefix(team)}cc:{digest}"


def idempotency(team: str, key_hash: str) -> str:
    """String: JSON {batch_id, request_hash} of a submitted Idempotency-Key."""
    return f"{team_prefix(team)}idem:{key_hash}"


def review_queue(team: str) -> str:
    """Sorted set of the team's needs_review item ids by queue place: the time they became
    reviewable, less their value head start in a project of `value` review order."""
    return f"{team_prefix(team)}rq"


def review_queue_task(team: str, task: str) -> str:
    """The review queue restricted to one task."""
    return f"{team_prefix(team)}rq:task:{task}"


def review_queue_batch(team: str, batch_id: str) -> str:
    """The review queue restricted to one batch."""
    return f"{team_prefix(team)}rq:batch:{batch_id}"


def review_history(team: str, key_id: str) -> str:
    """List of one reviewer key's own decisions and undos (audit event JSON), newest first."""
    return f"{team_prefix(team)}rh:{key_id}"


def review_leases(team: str) -> str:
    """Sorted set of in_review item ids by lease expiry."""
    return f"{team_prefix(team)}rl"


def review_recent(team: str, reviewer: str) -> str:
    """List of the near-duplicate buckets of a reviewer's last claims, newest first (expires)."""
    return f"{team_prefix(team)}rrecent:{reviewer}"


def review2_queue(team: str) -> str:
    """Sorted set of reviewed item ids waiting for a second reviewer, by first-decision time."""
    return f"{team_prefix(team)}rq2"


def review2_queue_task(team: str, task: str) -> str:
    """The second-review queue restricted to one task."""
    return f"{team_prefix(team)}rq2:task:{task}"


def review2_queue_batch(team: str, batch_id: str) -> str:
    """The second-review queue restricted to one batch."""
    return f"{team_prefix(team)}rq2:batch:{batch_id}"


def review2_leases(team: str) -> str:
    """Sorted set of item ids held for a second review, by lease expiry."""
    return f"{team_prefix(team)}rl2"


# Calibration is per project and guideline version: versions are named per project, so
# two projects of one task each have their own `v1`. A team's default project of a task
# is named after the task.
def calibration_settings(team: str, project: str, version: str) -> str:
    """Hash: a guideline version's calibration settings (target_precision) set over the API."""
    return f"{team_prefix(team)}cal:{project}:{version}:settings"


def calibration_fit(team: str, project: str, version: str) -> str:
    """String: the guideline version's current CalibrationFit (JSON)."""
    return f"{team_prefix(team)}cal:{project}:{version}:fit"


def calibration_fits(team: str, project: str, version: str) -> str:
    """List: earlier fits of the version, newest first (id, time, threshold, status; JSON)."""
    return f"{team_prefix(team)}cal:{project}:{version}:fits"


def calibration_items(team: str, project: str, version: str) -> str:
    """Sorted set: item ids of the version that a person judged (decided), by decision time."""
    return f"{team_prefix(team)}cal:{project}:{version}:items"


def calibration_counts(team: str, project: str, version: str) -> str:
    """Hash: labels saved under the version (`labeled`) and how many the threshold accepted."""
    return f"{team_prefix(team)}cal:{project}:{version}:counts"


def calibration_judged(team: str, project: str, version: str) -> str:
    """Counter: judgments (reviews, gold labels) since the version's last fit."""
    return f"{team_prefix(team)}cal:{project}:{version}:judged"


def gold(team: str, gold_id: str) -> str:
    """Hash: one gold item's task, input, known label, client id and provenance."""
    return f"{team_prefix(team)}g:{gold_id}"


def gold_records(team: str, gold_id: str) -> str:
    """Hash: "guideline_version\tprompt_version" -> the LLM's LabelRecord (JSON) for a gold item."""
    return f"{team_prefix(team)}g:{gold_id}:llm"


def gold_task(team: str, task: str) -> str:
    """Sorted set of the team's gold ids of one task, by upload time."""
    return f"{team_prefix(team)}gold:task:{task}"


def gold_ready(team: str, task: str) -> str:
    """Set of gold ids of one task the LLM has labeled (only those can stand in a review queue)."""
    return f"{team_prefix(team)}gold:ready:{task}"


def gold_known(team: str) -> str:
    """Set of every gold id the team ever had (a decision on a deleted one is still recognised)."""
    return f"{team_prefix(team)}gold:known"


def gold_seen(team: str, reviewer: str) -> str:
    """Set of gold ids a reviewer was shown (each gold item goes to a reviewer once)."""
    return f"{team_prefix(team)}gold:seen:{reviewer}"


def gold_seq(team: str) -> str:
    """Counter: the order gold items were uploaded in (their sort score)."""
    return f"{team_prefix(team)}gold:seq"


def gold_undo(team: str, key_id: str, gold_id: str) -> str:
    """String (with TTL): JSON of a reviewer key's last decision on a gold item, for undo."""
    return f"{team_prefix(team)}gu:{key_id}:{gold_id}"


def gold_lease(team: str, token: str) -> str:
    """String (with TTL): JSON of one claimed gold item's review lease."""
    return f"{team_prefix(team)}gl:{token}"


def gold_scores(team: str) -> str:
    """Hash: "task\treviewer\tn" and "task\treviewer\tok" gold decision counts."""
    return f"{team_prefix(team)}gold:scores"


def gold_evaluation(team: str, evaluation_id: str) -> str:
    """String: JSON of one evaluation of a version on the gold set."""
    return f"{team_prefix(team)}gold:eval:{evaluation_id}"


def gold_evaluations(team: str, task: str) -> str:
    """Sorted set of a task's evaluation ids, by creation time."""
    return f"{team_prefix(team)}gold:evals:{task}"


def team_audit(team: str) -> str:
    """List of the team's audit events (JSON), newest first."""
    return f"{team_prefix(team)}audit"


def teams() -> str:
    """Set of teams that have data (the reaper walks their review leases)."""
    return f"{ROOT}:teams"


def labeling_leases() -> str:
    """Sorted set of "team|item_id" by labeling lease expiry (all teams: workers serve all)."""
    return f"{ROOT}:labeling"


def evaluation_leases() -> str:
    """Sorted set of "team|evaluation_id" by the lease expiry of running gold evaluations."""
    return f"{ROOT}:evaluating"


def schedule() -> str:
    """Sorted set of teams that have ready items, by pass: workers serve the lowest first."""
    return f"{ROOT}:sched"


def schedule_passes() -> str:
    """Hash: the pass a team (field = team) or the whole schedule (field "") left off at."""
    return f"{ROOT}:sched:pass"


def state_totals() -> str:
    """Hash: items per state over all teams (for /metrics)."""
    return f"{ROOT}:totals"


def apikey(key_hash: str) -> str:
    """Hash: team, role, name of an API key, found by the key's sha256."""
    return f"{ROOT}:key:{key_hash}"


def projects(team: str) -> str:
    """Sorted set of the team's project names by creation time."""
    return f"{team_prefix(team)}projects"


def project(team: str, name: str) -> str:
    """Hash: a project's task, model profile, flags, active versions and name counters."""
    return f"{team_prefix(team)}p:{name}"


def project_versions(team: str, name: str, kind: str) -> str:
    """Hash: version name -> JSON VersionInfo of one kind (guideline or prompt)."""
    return f"{team_prefix(team)}p:{name}:v:{kind}"


def project_hashes(team: str, name: str, kind: str) -> str:
    """Hash: content sha256 -> version name (the same content is never stored twice)."""
    return f"{team_prefix(team)}p:{name}:h:{kind}"


def project_stack(team: str, name: str) -> str:
    """List of activated "guideline\tprompt" pairs, newest first (rollback pops it)."""
    return f"{team_prefix(team)}p:{name}:stack"


def project_history(team: str, name: str) -> str:
    """List of the project's audit events (JSON), newest first."""
    return f"{team_prefix(team)}p:{name}:history"


def pool(team: str, name: str) -> str:
    """Hash: example id -> JSON PoolExample of a project's example pool (Lua: `p:{proj}:pool`)."""
    return f"{project(team, name)}:pool"


def pool_flags(team: str, name: str) -> str:
    """Hash: example id -> "pinned" or "excluded" (an operator's choice survives re-decisions)."""
    return f"{pool(team, name)}:flags"


def pool_ids(team: str, name: str) -> str:
    """Sorted set of the pool's example ids by the time each first entered (listing order)."""
    return f"{pool(team, name)}:ids"


def pool_rev(team: str, name: str) -> str:
    """String counter bumped with every pool change: workers reload a snapshot when it moves."""
    return f"{pool(team, name)}:rev"


def relabel(team: str, batch_id: str) -> str:
    """String: JSON of a relabel batch's link to the batch it relabels (pairs, evaluations)."""
    return f"{batch(team, batch_id)}:relabel"


def version_content(team: str, kind: str, sha256: str) -> str:
    """String: the text of a guideline or prompt version, by its sha256 (immutable)."""
    return f"{team_prefix(team)}vc:{kind}:{sha256}"


def dispatch() -> str:
    """Sorted set of "team|batch_id" whose jobs are not confirmed enqueued, by due time."""
    return f"{ROOT}:dispatch"


def callbacks() -> str:
    """List of "team|batch_id" whose labeling just finished and that have a callback_url."""
    return f"{ROOT}:callbacks"


# -- spend: the ledger of provider calls, budgets, reservations -------------------
# The spend Lua scripts (lua_spend.py) build the team keys below from the team
# prefix with the same suffixes: `spend`, `spend:s:{scope}`, `spend:p:{period}`,
# `spend:by`, `spend:scopes`, `budget`, `paused`.


def spend_total() -> str:
    """Hash: ledger totals over all teams (/metrics): requests, tokens, cost, failures."""
    return f"{ROOT}:spend"


def spend_models() -> str:
    """Hash: "model\tmetric" -> ledger totals over all teams, per model."""
    return f"{ROOT}:spend:models"


def team_spend(team: str) -> str:
    """Hash: the team's ledger totals since it began (and `reserved_usd` held right now)."""
    return f"{team_prefix(team)}spend"


def team_spend_period(team: str, period: str) -> str:
    """Hash: the team's ledger totals of one UTC day ("d2026-12-01") or month ("m2026-12")."""
    return f"{team_prefix(team)}spend:p:{period}"


def scope_spend(team: str, scope: str) -> str:
    """Hash: ledger totals of one batch ("batch:{id}"), gold upload or evaluation; `cap_usd`."""
    return f"{team_prefix(team)}spend:s:{scope}"


def team_spend_by(team: str) -> str:
    """Hash: "project\tversion\tmodel\tmetric" -> the team's ledger totals per breakdown."""
    return f"{team_prefix(team)}spend:by"


def team_spend_scopes(team: str) -> str:
    """Sorted set of the team's ledger scopes by their first call."""
    return f"{team_prefix(team)}spend:scopes"


def team_budget(team: str) -> str:
    """Hash: the team's cost cap: amount_usd, period (total | day | month), set_at, set_by."""
    return f"{team_prefix(team)}budget"


def team_paused(team: str) -> str:
    """Set of the team's batch ids that have items paused by a budget."""
    return f"{team_prefix(team)}paused"


def reservation(reservation_id: str) -> str:
    """Hash: one provider attempt's reservation (state, worst case, attribution)."""
    return f"{ROOT}:spend:r:{reservation_id}"


def reservations() -> str:
    """Sorted set of pending reservation ids by the time the reaper may settle them."""
    return f"{ROOT}:spend:pending"


def ratelimit(backend: str, base_url: str, model: str, part: str) -> str:
    """The shared rate limit of one provider account and model: its log, tokens or sum."""
    scope = hashlib.sha256(f"{backend}|{base_url}|{model}".encode()).hexdigest()[:16]
    return f"{ROOT}:rl:{scope}:{part}"


# -- webhooks, API key lifecycle, data lifecycle (security) ---------------------------


def webhook_secret(team: str) -> str:
    """Hash: the team's webhook signing secret and when it was made."""
    return f"{team_prefix(team)}whsecret"


def webhook_delivery(team: str, delivery_id: str) -> str:
    """Hash: one webhook delivery: batch, url, body, state, attempts, last status and error."""
    return f"{team_prefix(team)}wh:{delivery_id}"


def webhooks_due() -> str:
    """Sorted set of "team|delivery_id" by when the next attempt is due (all teams)."""
    return f"{ROOT}:webhooks:due"


def webhook_seq() -> str:
    """Counter: webhook delivery ids."""
    return f"{ROOT}:webhooks:seq"


def team_apikeys(team: str) -> str:
    """Sorted set of the team's API key hashes by creation time."""
    return f"{team_prefix(team)}keys"


def apikeys() -> str:
    """Sorted set of every API key hash by creation time (the CLI lists all teams)."""
    return f"{ROOT}:keys"


def apikey_ids() -> str:
    """Hash: key_id (shown to users) -> the key's sha256 (where its record lives)."""
    return f"{ROOT}:keyids"


def retention() -> str:
    """Hash: team -> retention period in seconds (finished batches older than it expire)."""
    return f"{ROOT}:retention"


def purges() -> str:
    """Sorted set of "team|batch_id|total" whose deleted items are still being removed."""
    return f"{ROOT}:purges"


def offline_job(job_id: str) -> str:
    """String: JSON of one provider batch in flight (its lines, reservations, items' leases)."""
    return f"{ROOT}:offline:{job_id}"


def offline_due() -> str:
    """Sorted set of offline job ids by their next poll time."""
    return f"{ROOT}:offline:due"
