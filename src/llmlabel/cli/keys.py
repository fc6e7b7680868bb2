"""`llmlabel keys create|list|revoke|rotate`: API keys of every team, straight in Redis.

The CLI is the service operator's tool (it reaches Redis itself), so unlike
`/v1/keys` it sees and manages the keys of all teams; `--team` narrows a
listing. Plain keys are printed once, as the last line of `create` and `rotate`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from llmlabel.cli import app
from llmlabel.cli.service import resolved_settings
from llmlabel.store import Role, Store
from llmlabel.store.apikeys import ApiKey

__all__ = ["keys_app"]

_out = Console(soft_wrap=True)
_err = Console(stderr=True)
_DAY_S = 86_400.0

keys_app = typer.Typer(help="Manage API keys (all teams).", no_args_is_help=True)
app.add_typer(keys_app, name="keys")

ExpiresOpt = Annotated[
    float | None, typer.Option(min=0.001, help="Refuse the key after this many days")
]


def _store() -> Store:
    return Store.from_settings(resolved_settings())


def _when(ts: float | None) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%d %H:%M") if ts else "-"


@keys_app.command("create")
def keys_create(
    team: Annotated[str, typer.Option(help="Team the key belongs to")],
    role: Annotated[Role, typer.Option(help="submitter | reviewer | operator | admin")],
    name: Annotated[
        str | None, typer.Option(help="Who or what uses the key (shown in audit logs)")
    ] = None,
    expires_in_days: ExpiresOpt = None,
) -> None:
    """Create an API key; the key is printed once, as the last line."""
    store = _store()
    expires_at = store.now() + expires_in_days * _DAY_S if expires_in_days else None
    key = store.create_api_key(team=team, role=role, name=name, expires_at=expires_at,
                               created_by="cli")
    article = "an" if role.value[0] in "aeiou" else "a"
    until = f", valid until {_when(expires_at)} UTC" if expires_at else ""
    _err.print(f"created {article} {role.value} key for team {team!r}{until}; "
               "it is shown only now:")
    print(key)


@keys_app.command("list")
def keys_list(
    team: Annotated[str | None, typer.Option(help="Only this team's keys")] = None,
    include_revoked: Annotated[bool, typer.Option("--all", help="Also revoked keys")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line")] = False,
) -> None:
    """List keys (never the keys themselves): id, team, role, name, last use, expiry, state."""
    store = _store()
    found: list[ApiKey] = []
    cursor: str | None = None
    while True:
        page, cursor = store.list_keys(team, cursor=cursor, limit=500,
                                       include_revoked=include_revoked)
        found.extend(page)
        if cursor is None:
            break
    if as_json:
        for key in found:
            print(key.model_dump_json())
        return
    table = Table("key_id", "team", "role", "name", "created", "last used", "expires", "state")
    for key in found:
        table.add_row(key.key_id, key.team, key.role.value, key.name or "-",
                      _when(key.created_at), _when(key.last_used_at), _when(key.expires_at),
                      key.state)
    _out.print(table)


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="The key_id `keys list` shows")],
) -> None:
    """Revoke a key: every request with it is refused from the next one on."""
    key = _store().revoke_key(None, key_id, actor="cli")
    _err.print(f"revoked {key.key_id} ({key.role.value} key of team {key.team!r})")


@keys_app.command("rotate")
def keys_rotate(
    key_id: Annotated[str, typer.Argument(help="The key_id `keys list` shows")],
    grace_s: Annotated[
        float, typer.Option(min=0, help="Seconds the old key keeps working (default: none)")
    ] = 0.0,
    expires_in_days: ExpiresOpt = None,
) -> None:
    """Replace a key with a new one of the same team, role and name; prints the new key once."""
    store = _store()
    expires_at = store.now() + expires_in_days * _DAY_S if expires_in_days else None
    plain, new = store.rotate_key(None, key_id, actor="cli", grace_s=grace_s,
                                  expires_at=expires_at)
    ends = f"in {grace_s:.0f} s" if grace_s else "now"
    _err.print(f"{key_id} stops {ends}; its replacement {new.key_id} is shown only now:")
    print(plain)
