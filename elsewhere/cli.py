"""The ``elsewhere`` command: thin argument parsing over the library, one subcommand per job.

Every user error (ValueError, OSError) becomes one line on stderr and exit status 2; set
ELSEWHERE_DEBUG=1 to see the traceback instead.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence

EXIT_USAGE = 2

Command = Callable[[argparse.Namespace], int | None]


def _generate(args: argparse.Namespace) -> None:
    from elsewhere.api import generate

    manifest = generate(args.out, protocols=args.protocols, size=args.size, seed=args.seed,
                        workers=args.workers, canvas=args.canvas, private=args.private,
                        secret_file=args.secret_file,
                        labels=args.labels, overwrite=args.overwrite, progress=not args.quiet)
    rows = sum(s["rows"] for p in manifest["protocols"].values() for s in p["splits"].values())
    print(f"wrote {rows} images in {len(manifest['protocols'])} protocols to {args.out}")


def _protocols(args: argparse.Namespace) -> None:
    from splits.registry import get_protocol, protocol_names

    protocols = [get_protocol(name) for name in protocol_names()]
    if args.json:
        listing = []
        for p in protocols:
            entry = {k: v for k, v in p.to_dict().items()
                     if k in ("name", "version", "description", "family", "held_out", "control")}
            entry["splits"] = {split: {size: p.split_size(split, size) for size in p.sizes}
                               for split in p.split_names}
            listing.append(entry)
        print(json.dumps(listing, indent=2))
        return
    width = max(len(p.name) for p in protocols)
    for p in protocols:
        control = " (control)" if p.control else ""
        print(f"{p.name:<{width}}  v{p.version}  {', '.join(p.held_out)}{control}: {p.title}")


def _publish(args: argparse.Namespace) -> None:
    from splits.publish import publish

    url = publish(args.folder, args.repo_id, private=args.private_repo)
    print(f"uploaded {args.folder} to {url}")


def _add_generate(commands) -> None:
    p = commands.add_parser("generate", help="write the benchmark dataset folder")
    p.add_argument("--out", required=True, help="dataset folder to create (empty or new)")
    p.add_argument("--protocols", default=None, help="comma-separated protocols (default: all)")
    p.add_argument("--size", default="small", help="tiny | small | full (default: small)")
    p.add_argument("--seed", type=int, default=0, help="whole number (default: 0)")
    p.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    p.add_argument("--canvas", type=int, default=None, help="override every protocol's canvas side")
    p.add_argument("--private", action="store_true",
                   help="hidden test set: seed from ELSEWHERE_SECRET or --secret-file, labels withheld")
    p.add_argument("--secret-file", default=None, help="file holding the operator secret")
    p.add_argument("--labels", default=None, help="with --private: where to write the labels file")
    p.add_argument("--overwrite", action="store_true", help="replace an existing elsewhere dataset")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=_generate)


def _add_protocols(commands) -> None:
    p = commands.add_parser("protocols", help="list the protocols of the suite")
    p.add_argument("--json", action="store_true", help="machine-readable listing")
    p.set_defaults(run=_protocols)


def _add_publish(commands) -> None:
    p = commands.add_parser("publish", help="upload a dataset folder to the Hugging Face Hub")
    p.add_argument("folder")
    p.add_argument("--repo-id", required=True, help="ORG/NAME of the dataset repo")
    p.add_argument("--private-repo", action="store_true", help="create the repo as private")
    p.set_defaults(run=_publish)


PARSERS = [_add_generate, _add_protocols, _add_publish]


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line, like every other error of the command."""

    def error(self, message: str):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="elsewhere", description="Can your network recognise it elsewhere?")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for add in PARSERS:
        add(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        status = args.run(args)
    except KeyboardInterrupt:
        print("elsewhere: interrupted", file=sys.stderr)
        return 130
    except (ValueError, OSError) as error:
        if os.environ.get("ELSEWHERE_DEBUG"):
            raise
        message = " ".join(str(error).split()) or type(error).__name__
        print(f"elsewhere {args.command}: error: {message}", file=sys.stderr)
        return EXIT_USAGE
    return int(status or 0)


if __name__ == "__main__":
    sys.exit(main())
