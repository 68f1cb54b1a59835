"""``appliance upsrw``: NUT 2.8.0's upsrw, same arguments, output, prompts, messages and exit codes.

Without ``-s`` it lists every writable variable with its description, type and allowed values; with
``-s var[=value]`` it logs in (prompting for what ``-u``/``-p`` did not give) and sets the variable, with ``-w``
waiting (up to ``-t`` seconds) for the driver's result.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Sequence

from appliance.clients.nut_client import NutClient, NutError
from appliance.clients.tool import (
    DEFAULT_TRACKING_TIMEOUT,
    NUT_VERSION,
    ToolExit,
    authenticate,
    connect,
    enable_tracking,
    finish_request,
    list_or_exit,
    operands,
    parse_options,
    parse_timeout,
    parse_ups,
    prompt_password,
    prompt_username,
    run_tool,
)

PROG = "upsrw"
_ATOI = re.compile(r"\s*([+-]?\d+)")


def usage() -> str:
    """NUT's upsrw help text."""
    return f"""Network UPS Tools {PROG} {NUT_VERSION}

usage: {PROG} [-h]
       {PROG} [-s <variable>] [-u <username>] [-p <password>] [-w] [-t <timeout>] <ups>

Demo program to set variables within UPS hardware.

  -h            display this help text
  -s <variable>\tspecify variable to be changed
\t\tuse -s VAR=VALUE to avoid prompting for value
  -l            show all possible read/write variables.
  -u <username> set username for command authentication
  -p <password> set password for command authentication
  -w            wait for the completion of setting by the driver
                and return its actual result from the device
  -t <timeout>\tset a timeout when using -w (in seconds, default: {DEFAULT_TRACKING_TIMEOUT})

  <ups>         UPS identifier - <upsname>[@<hostname>[:<port>]]

Call without -s to show all possible read/write variables (same as -l)."""


def c_atoi(text: str) -> int:
    """C's atoi: leading blanks, optional sign, digits; 0 when there are none."""
    match = _ATOI.match(text)
    return int(match.group(1)) if match else 0


def _get(fetch: Callable[[], str]) -> str | None:
    """NUT's get_data: the answer, or None on any failure."""
    try:
        return fetch()
    except NutError:
        return None


def _current(client: NutClient, ups: str, var: str, where: str) -> str:
    value = _get(lambda: client.get_var(ups, var))
    if value is None:
        raise ToolExit(f"{where}: can't get current value of {var}")
    return value


def _print_enum(client: NutClient, ups: str, var: str, kind: str | None, length: int) -> None:
    value = _current(client, ups, var, "do_enum")
    try:
        options = client.list_enum(ups, var)
    except NutError as err:
        raise ToolExit(f"Error: {err}") from None
    print(f"Type: ENUM {kind}" if kind else "Type: ENUM")
    if kind == "STRING":
        print(f"Maximum length: {length}")
    for option in options:
        print(f'Option: "{option}"' + (" SELECTED" if option == value else ""))


def _print_range(client: NutClient, ups: str, var: str) -> None:
    value = c_atoi(_current(client, ups, var, "do_range"))
    try:
        ranges = client.list_range(ups, var)
    except NutError as err:
        raise ToolExit(f"Error: {err}") from None
    print("Type: RANGE NUMBER")
    for low_text, high_text in ranges:
        low, high = c_atoi(low_text), c_atoi(high_text)
        print(f'Option: "{low}-{high}"' + (" SELECTED" if low <= value <= high else ""))


def _print_type(client: NutClient, ups: str, var: str) -> None:
    """NUT's do_type: walk the TYPE words; the first STRING/NUMBER/RANGE decides the rest."""
    try:
        words = client.get_type(ups, var)
    except NutError:
        print("Unknown type")
        return
    is_enum = False
    for word in words:
        upper = word.upper()
        if upper == "ENUM":
            is_enum = True
        elif upper == "RANGE":
            _print_range(client, ups, var)
            return
        elif upper.startswith("STRING:"):
            length = c_atoi(word[7:])
            if is_enum:
                _print_enum(client, ups, var, "STRING", length)
            else:
                print("Type: STRING")
                print(f"Maximum length: {length}")
                print(f"Value: {_current(client, ups, var, 'do_string')}")
            return
        elif upper == "NUMBER":
            if is_enum:
                _print_enum(client, ups, var, "NUMBER", 0)
            else:
                value = _current(client, ups, var, "do_number")
                print("Type: NUMBER")
                print(f"Value: {value}")
            return
        elif upper != "RW":
            print(f"Type: {word} (unrecognized)")
    if is_enum:
        _print_enum(client, ups, var, None, 0)


def _print_writable(client: NutClient, ups: str) -> None:
    names = list(list_or_exit(lambda: client.list_rw(ups)))
    for name in names:
        print(f"[{name}]")
        desc = _get(lambda var=name: client.get_desc(ups, var))
        print(desc if desc is not None else "Description unavailable")
        _print_type(client, ups, name)
        print()


def _set_variable(client: NutClient, ups: str, setting: str, options: dict[str, str]) -> None:
    user = options.get("-u")
    if user is None:
        user = prompt_username(sys.stdin, on_eof=None)
    password = options.get("-p")
    if password is None:
        password = prompt_password(sys.stdin)
    var, equals, value = setting.partition("=")
    if not equals:
        sys.stdout.write(f"Enter new value for {var}: ")
        sys.stdout.flush()
        value = sys.stdin.readline()[:-1]
    authenticate(client, user, password)
    if "." not in var:
        raise ToolExit("Error: old variable names are not supported")
    tracking = "-w" in options
    if tracking:
        enable_tracking(client, "set variable")
    timeout = parse_timeout(options["-t"]) if "-t" in options else DEFAULT_TRACKING_TIMEOUT
    finish_request(client, ("SET", "VAR", ups, var, value), "Set variable failed", tracking, timeout)


def _body(argv: Sequence[str]) -> None:
    parsed = parse_options(PROG, argv, "hls:p:t:u:wV")
    options: dict[str, str] = {}
    for flag, value in parsed or [("-h", "")]:
        if flag == "-l" and "-s" in options:
            print("Listing mode requested, overriding setvar specified earlier!", file=sys.stderr)
            del options["-s"]
        elif flag == "-t":
            parse_timeout(value)
        elif flag == "-V":
            print(f"Network UPS Tools {PROG} {NUT_VERSION}")
            raise ToolExit(None, 0)
        elif flag == "-h":
            print(usage())
            raise ToolExit(None, 0)
        if flag:
            options[flag] = value
    args = operands(parsed or [])
    if not args:
        print(usage())
        raise ToolExit(None, 0)
    address = parse_ups(args[0], "  ")
    assert address.ups is not None
    with connect(address) as client:
        if "-s" in options:
            _set_variable(client, address.ups, options["-s"], options)
        else:
            _print_writable(client, address.ups)


def main(argv: Sequence[str]) -> int:
    """Run upsrw with NUT's arguments; returns the exit status."""
    return run_tool(lambda: _body(argv))
