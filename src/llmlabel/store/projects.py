"""Projects and their immutable guideline/prompt versions, per team.

A version's text is stored once per team under its sha256 (`version_content`);
a project maps version names to hashes (and hashes back to names, so the same
content is never stored under two names). The active pair, the stack rollback
pops and the audited history are per project. Every multi-key change runs in
one MULTI/EXEC under WATCH, so two operators racing never leave a half-made
project or two versions with one name.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any, TypeVar, cast

import redis
from redis.client import Pipeline

from llmlabel.errors import ConflictError, NotFoundError, VersionConflictError
from llmlabel.review_priority import ReviewOrder
from llmlabel.store import keys
from llmlabel.store.base import AUDIT_MAX, StoreBase
from llmlabel.store.models import AuditEvent
from llmlabel.store.project_models import KINDS, ActivePair, Kind, ProjectInfo, VersionInfo

__all__ = ["ProjectsMixin"]

_HISTORY_MAX = 1000
_AUTO_NAME = re.compile(r"^v(\d+)$")
T = TypeVar("T")


def _next_name(existing: list[str]) -> str:
    """v{N+1} after the highest vN in use (names given explicitly are skipped over)."""
    numbers = [int(m.group(1)) for name in existing if (m := _AUTO_NAME.match(name))]
    return f"v{max(numbers, default=0) + 1}"


def _info(kind: Kind, version: str, raw: str) -> VersionInfo:
    return VersionInfo(kind=kind, version=version, **json.loads(raw))


class ProjectsMixin(StoreBase):
    """Create projects, add versions, activate, roll back; read versions and their text."""

    # -- helpers -----------------------------------------------------------------------

    def _watched(self, watch: list[str], body: Callable[[Pipeline], T]) -> T:
        """Run `body` under WATCH on `watch`, retrying when another client changed them."""
        while True:
            with self.redis.pipeline(transaction=True) as pipe:
                try:
                    pipe.watch(*watch)  # type: ignore[no-untyped-call]
                    return body(pipe)
                except redis.WatchError:
                    continue

    @staticmethod
    def _push_history(pipe: Pipeline, team: str, name: str, event: AuditEvent) -> None:
        payload = event.model_dump_json()
        pipe.lpush(keys.project_history(team, name), payload)
        pipe.ltrim(keys.project_history(team, name), 0, _HISTORY_MAX - 1)
        pipe.lpush(keys.team_audit(team), payload)
        pipe.ltrim(keys.team_audit(team), 0, AUDIT_MAX - 1)

    def _event(self, actor: str, action: str, **fields: Any) -> AuditEvent:
        return AuditEvent(at=self._now(), actor=actor, action=action, **fields)

    # -- content -----------------------------------------------------------------------

    def version_text(self, team: str, kind: Kind, sha256: str) -> str:
        """The text stored under a hash; NotFoundError when this team has no such content."""
        text = self._text(self.redis.get(keys.version_content(team, kind, sha256)))
        if text is None:
            raise NotFoundError(f"no {kind} content {sha256[:12]} for team {team!r}")
        return text

    # -- projects ----------------------------------------------------------------------

    def create_project(
        self,
        team: str,
        name: str,
        *,
        task: str,
        versions: list[tuple[Kind, str, str, str]],
        active: tuple[str, str],
        actor: str,
        model_profile: str | None = None,
        description: str = "",
        default: bool = False,
        pinned: bool = True,
        source: str = "api",
    ) -> ProjectInfo:
        """Create a project with its first versions ([(kind, version, sha256, text)]) and active pair.

        The texts are stored by hash in the same transaction. ConflictError when the
        team already has a project of that name.
        """
        team = keys.check_team(team)
        project_key = keys.project(team, name)
        now = self._now()
        gv, pv = active

        def body(pipe: Pipeline) -> None:
            if pipe.exists(project_key):
                raise ConflictError(f"your team already has a project named {name!r}")
            pipe.multi()
            pipe.hset(project_key, mapping={
                "task": task, "profile": model_profile or "", "description": description,
                "default": "1" if default else "", "created_at": repr(now), "created_by": actor,
                "gv": gv, "pv": pv, "pinned": "1" if pinned else "",
            })
            for kind, version, sha256, text in versions:
                pipe.set(keys.version_content(team, kind, sha256), text, nx=True)
                info = {"sha256": sha256, "created_at": now, "created_by": actor, "source": source}
                pipe.hset(keys.project_versions(team, name, kind), version, json.dumps(info))
                pipe.hset(keys.project_hashes(team, name, kind), sha256, version)
            pipe.zadd(keys.projects(team), {name: now})
            pipe.lpush(keys.project_stack(team, name), f"{gv}\t{pv}")
            after = {"project": name, "task": task, "guideline_version": gv, "prompt_version": pv,
                     "model_profile": model_profile}
            self._push_history(pipe, team, name, self._event(actor, "project.create", after=after))
            pipe.sadd(keys.teams(), team)
            pipe.execute()

        self._watched([project_key], body)
        return self.get_project(team, name)

    def get_project(self, team: str, name: str) -> ProjectInfo:
        """One project with its version names; NotFoundError if the team has none of that name."""
        fields = self._hash(keys.project(team, name)) if keys.NAME_RE.match(name) else {}
        if "task" not in fields:
            raise NotFoundError(f"no project {name!r} in your team")
        with self.redis.pipeline(transaction=False) as pipe:
            for kind in KINDS:
                pipe.hgetall(keys.project_versions(team, name, kind))
            guidelines, prompts = pipe.execute()
        return ProjectInfo(
            team=team,
            name=name,
            task=fields["task"],
            model_profile=fields.get("profile") or None,
            description=fields.get("description", ""),
            default=bool(fields.get("default")),
            created_at=float(fields["created_at"]),
            created_by=fields.get("created_by", ""),
            active=ActivePair(
                guideline_version=fields["gv"], prompt_version=fields["pv"],
                pinned=bool(fields.get("pinned")),
            ),
            guideline_versions=_ordered(guidelines),
            prompt_versions=_ordered(prompts),
            review_order=ReviewOrder(fields.get("review_order") or ReviewOrder.AGE),
        )

    def list_projects(self, team: str) -> list[ProjectInfo]:
        """The team's projects in creation order."""
        names = self._strs(self.redis.zrange(keys.projects(team), 0, -1))
        out = []
        for name in names:
            try:
                out.append(self.get_project(team, name))
            except NotFoundError:
                continue
        return out

    # -- versions ----------------------------------------------------------------------

    def add_versions(
        self,
        team: str,
        name: str,
        versions: dict[Kind, tuple[str, str, str | None]],
        *,
        actor: str,
        source: str = "api",
    ) -> dict[Kind, tuple[str, bool]]:
        """Add versions ({kind: (sha256, text, name or None)}) in one step; {kind: (name, created)}.

        Content a kind already holds returns that version's name (created False);
        without a name the next free vN is taken. A name already holding other
        content raises VersionConflictError, and then nothing at all is written.
        """
        project_key = keys.project(team, name)
        watched = [project_key] + [
            k for kind in versions
            for k in (keys.project_versions(team, name, kind), keys.project_hashes(team, name, kind))
        ]

        def body(pipe: Pipeline) -> dict[Kind, tuple[str, bool]]:
            if not pipe.exists(project_key):
                raise NotFoundError(f"no project {name!r} in your team")
            outcome: dict[Kind, tuple[str, bool]] = {}
            for kind, (sha256, _text, wanted) in versions.items():
                existing = self._text(pipe.hget(keys.project_hashes(team, name, kind), sha256))
                if existing is not None:
                    outcome[kind] = (existing, False)
                    continue
                # HGETALL, not HKEYS: the documented Redis ACL grants the former only.
                stored = cast("dict[str, str]", pipe.hgetall(keys.project_versions(team, name, kind)))
                names = list(stored)
                chosen = wanted or _next_name(names)
                if chosen in names:
                    raise VersionConflictError(
                        f"{kind} version {chosen!r} of project {name!r} already holds other "
                        "content; versions are immutable: push the change as a new version"
                    )
                outcome[kind] = (chosen, True)
            if not any(created for _, created in outcome.values()):
                return outcome
            pipe.multi()
            for kind, (chosen, created) in outcome.items():
                if not created:
                    continue
                sha256, text, _ = versions[kind]
                pipe.set(keys.version_content(team, kind, sha256), text, nx=True)
                info = {"sha256": sha256, "created_at": self._now(), "created_by": actor,
                        "source": source}
                pipe.hset(keys.project_versions(team, name, kind), chosen, json.dumps(info))
                pipe.hset(keys.project_hashes(team, name, kind), sha256, chosen)
                after = {"project": name, "kind": kind, "version": chosen, "sha256": sha256}
                self._push_history(
                    pipe, team, name, self._event(actor, "version.create", after=after)
                )
            pipe.execute()
            return outcome

        return self._watched(watched, body)

    def version_info(self, team: str, name: str, kind: Kind, version: str) -> VersionInfo:
        """A version's hash and provenance; NotFoundError naming the known versions."""
        raw = self._text(self.redis.hget(keys.project_versions(team, name, kind), version))
        if raw is None:
            self.get_project(team, name)
            have = _ordered(self._hash(keys.project_versions(team, name, kind)))
            raise NotFoundError(
                f"project {name!r} has no {kind} version {version!r} "
                f"(known: {', '.join(have) or 'none'})"
            )
        return _info(kind, version, raw)

    def list_versions(self, team: str, name: str, kind: Kind) -> list[VersionInfo]:
        """Every version of one kind, oldest first."""
        rows = self._hash(keys.project_versions(team, name, kind))
        infos = [_info(kind, version, raw) for version, raw in rows.items()]
        return sorted(infos, key=lambda i: (i.created_at, len(i.version), i.version))

    # -- activation --------------------------------------------------------------------

    def activate_project(
        self,
        team: str,
        name: str,
        *,
        guideline_version: str,
        prompt_version: str,
        actor: str,
        pinned: bool = True,
        action: str = "version.activate",
    ) -> ProjectInfo:
        """Make a version pair active (kept in the rollback stack and the audited history)."""
        project_key = keys.project(team, name)

        def body(pipe: Pipeline) -> None:
            gv, pv = self._strs(pipe.hmget(project_key, ["gv", "pv"]))
            if gv is None:
                raise NotFoundError(f"no project {name!r} in your team")
            pair: tuple[tuple[Kind, str], ...] = (
                ("guideline", guideline_version), ("prompt", prompt_version)
            )
            for kind, version in pair:
                if not pipe.hexists(keys.project_versions(team, name, kind), version):
                    self.version_info(team, name, kind, version)  # raises, naming known ones
            pipe.multi()
            pipe.hset(project_key, mapping={"gv": guideline_version, "pv": prompt_version,
                                            "pinned": "1" if pinned else ""})
            pipe.lpush(keys.project_stack(team, name), f"{guideline_version}\t{prompt_version}")
            pipe.ltrim(keys.project_stack(team, name), 0, _HISTORY_MAX - 1)
            event = self._event(
                actor, action,
                before={"project": name, "guideline_version": gv, "prompt_version": pv},
                after={"project": name, "guideline_version": guideline_version,
                       "prompt_version": prompt_version},
            )
            self._push_history(pipe, team, name, event)
            pipe.execute()

        self._watched([project_key], body)
        return self.get_project(team, name)

    def rollback_project(self, team: str, name: str, *, actor: str) -> ProjectInfo:
        """Re-activate the pair active before the last activation; ConflictError if there is none."""
        project_key = keys.project(team, name)
        stack_key = keys.project_stack(team, name)

        def body(pipe: Pipeline) -> None:
            gv, pv = self._strs(pipe.hmget(project_key, ["gv", "pv"]))
            if gv is None:
                raise NotFoundError(f"no project {name!r} in your team")
            below = self._text(pipe.lindex(stack_key, 1))
            if below is None:
                raise ConflictError(
                    f"project {name!r} has no earlier activated version pair to roll back to"
                )
            back_gv, _, back_pv = below.partition("\t")
            pipe.multi()
            pipe.lpop(stack_key)
            pipe.hset(project_key, mapping={"gv": back_gv, "pv": back_pv, "pinned": "1"})
            event = self._event(
                actor, "version.rollback",
                before={"project": name, "guideline_version": gv, "prompt_version": pv},
                after={"project": name, "guideline_version": back_gv, "prompt_version": back_pv},
            )
            self._push_history(pipe, team, name, event)
            pipe.execute()

        self._watched([project_key, stack_key], body)
        return self.get_project(team, name)

    def set_review_order(
        self, team: str, name: str, order: ReviewOrder, *, actor: str
    ) -> ProjectInfo:
        """Set how the project's items leave the review queue (audited).

        Items enqueue by it from now on: the ones already waiting keep their place.
        """
        project_key = keys.project(team, name)

        def body(pipe: Pipeline) -> None:
            before = self._text(pipe.hget(project_key, "review_order"))
            if not pipe.exists(project_key):
                raise NotFoundError(f"no project {name!r} in your team")
            pipe.multi()
            pipe.hset(project_key, "review_order", order.value)
            event = self._event(
                actor, "project.review_order",
                before={"project": name, "review_order": before or ReviewOrder.AGE.value},
                after={"project": name, "review_order": order.value},
            )
            self._push_history(pipe, team, name, event)
            pipe.execute()

        self._watched([project_key], body)
        return self.get_project(team, name)

    def save_relabel_link(self, team: str, batch_id: str, link_json: str) -> None:
        """Remember what a relabel batch relabels (JSON made by `projects.relabel`)."""
        self.redis.set(keys.relabel(team, batch_id), link_json)

    def relabel_link(self, team: str, batch_id: str) -> str:
        """The JSON link of a relabel batch; NotFoundError for any other batch."""
        text = self._text(self.redis.get(keys.relabel(team, batch_id)))
        if text is None or not keys.is_batch_id(batch_id):
            raise NotFoundError(f"batch {batch_id} is not a relabel of another batch")
        return text

    def project_history(self, team: str, name: str, *, limit: int = 200) -> list[AuditEvent]:
        """A project's creation, versions, activations and rollbacks, newest first."""
        self.get_project(team, name)
        rows = self.redis.lrange(keys.project_history(team, name), 0, max(limit, 1) - 1)
        return [AuditEvent.model_validate_json(row) for row in rows]


def _ordered(rows: dict[str, str]) -> list[str]:
    """Version names in creation order (ties: v1 < v2 < v10)."""
    created = {name: json.loads(raw)["created_at"] for name, raw in rows.items()}
    return sorted(created, key=lambda n: (created[n], len(n), n))
