"""`callcue play|status|cancel|tail`: the subcommands, their options, their output and exit status.

Exit status: 0 ok; 1 the API answered an error; 2 usage; 3 callcue cannot be reached; 4 when
``play --wait`` saw the sequence end other than completed. Errors go to stderr as
``callcue: <detail> (<code>)``, the problem details' own words.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

from service.client import render
from service.client.http import DEFAULT_URL, ApiClient, ApiError, Unreachable, check_base_url
from service.client.plan import PROMPT_OPTIONS_HELP, add_plan_arguments, build_plan

EXIT_API = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
EXIT_NOT_COMPLETED = 4
EXIT_INTERRUPTED = 130  # what a shell reports for a command stopped by SIGINT

# The sequence statuses after which nothing changes any more (service.model.SeqStatus.terminal).
# Listed here, not imported: the client depends only on the API.
ENDED = frozenset({"completed", "failed", "canceled", "timedOut"})

Command = Callable[[ApiClient, argparse.Namespace, TextIO], int]


def _add_connection_options(p: argparse.ArgumentParser) -> None:
    # Added last to each subcommand (not as a parent parser), so that its own options list first in --help.
    group = p.add_argument_group("connection and output")
    group.add_argument("--url", default=None, help=f"callcue's base URL (env CALLCUE_URL; default {DEFAULT_URL})")
    group.add_argument(
        "--api-key", default=None, help="API key (env CALLCUE_API_KEY, better: a command line is visible to others)"
    )
    group.add_argument("--json", action="store_true", help="print the API's JSON instead of tables")


def _print_json(body: Any, out: TextIO) -> None:
    out.write(json.dumps(body, indent=2) + "\n")


def _wait(api: ApiClient, sid: str, out: TextIO, interval: float) -> dict[str, Any]:
    """Poll the sequence until it ends; on a terminal, keep one status line up to date meanwhile."""
    live = out.isatty()
    started = time.monotonic()
    try:
        while True:
            seq = api.sequence(sid)
            if seq["status"] in ENDED:
                return seq
            if live:
                # A line wider than the terminal wraps, and "\r" would then rewrite only its last part.
                width = max(shutil.get_terminal_size().columns - 1, 20)
                out.write("\r\x1b[K" + render.progress(seq, time.monotonic() - started)[:width])
                out.flush()
            time.sleep(interval)
    finally:
        if live:
            out.write("\r\x1b[K")
            out.flush()


def play(api: ApiClient, args: argparse.Namespace, out: TextIO) -> int:
    answer = api.start_sequence(args.call, build_plan(args))
    sid: str = answer["sequenceId"]
    if not args.wait:
        if args.json:
            _print_json(answer, out)
        else:
            out.write(sid + "\n")  # alone on its line, so that `sid=$(callcue play ...)` works
        return 0
    if not args.json:
        out.write(sid + "\n")
        out.flush()
    try:
        seq = _wait(api, sid, out, args.interval)
    except KeyboardInterrupt:
        print(f"callcue: stopped waiting; {sid} goes on (`callcue cancel {sid}` stops it)", file=sys.stderr)
        return EXIT_INTERRUPTED
    if args.json:
        _print_json(seq, out)
    else:
        out.write(render.sequence_view(seq) + "\n")
    return 0 if seq["status"] == "completed" else EXIT_NOT_COMPLETED


def status(api: ApiClient, args: argparse.Namespace, out: TextIO) -> int:
    seq = api.sequence(args.sequence)
    if args.json:
        _print_json(seq, out)
    else:
        out.write(render.sequence_view(seq) + "\n")
    return 0


def cancel(api: ApiClient, args: argparse.Namespace, out: TextIO) -> int:
    answer = api.cancel(args.sequence)
    if args.json:
        _print_json(answer, out)
    else:
        out.write(f"{answer['sequenceId']} {answer['status']}\n")
    return 0


def tail(api: ApiClient, args: argparse.Namespace, out: TextIO) -> int:
    """Print the call's timeline, then each new entry as it comes (one JSON object per line with --json)."""
    since = 0
    t0: float | None = None
    waiting_said = False
    try:
        while True:
            try:
                call = api.call(args.call, since)
            except ApiError as exc:
                # Following a call that has not started yet is normal: `tail` first, then `play`.
                if exc.status != 404 or args.until_idle:
                    raise
                if not waiting_said:
                    print(f"callcue: no sequence on {args.call} yet; waiting for one", file=sys.stderr)
                    waiting_said = True
                time.sleep(args.interval)
                continue
            for entry in call["timeline"]:
                if args.json:
                    out.write(json.dumps(entry, separators=(",", ":")) + "\n")
                else:
                    t0 = entry.get("at", 0.0) if t0 is None else t0
                    out.write(render.timeline_line(entry, t0) + "\n")
            out.flush()
            since = call["timelineNext"]
            if args.until_idle and call["activeSequenceId"] is None and not call["queuedSequenceIds"]:
                return 0
            time.sleep(args.interval)
    except KeyboardInterrupt:
        return 0  # Ctrl-C is how a follow ends: not an error


