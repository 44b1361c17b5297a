"""``patron serve`` (the service) and ``patron keys`` (its API keys).

FastAPI and uvicorn are imported inside the commands: the rest of the CLI starts without them.
"""

from __future__ import annotations

import os
from typing import Annotated, Any

import typer

from patron.cli._common import JsonOpt, _emit_json, app, err, out
from patron.cli.interact import StoreOpt, _store_url
from patron.errors import UsageError

__all__ = ["keys_app", "serve_cmd"]

keys_app = typer.Typer(help="API keys of the service: create, list, revoke.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


def _log_config(access_log: bool) -> dict[str, Any]:
    """Uvicorn's logging, plus Patron's access log (operations, never personal data)."""
    handler = {"class": "logging.StreamHandler", "stream": "ext://sys.stderr", "formatter": "f"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"f": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
        "handlers": {"stderr": handler},
        "loggers": {
            "uvicorn": {"handlers": ["stderr"], "level": "INFO"},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
            "patron.api": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
            "patron.api.access": {
                "handlers": ["stderr"] if access_log else [],
                "level": "INFO" if access_log else "WARNING",
                "propagate": False,
            },
        },
    }


@app.command("serve")
def serve_cmd(
    store: StoreOpt = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
    workers: Annotated[
        int, typer.Option(min=1, max=64, help="Worker processes (rate limits are per worker).")
    ] = 1,
    threads: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=256,
            help="Threads per worker that run requests (default: 1 on SQLite, 8 on PostgreSQL).",
        ),
    ] = None,
    access_log: Annotated[
        bool, typer.Option(help="Log one line per request (operation, status, time, key id).")
    ] = True,
) -> None:
    """Serve the REST API over the operational store (OpenAPI at /docs)."""
    import uvicorn

    from patron.api import ApiSettings, create_app

    url = _store_url(store)
    os.environ["PATRON_STORE"] = url  # the workers build their settings from the environment
    if threads is not None:
        os.environ["PATRON_API_THREADS"] = str(threads)
    settings = ApiSettings.load(store=url)
    application = create_app(settings)  # fails here, with the fix, on a store not upgraded
    err.print(
        f"Serving Patron's API on http://{host}:{port} (OpenAPI at /docs) over {url} "
        f"with {workers} worker(s). Ctrl+C stops it.",
        markup=False,
    )
    if workers == 1:
        uvicorn.run(
            application,
            host=host,
            port=port,
            log_config=_log_config(access_log),
            access_log=False,
            server_header=False,
        )
        return
    application.state.store.close()
    uvicorn.run(
        "patron.api.app:app_from_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=_log_config(access_log),
        access_log=False,
        server_header=False,
    )


def _secret(store: Any) -> bytes:
    from patron.api.settings import ApiSettings
    from patron.store.keys import server_secret

    return server_secret(store, ApiSettings.load().api_secret)


@keys_app.command("create")
def keys_create_cmd(
    role: Annotated[str, typer.Option(help="admin, manager, agent or integration.")],
    name: Annotated[str, typer.Option(help="Who or what uses the key.")],
    expires_days: Annotated[
        int | None, typer.Option(min=1, max=3650, help="Days until it expires (default: never).")
    ] = None,
    store: StoreOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Create an API key; it is shown this once (the store keeps only its HMAC)."""
    from datetime import timedelta

    from patron.store import open_store
    from patron.store.keys import create_key

    with open_store(_store_url(store)) as handle:
        lifetime = None if expires_days is None else timedelta(days=expires_days)
        created = create_key(handle, _secret(handle), name=name, role=role, expires_in=lifetime)
    if json_out:
        _emit_json({"key": created.key, "role": created.record.role, "name": created.record.name})
        return
    out.print(created.key, markup=False)
    err.print(
        f"Key {created.record.id} ({created.record.role}, {created.record.name!r}) created. "
        "It is shown only now: keep it safe; send it as `Authorization: Bearer KEY`.",
        markup=False,
    )


@keys_app.command("list")
def keys_list_cmd(store: StoreOpt = None, json_out: JsonOpt = False) -> None:
    """List the keys (id, name, role, first characters, state; never the keys)."""
    from patron.store import open_store
    from patron.store.keys import list_keys

    with open_store(_store_url(store)) as handle:
        found = list_keys(handle)
    if json_out:
        _emit_json([k.to_dict() for k in found])
        return
    if not found:
        out.print("No API keys yet; create one with `patron keys create --role ROLE --name NAME`.")
        return
    for k in found:
        row = k.to_dict()
        out.print(
            f"{k.id:>5}  {k.role:<11} {k.prefix}…  {row['state']:<8} {row['created_at']}  {k.name}",
            markup=False,
        )


@keys_app.command("revoke")
def keys_revoke_cmd(
    key_id: Annotated[int, typer.Argument(help="The key's id (`patron keys list`).")],
    store: StoreOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Revoke a key: the service refuses it from the next request on."""
    from patron.store.keys import revoke_key

    if key_id < 1:
        raise UsageError("A key id is a positive number; `patron keys list` shows them.")
    from patron.store import open_store

    with open_store(_store_url(store)) as handle:
        record = revoke_key(handle, key_id)
    if json_out:
        _emit_json(record.to_dict())
        return
    out.print(f"Key {record.id} ({record.role}, {record.name!r}) is revoked.", markup=False)
