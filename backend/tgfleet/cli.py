"""The ``tgfleet`` command: ``serve`` runs the daemon, ``sandbox`` runs a local Telegram."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
from pathlib import Path
from types import FrameType
from typing import Any

from tgfleet import __version__
from tgfleet.errors import ConfigError, Conflict, InvalidInput, StoreError
from tgfleet.logging_setup import configure_logging
from tgfleet.settings import Settings, load_settings

log = logging.getLogger("tgfleet")


def _settings_from(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {}
    api: dict[str, Any] = {}
    if getattr(args, "host", None) is not None:
        api["host"] = args.host
    if getattr(args, "port", None) is not None:
        api["port"] = args.port
    if api:
        overrides["api"] = api
    if getattr(args, "data_dir", None) is not None:
        overrides["data_dir"] = args.data_dir
    if getattr(args, "sandbox", False):
        overrides["sandbox_enabled"] = True
    return load_settings(config_file=args.config, **overrides)


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    class DaemonServer(uvicorn.Server):
        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            app.state.stopping.set()  # the event streams end, so the drain can finish
            super().handle_exit(sig, frame)
            # uvicorn raises the signal again after its graceful shutdown (exit status 143);
            # a daemon that drained cleanly exits 0, as supervisors and compose expect.
            self._captured_signals.clear()

    from tgfleet.app import create_app

    settings = _settings_from(args)
    configure_logging(
        settings.logging.level,
        settings.data_dir,
        settings.logging.file_name,
        settings.logging.file_max_bytes,
        settings.logging.file_backups,
    )
    log.info("tgfleet %s starting; data in %s", __version__, settings.data_dir.resolve())
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=settings.api.host,
        port=settings.api.port,
        log_config=None,  # keep our handlers, including the secret mask
        access_log=False,
        # uvicorn turns SIGTERM/SIGINT into a graceful shutdown that runs our lifespan exit.
        timeout_graceful_shutdown=int(settings.pool.drain_timeout) + 5,
    )
    server = DaemonServer(config)
    server.run()
    return 0 if server.started else 1


def _sandbox(args: argparse.Namespace) -> int:
    from tgfleet.sandbox import serve_sandbox

    configure_logging("INFO")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(
            serve_sandbox(
                host=args.host,
                port=args.port,
                state_dir=args.state_dir,
                login_code=args.login_code,
                seed_file=args.seed,
            )
        )
    return 0


def _tokens(args: argparse.Namespace) -> int:
    from tgfleet.api import tokens

    settings = _settings_from(args)
    if args.tokens_command == "create":
        created = asyncio.run(tokens.create_token(settings, args.name))
        if created.generated_admin_password is not None:
            print(
                f"tgfleet: created user 'admin' with password {created.generated_admin_password} "
                "(shown once)",
                file=sys.stderr,
            )
        print(
            f"tgfleet: API token {created.token.name!r} created; it is shown only now. "
            "Send it as 'Authorization: Bearer <token>'.",
            file=sys.stderr,
        )
        # stdout holds the token alone, so that `TOKEN=$(tgfleet tokens create ...)` works
        print(created.plain)
        return 0
    if args.tokens_command == "revoke":
        revoked = asyncio.run(tokens.revoke_token(settings, args.name))
        if revoked is None:
            print(f"tgfleet: no live API token named {args.name!r}", file=sys.stderr)
            return 1
        print(f"revoked API token {revoked.name!r}")
        return 0
    for token in asyncio.run(tokens.list_tokens(settings)):
        state = f"revoked {token.revoked_at:%Y-%m-%d %H:%M}" if token.revoked_at else "live"
        print(f"{token.name}\tcreated {token.created_at:%Y-%m-%d %H:%M}\t{state}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tgfleet", description=__doc__)
    parser.add_argument("--version", action="version", version=f"tgfleet {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the daemon (REST API and pools)")
    serve.add_argument("--config", type=Path, default=None, help="TOML config file")
    serve.add_argument("--host", default=None, help="API bind address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=None, help="API port (default 8080)")
    serve.add_argument("--data-dir", type=Path, default=None, help="database, keys, logs")
    serve.add_argument(
        "--sandbox", action="store_true", help="run on an embedded Telegram sandbox (offline demo)"
    )
    serve.set_defaults(handler=_serve)

    token_cmds = commands.add_parser("tokens", help="create, revoke and list API tokens")
    token_sub = token_cmds.add_subparsers(dest="tokens_command", required=True)
    for name, text in (
        ("create", "create an API token and print it once"),
        ("revoke", "revoke the live API token with that name"),
        ("list", "list API tokens (names and dates, never the tokens)"),
    ):
        cmd = token_sub.add_parser(name, help=text)
        cmd.add_argument("--config", type=Path, default=None, help="TOML config file")
        cmd.add_argument("--data-dir", type=Path, default=None, help="the daemon's data dir")
        if name != "list":
            cmd.add_argument("--name", required=True, help="what uses the token, e.g. ci")
        cmd.set_defaults(handler=_tokens)

    sandbox = commands.add_parser("sandbox", help="run a local Telegram (MTProto) sandbox")
    sandbox.add_argument("--host", default="127.0.0.1")
    sandbox.add_argument("--port", type=int, default=0, help="0 picks a free port")
    sandbox.add_argument("--state-dir", type=Path, required=True, help="RSA key and world state")
    sandbox.add_argument("--login-code", default="12345", help="the login code of every phone")
    sandbox.add_argument("--seed", type=Path, default=None, help="JSON file of users and bots")
    sandbox.set_defaults(handler=_sandbox)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result: int = args.handler(args)
    except ConfigError as exc:
        print(f"tgfleet: {exc}", file=sys.stderr)
        return 2
    except (InvalidInput, Conflict, StoreError) as exc:
        print(f"tgfleet: {exc}", file=sys.stderr)
        return 1
    return result


if __name__ == "__main__":
    sys.exit(main())
