"""Command line: ``b2bua serve``, ``b2bua check-config``.

Exit status 2 means the configuration (or a command-line value) is unusable;
the message names what is wrong.
"""

from __future__ import annotations

import argparse
import logging
import sys

from .config import DEFAULT, Config, ConfigError, load, with_listen

EXIT_CONFIG = 2


def _load(path: str | None, listen: list[str] | None) -> Config:
    config = load(path) if path else DEFAULT
    if listen:
        config = with_listen(config, listen)
    return config


def cmd_serve(args: argparse.Namespace) -> int:
    config = _load(args.config, args.listen)
    logging.basicConfig(
        level=config.server.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    import uvloop

    from .server import serve
    from .store import StoreError

    try:
        uvloop.run(serve(config))
    except StoreError as err:
        print(f"b2bua: {err}", file=sys.stderr)
        return 1
    except OSError as err:
        print(f"b2bua: cannot listen: {err}", file=sys.stderr)
        return 1
    return 0


def cmd_check_config(args: argparse.Namespace) -> int:
    config = load(args.file)
    print(f"{args.file}: ok ({len(config.server.listen)} listen addresses)")
    return 0


def cmd_registrations(args: argparse.Namespace) -> int:
    from .store import StoreError, load_registrations, open_store

    config = _load(args.config, None)
    try:
        db = open_store(config.server.data_dir)
    except StoreError as err:
        print(f"b2bua: {err}", file=sys.stderr)
        return 1
    rows = load_registrations(db)
    if not rows:
        print("no live registrations")
        return 0
    print(f"{'extension':<10} {'expires':>7}  {'source':<28} contact")
    for aor, contact, source, left, ua in rows:
        print(f"{aor:<10} {left:>6}s  {source:<28} {contact}" + (f"  ({ua})" if ua else ""))
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    config = _load(args.config, None)
    path = Path(config.server.data_dir) / "status.json"
    try:
        status = json.loads(path.read_text())
    except (OSError, ValueError):
        print(f"b2bua: no status in {path}: is the server running?", file=sys.stderr)
        return 1
    for key, value in status.items():
        print(f"{key}: {value}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="b2bua", description="SIP B2BUA with account codes and billing")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("serve", help="run the server")
    p.add_argument("--config", metavar="FILE", help="TOML configuration (default: embedded)")
    p.add_argument(
        "--listen",
        action="append",
        metavar="PROTO:HOST:PORT",
        help="udp:HOST:PORT or tcp:HOST:PORT (IPv6: udp:[::1]:5060); repeat; overrides the file",
    )
    p.set_defaults(func=cmd_serve)
    for name, func, text in (
        ("registrations", cmd_registrations, "list the live registrations"),
        ("status", cmd_status, "show the running server's counters"),
    ):
        p = sub.add_parser(name, help=text)
        p.add_argument("--config", metavar="FILE", help="TOML configuration (default: embedded)")
        p.set_defaults(func=func)
    p = sub.add_parser("check-config", help="check a configuration file and exit")
    p.add_argument("file", metavar="FILE")
    p.set_defaults(func=cmd_check_config)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except ConfigError as err:
        print(f"b2bua: configuration error: {err}", file=sys.stderr)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
