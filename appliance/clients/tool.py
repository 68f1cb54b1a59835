"""What NUT's three command-line clients share: C-style option parsing, fatal errors, credential prompts, and the
wait for a tracked SET/INSTCMD result (NUT 2.8.0 clients/upsrw.c and upscmd.c behave identically there).

Messages and exit codes restate NUT's: a fatal error prints one line to stderr and exits 1; usage goes to stdout
and exits 0; getopt's complaints name the program like glibc does.
"""

from __future__ import annotations

import getopt
import os
import pwd
import re
import sys
import time
from collections.abc import Callable, Sequence
from typing import TextIO, TypeVar

from appliance.clients.nut_client import NutClient, NutError
from appliance.clients.upsname import UpsAddress, UpsNameError, split_name

NUT_VERSION = "2.8.0"
DEFAULT_TRACKING_TIMEOUT = 10  # seconds, NUT's DEFAULT_TRACKING_TIMEOUT
UUID4_LENGTH = 36
_TRACKING_PREFIX = "OK TRACKING "
_UINT = re.compile(r"\s*\+?\d+")
UINT_MAX = 2**32 - 1
T = TypeVar("T")


class ToolExit(Exception):
    """Stop the tool: print ``message`` (if any) on stderr, exit with ``status``."""

    def __init__(self, message: str | None, status: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def run_tool(body: Callable[[], None]) -> int:
    """Run a tool's body, turning :class:`ToolExit` into NUT's stderr line and exit status."""
    try:
        body()
    except ToolExit as stop:
        sys.stdout.flush()
        if stop.message is not None:
            print(stop.message, file=sys.stderr)
        return stop.status
    return 0


def parse_options(prog: str, argv: Sequence[str], spec: str) -> list[tuple[str, str]] | None:
    """POSIX getopt (stops at the first operand, like NUT's ``+`` specs); None after printing glibc's complaint."""
    try:
        options, operands = getopt.getopt(list(argv), spec)
    except getopt.GetoptError as err:
        complaint = "option requires an argument" if "requires argument" in err.msg else "invalid option"
        print(f"{prog}: {complaint} -- '{err.opt}'", file=sys.stderr)
        return None
    return [*options, *(("", operand) for operand in operands)]


def operands(parsed: list[tuple[str, str]]) -> list[str]:
    """The non-option arguments from :func:`parse_options`' result."""
    return [value for flag, value in parsed if not flag]


def parse_timeout(text: str) -> int:
    """``-t`` like NUT's ``str_to_uint``: a non-negative decimal integer."""
    if not _UINT.fullmatch(text):
        raise ToolExit(
            "Could not convert the provided value for timeout ('-t' option) to unsigned int: Invalid argument"
        )
    value = int(text)
    if value > UINT_MAX:
        raise ToolExit(
            "Could not convert the provided value for timeout ('-t' option) to unsigned int: "
            "Numerical result out of range"
        )
    return value


def parse_ups(text: str | None, separator: str) -> UpsAddress:
    """A ``upsname[@host[:port]]`` operand, or NUT's fatal "invalid UPS definition" (``separator`` differs by tool)."""
    try:
        return split_name(text)
    except UpsNameError as err:
        if str(err):
            print(err, file=sys.stderr)
        raise ToolExit(f"Error: invalid UPS definition.{separator}Required format: upsname[@hostname[:port]]") from None


def connect(address: UpsAddress) -> NutClient:
    """Connect like ``upscli_connect`` does for the tools (blocking connect, 5 s replies)."""
    try:
        return NutClient.connect(address.host, address.port, timeout=None)
    except NutError as err:
        raise ToolExit(f"Error: {err}") from None


def login_name() -> str | None:
    """The invoking user's name from the password database (NUT's getpwuid(getuid()))."""
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return None


def prompt_username(stdin: TextIO, on_eof: str | None) -> str:
    """Ask ``Username (<login>): `` on stdout; an empty answer means the login name.

    ``on_eof`` is the fatal message when stdin is closed (upscmd), or None to carry on (upsrw).
    """
    me = login_name()
    sys.stdout.write(f"Username ({me}): " if me else "Username: ")
    answer = stdin.readline()
    if not answer and on_eof is not None:
        raise ToolExit(on_eof)
    if len(answer) > 1:
        return answer[:-1]  # NUT drops the last character, newline or not
    if me is None:
        raise ToolExit("No username available - even tried getpwuid")
    return me


def prompt_password(stdin: TextIO) -> str:
    """glibc getpass(): prompt and read on the terminal without echo, else prompt on stderr and read stdin."""
    try:
        tty = os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY)
    except OSError:
        sys.stdout.flush()
        sys.stderr.write("Password: ")
        sys.stderr.flush()
        return stdin.readline().removesuffix("\n")
    os.close(tty)
    import getpass  # only a real terminal gets here: getpass handles echo and restores it

    return getpass.getpass("Password: ")


