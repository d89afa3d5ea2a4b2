"""The ``graphc`` console script."""

from __future__ import annotations

import argparse
import sys


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="graphc", description="graphc: a symbolic graph compiler for deep learning")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("ops", help="list the primitives of the IR with their categories")
    return parser


def list_ops() -> int:
    from graphc.ir import REGISTRY

    for name, op in sorted(REGISTRY.items(), key=lambda item: (item[1].category, item[0])):
        grad = "vjp" if op.vjp else ("no grad" if op.nondifferentiable else "-")
        print(f"{op.category:12} {name:14} {grad:8} {op.doc}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "ops":
        return list_ops()
    return 1


if __name__ == "__main__":
    sys.exit(main())
