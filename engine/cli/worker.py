"""`python -m engine worker`: serve jobs as line-delimited JSON on stdin/stdout (engine/worker.py), for the add-on."""

from __future__ import annotations


def add_worker_parser(subparsers) -> None:
    p = subparsers.add_parser("worker", help="serve jobs as line-delimited JSON on stdin/stdout (for the add-on)")
    p.set_defaults(run=run_worker)


def run_worker(args) -> int:
    from ..worker import main as worker_main

    return worker_main()
