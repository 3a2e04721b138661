"""The sandbox's limits and refusals: how much one expression or script may take (sizes, work, nesting, time
and memory), and the errors it raises when it is stopped."""
from __future__ import annotations

from typing import NoReturn

FILENAME = "<string>"  # SpiffWorkflow looks for this file name to report the failing line of a script
DEFAULT_TIMEOUT = 2.0
DEFAULT_MEMORY_MB = 256
MAX_CALL_DEPTH = 100
MAX_ITEMS = 1_000_000  # elements of a list/tuple, values in a structure
MAX_CHARS = 1_000_000  # characters of a text
MAX_INT_BITS = 100_000  # about 30,000 decimal digits
MAX_FORMAT_WIDTH = 10_000
MAX_ROUND_DIGITS = 100
MAX_MODPOW_BITS = 4096  # pow(b, e, m): modulus and exponent; 4096 bits take about 0.1 s here, 8192 bits 1 s
MAX_WORK = 10_000_000  # estimated element comparisons/hashes one uninterruptible operation may do (≈ 0.5 s)
BIG = 65_536  # results at least this large pass a check-point right away (the memory check sees them)
MAX_SOURCE_CHARS = 100_000  # of one expression or script
MAX_NESTING = 100  # nested operators, calls and brackets in one expression (the compiler recurses on them)
COMPILE_CACHE_SIZE = 2048


class SandboxError(Exception):
    """An expression or script was stopped by the sandbox."""


class ScriptRefused(SandboxError):
    """The expression or script tried something the sandbox does not allow."""

    errors: list[str]  # set when the policy refused the source: each objection, for deploy-time lint


class ScriptTimeout(SandboxError):
    """The expression or script ran longer than its time limit."""


class Deadline(BaseException):
    """Unwinds a script past its deadline. Scripts cannot name it or any base class of it."""


def refuse(message: str) -> NoReturn:
    raise ScriptRefused(f"refused: {message}")
