"""Command-line entry points; no logic beyond argument parsing."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gateway.settings import ConfigError, Settings, load_settings


def _settings(args: argparse.Namespace, **flags: object) -> Settings:
    try:
        return load_settings(args.config, flags=flags)
    except ConfigError as exc:
        print("files-gateway: invalid configuration:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  - {problem}", file=sys.stderr)
        raise SystemExit(2) from exc


def _serve(args: argparse.Namespace) -> int:
    from gateway.serve import serve

    serve(
        _settings(
            args, listen=args.listen, admin_listen=args.admin_listen, **{
                "upstream.url": args.upstream, "store": args.store, "workers": args.workers,
                "event_loop": args.event_loop,
            }
        )
    )
    return 0


def _sandbox(args: argparse.Namespace) -> int:
    from gateway.sandbox import run_sandbox

    host, _, port = args.listen.rpartition(":")
    run_sandbox(host or "127.0.0.1", int(port), Path(args.data_dir) if args.data_dir else None)
    return 0


def _purposes(args: argparse.Namespace) -> int:
    from gateway.matrix import render

    print(render(_settings(args).policy, args.format), end="")
    return 0


def _check_config(args: argparse.Namespace) -> int:
    settings = _settings(args)
    print(f"ok: policy {settings.policy.version}, {len(settings.policy.purposes)} purposes, "
          f"store {settings.store_url.split('://')[0]}, identity {settings.identity.mode}")
    return 0


def _backfill(args: argparse.Namespace) -> int:
    import asyncio

    from gateway.backfill import run_backfill

    return asyncio.run(run_backfill(_settings(args), args.org, args.owner, objects=args.objects))


def _backfill_objects(value: str) -> tuple[str, ...]:
    from gateway.backfill import COLLECTIONS

    names = tuple(dict.fromkeys(name.strip() for name in value.split(",") if name.strip()))
    unknown = [name for name in names if name not in COLLECTIONS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown: {', '.join(unknown) or '(none given)'}; known: {', '.join(COLLECTIONS)}"
        )
    return names


def _audit_verify(args: argparse.Namespace) -> int:
    from gateway.audit_verify import run_verify

    return run_verify(args.file)


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="files-gateway", description=__doc__)
    commands = root.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the gateway")
    serve.add_argument("--config", type=Path)
    serve.add_argument("--listen")
    serve.add_argument("--admin-listen")
    serve.add_argument("--upstream")
    serve.add_argument("--store")
    serve.add_argument("--workers", type=int)
    serve.add_argument("--event-loop", choices=("asyncio", "uvloop"))
    serve.set_defaults(func=_serve)

    sandbox = commands.add_parser("sandbox", help="run the local OpenAI Files API emulator")
    sandbox.add_argument("--listen", default="127.0.0.1:8089")
    sandbox.add_argument("--data-dir")
    sandbox.set_defaults(func=_sandbox)

    purposes = commands.add_parser("purposes", help="print the effective purpose matrix")
    purposes.add_argument("--config", type=Path)
    purposes.add_argument("--format", choices=("markdown", "json"), default="markdown")
    purposes.set_defaults(func=_purposes)

    check = commands.add_parser("check-config", help="validate config and policy")
    check.add_argument("--config", type=Path, required=True)
    check.set_defaults(func=_check_config)

    backfill = commands.add_parser("backfill", help="adopt files that exist upstream")
    backfill.add_argument("--config", type=Path, required=True)
    backfill.add_argument("--org", required=True)
    backfill.add_argument("--owner")
    backfill.add_argument(
        "--objects", type=_backfill_objects, default=("files",),
        help="what to adopt, comma-separated: files (the default), chat_completions, evals "
             "(with their runs), skills, videos, fine_tuning_jobs, fine_tuned_models, "
             "fine_tuned_checkpoints, agents, "
             "agent_sessions, agent_environments, agent_templates, agent_automations, vaults, "
             "chatkit_users, webhook_endpoints",
    )
    backfill.set_defaults(func=_backfill)

    audit = commands.add_parser("audit", help="audit log tools")
    audit_commands = audit.add_subparsers(dest="audit_command", required=True)
    verify = audit_commands.add_parser(
        "verify", help="check a JSONL audit file's hash chain; report the first broken link"
    )
    verify.add_argument("file", type=Path)
    verify.set_defaults(func=_audit_verify)
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