def tracking_id(reply: str, tracking: bool) -> str | None:
    """The id in an ``OK TRACKING <uuid>`` reply when the tool asked for tracking (NUT checks the exact length)."""
    if tracking and reply.startswith(_TRACKING_PREFIX) and len(reply) == len(_TRACKING_PREFIX) + UUID4_LENGTH:
        return reply[len(_TRACKING_PREFIX) :]
    return None


def wait_for_result(
    client: NutClient,
    tracked: str,
    timeout: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """Poll ``GET TRACKING <id>`` once a second until it is not ``PENDING``; return that reply line."""
    start = clock()
    while True:
        if clock() - start >= timeout:
            raise ToolExit("Can't receive status tracking information: timeout")
        client.timeout = timeout
        try:
            reply = client.get_tracking(tracked)
        except NutError as err:
            raise ToolExit(f"Can't receive status tracking information: {err}") from None
        if not reply.startswith("PENDING"):
            return reply
        sleep(1)


def list_or_exit(fetch: Callable[[], T]) -> T:
    """Run a LIST query; a failure ends the tool with NUT's message (its special one for pre-LIST servers)."""
    try:
        return fetch()
    except NutError as err:
        if err.token == "UNKNOWN-COMMAND":
            raise ToolExit("Error: upsd is too old to support this query") from None
        raise ToolExit(f"Error: {err}") from None


def authenticate(client: NutClient, username: str, password: str) -> None:
    """Send USERNAME and PASSWORD; like NUT, only a failed exchange is fatal, not upsd's answer."""
    try:
        client.request("USERNAME", username)
    except NutError as err:
        raise ToolExit(f"Set username failed: {err}") from None
    try:
        client.request("PASSWORD", password)
    except NutError as err:
        raise ToolExit(f"Set password failed: {err}") from None


def enable_tracking(client: NutClient, what: str) -> None:
    """``SET TRACKING ON`` before a tracked SET/INSTCMD; ``what`` names it in NUT's messages."""
    try:
        reply = client.request("SET", "TRACKING", "ON")
    except NutError as err:
        raise ToolExit(f"Enabling {what} status tracking failed: {err}") from None
    if not reply.startswith("OK"):
        raise ToolExit(f"Enabling {what} status tracking failed. upsd answered: {reply}")


def finish_request(client: NutClient, words: Sequence[str], failure: str, tracking: bool, timeout: float) -> None:
    """Send SET VAR / INSTCMD, then print upsd's answer (or the tracked result) on stderr as NUT does."""
    try:
        reply = client.request(*words)
    except NutError as err:
        raise ToolExit(f"{failure}: {err}") from None
    if not reply.startswith("OK"):
        raise ToolExit(f"Unexpected response from upsd: {reply}")
    tracked = tracking_id(reply, tracking)
    if tracked is not None:
        reply = wait_for_result(client, tracked, timeout)
    print(reply, file=sys.stderr)
