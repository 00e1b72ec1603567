"""The ``threadline`` command line.

    threadline [-c KEY=VALUE]... [--enable F]... [--disable F]... app-server [--listen stdio://]
    threadline app-server generate-json-schema [--experimental] --out DIR
    threadline generate-json-schema [--experimental] --out DIR
    threadline demo [--live]
    threadline features list

Global options may also follow the subcommand, as the official SDK and Codex allow. Nothing here writes to
stdout while the daemon serves; errors go to stderr with exit status 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from . import __version__

__all__ = ["main"]

SUPPORTED_LISTEN = ("stdio://",)


def _add_config_options(parser: argparse.ArgumentParser, *, prefix: str) -> None:
    parser.add_argument("-c", "--config", dest=f"{prefix}config", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config.toml key (the value is parsed as TOML)")
    parser.add_argument("--enable", dest=f"{prefix}enable", action="append", default=[], metavar="FEATURE",
                        help="enable a feature flag (same as -c features.FEATURE=true)")
    parser.add_argument("--disable", dest=f"{prefix}disable", action="append", default=[], metavar="FEATURE",
                        help="disable a feature flag (same as -c features.FEATURE=false)")


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="threadline", description="Codex app-server v2 compatible daemon.")
    parser.add_argument("--version", action="version", version=f"threadline {__version__}")
    _add_config_options(parser, prefix="")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    app = commands.add_parser("app-server", help="serve JSON-RPC over stdio")
    _add_config_options(app, prefix="sub_")
    app.add_argument("--listen", default="stdio://", help="transport URL (only stdio:// is supported)")
    app_commands = app.add_subparsers(dest="app_command", metavar="SUBCOMMAND")
    _add_schema_parser(app_commands)

    _add_schema_parser(commands)

    demo = commands.add_parser("demo", help="an offline demo against the built-in upstream simulator")
    _add_config_options(demo, prefix="sub_")
    demo.add_argument("--live", action="store_true", help="talk to OpenAI instead (needs OPENAI_API_KEY)")
    demo.add_argument("--turns", type=int, default=None, help="number of conversation turns")

    features = commands.add_parser("features", help="inspect feature flags")
    _add_config_options(features, prefix="sub_")
    features.add_argument("action", choices=["list"])
    return parser


def _add_schema_parser(commands: Any) -> None:
    schema = commands.add_parser("generate-json-schema", help="write the protocol's JSON Schema bundle")
    schema.add_argument("--out", required=True, help="output directory")
    schema.add_argument("--experimental", action="store_true", help="include experimental methods and fields")


def main(argv: Sequence[str] | None = None) -> int:
    parser = _build_parser()
    args = parser.parse_args(argv)
    overrides = [*args.config, *getattr(args, "sub_config", [])]
    enable = [*args.enable, *getattr(args, "sub_enable", [])]
    disable = [*args.disable, *getattr(args, "sub_disable", [])]

    if args.command == "generate-json-schema" or getattr(args, "app_command", None) == "generate-json-schema":
        from .schema_export import write_schema_bundle

        write_schema_bundle(args.out, experimental=args.experimental)
        return 0
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2

    from .config import ConfigError, Settings

    try:
        settings = Settings.load(overrides=overrides, enable=enable, disable=disable)
    except ConfigError as exc:
        sys.stderr.write(f"threadline: {exc}\n")
        return 2

    if args.command == "app-server":
        if args.listen not in SUPPORTED_LISTEN:
            sys.stderr.write(
                f"threadline: unsupported --listen URL {args.listen!r}; supported: {', '.join(SUPPORTED_LISTEN)}\n"
            )
            return 2
        from .app import run_stdio

        return run_stdio(settings)
    if args.command == "demo":
        from .demo import run_demo

        return run_demo(settings, live=args.live, turns=args.turns)
    if args.command == "features":
        from .features_cli import list_features

        return list_features(settings)
    parser.error(f"unknown command {args.command!r}")
    return 2
