"""`callcue play` options → the sequence plan the API takes.

Per-prompt options (``--repeat``, ``--pause-ms``, ``--loop``) bind by position, the way ffmpeg's
per-file options do: after a ``--prompt`` they apply to that prompt; before the first ``--prompt``
they are the default for every prompt that does not set its own. Argparse calls actions in
command-line order, so two small actions can keep track of "the prompt being described".
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

PROMPT_OPTIONS_HELP = """\
prompt options bind by position:
  --repeat, --pause-ms and --loop after a --prompt apply to that prompt only;
  given before the first --prompt they are the default for every prompt.

examples:
  callcue play call-1 --prompt https://cdn/welcome.wav
  callcue play call-1 --pause-ms 300 --prompt https://cdn/a.wav --prompt https://cdn/b.wav --repeat 2
      a.wav once, b.wav twice, 300 ms of silence after every play
  callcue play call-1 --prompt https://cdn/hold.wav --loop --deadline 120 --wait
      hold music until canceled or for two minutes; wait for the end

exit status: 0 ok; 1 the API refused or failed; 2 usage; 3 callcue cannot be reached;
  with --wait, 4 when the sequence ended other than completed (failed, canceled, timedOut).
"""

_DEFAULTS = "prompt_defaults"


def _where(namespace: argparse.Namespace) -> str:
    prompts = getattr(namespace, "prompts", [])
    return f"prompt {len(prompts)}" if prompts else "all prompts"


class PromptAction(argparse.Action):
    """``--prompt URI``: starts a new prompt; the per-prompt options that follow describe it."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        prompts: list[dict[str, Any]] = list(getattr(namespace, "prompts", []))
        prompts.append({"audioFileUri": values})
        namespace.prompts = prompts


class PromptOption(argparse.Action):
    """A per-prompt field (``dest`` is its name in the API): to the last ``--prompt``, or the default."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        value = self.const if self.nargs == 0 else values
        prompts: list[dict[str, Any]] = getattr(namespace, "prompts", [])
        target: dict[str, Any] = prompts[-1] if prompts else getattr(namespace, _DEFAULTS, {})
        if self.dest in target:
            # Silently keeping the last one would hide a typo in a long command line.
            raise argparse.ArgumentError(self, f"given twice for {_where(namespace)}")
        target[self.dest] = value
        if not prompts:
            setattr(namespace, _DEFAULTS, target)


def add_plan_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("call", metavar="CALL", help="the callConnectionId to play on")
    prompts = p.add_argument_group("prompts (in the order they play)")
    prompts.add_argument("--prompt", action=PromptAction, metavar="URI", required=True, default=argparse.SUPPRESS,
                         help="http(s) URL of a WAV file (mono, 16-bit, 16 kHz); repeat for more prompts")  # fmt: skip
    prompts.add_argument("--repeat", dest="repeat", action=PromptOption, type=int, metavar="N",
                         default=argparse.SUPPRESS, help="play the prompt N times (default 1)")  # fmt: skip
    prompts.add_argument("--pause-ms", dest="pauseAfterMs", action=PromptOption, type=int, metavar="MS",
                         default=argparse.SUPPRESS, help="silence after each play (default 0)")  # fmt: skip
    prompts.add_argument("--loop", dest="loop", action=PromptOption, nargs=0, const=True, default=argparse.SUPPRESS,
                         help="play the prompt until the sequence is canceled or reaches its deadline")  # fmt: skip
    seq = p.add_argument_group("the sequence")
    seq.add_argument("--retry-attempts", type=int, metavar="N", help="plays per prompt before giving up (default 3)")
    seq.add_argument("--on-failure", choices=("stop", "skip"), help="after a prompt fails for good (default stop)")
    seq.add_argument("--deadline", type=int, metavar="S", help="end the sequence after S seconds, whatever remains")
    seq.add_argument("--mode", choices=("replace", "enqueue"),
                     help="replace the call's running sequence (default), or play after it")  # fmt: skip


def build_plan(args: argparse.Namespace) -> dict[str, Any]:
    """The JSON body of POST /v1/calls/{id}/sequences. Ranges are left to the API, which names the field."""
    defaults: dict[str, Any] = getattr(args, _DEFAULTS, {})
    prompts = [{"audioFileUri": p["audioFileUri"], **defaults, **p} for p in getattr(args, "prompts", [])]
    plan: dict[str, Any] = {"prompts": prompts}
    if args.retry_attempts is not None:
        plan["retry"] = {"maxAttempts": args.retry_attempts}
    if args.on_failure is not None:
        plan["onFailure"] = args.on_failure
    if args.deadline is not None:
        plan["deadlineSeconds"] = args.deadline
    if args.mode is not None:
        plan["mode"] = args.mode
    return plan