def _run(command: Command) -> Callable[[argparse.Namespace], int]:
    """The subcommand's `func`: settings from options or environment, errors to stderr as exit codes."""

    def run(args: argparse.Namespace) -> int:
        url = args.url or os.environ.get("CALLCUE_URL") or DEFAULT_URL
        key = args.api_key or os.environ.get("CALLCUE_API_KEY") or None
        try:
            check_base_url(url)
        except ValueError as exc:
            print(f"callcue: {exc}", file=sys.stderr)
            return EXIT_USAGE
        try:
            with ApiClient(url, key) as api:
                return command(api, args, sys.stdout)
        except ApiError as exc:
            print(f"callcue: {exc.detail} ({exc.code})", file=sys.stderr)
            return EXIT_API
        except Unreachable as exc:
            print(f"callcue: {exc}", file=sys.stderr)
            return EXIT_UNREACHABLE
        except KeyboardInterrupt:
            return EXIT_INTERRUPTED  # Ctrl-C during a request: no traceback for what the user asked for
        except BrokenPipeError:
            # The reader left (`callcue tail CALL | head`): stop quietly. Python would still report the
            # failed flush of stdout at exit, so stdout now points at /dev/null.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 0

    return run


def add_client_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    raw = argparse.RawDescriptionHelpFormatter

    p = sub.add_parser("play", formatter_class=raw, epilog=PROMPT_OPTIONS_HELP,
                       help="start a sequence of prompts on a call; prints its sequence id",
                       description="Start prompts on a call (POST /v1/calls/CALL/sequences).")  # fmt: skip
    add_plan_arguments(p)
    p.add_argument("--wait", action="store_true", help="wait for the sequence to end and print its final status")
    p.add_argument("--interval", type=float, default=0.25, help=argparse.SUPPRESS)
    _add_connection_options(p)
    p.set_defaults(func=_run(play))

    p = sub.add_parser("status", help="a sequence's status, with each play and its result")
    p.add_argument("sequence", metavar="SEQUENCE", help="a sequence id (sq_...)")
    _add_connection_options(p)
    p.set_defaults(func=_run(status))

    p = sub.add_parser("cancel", help="cancel a sequence (what is playing stops)")
    p.add_argument("sequence", metavar="SEQUENCE", help="a sequence id (sq_...)")
    _add_connection_options(p)
    p.set_defaults(func=_run(cancel))

    p = sub.add_parser("tail", help="print a call's timeline, and follow it until Ctrl-C",
                       description="Print a call's timeline (GET /v1/calls/CALL), then each new entry as it comes. "
                                   "With --json, one JSON object per entry and line, as the API gives it.")  # fmt: skip
    p.add_argument("call", metavar="CALL", help="the callConnectionId")
    p.add_argument("--until-idle", action="store_true",
                   help="stop once the call has no running or queued sequence (for scripts and tests)")  # fmt: skip
    p.add_argument("--interval", type=float, default=0.25, help="seconds between polls (default 0.25)")
    _add_connection_options(p)
    p.set_defaults(func=_run(tail))
