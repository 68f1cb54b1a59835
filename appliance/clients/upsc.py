"""``appliance upsc``: NUT 2.8.0's upsc, same arguments, output, messages and exit codes.

``upsc <ups>[@host[:port]] [variable]``, ``upsc -l|-L [host[:port]]``, ``upsc -c <ups>``. Like NUT's, it tries
STARTTLS first and carries on in clear text when the server declines.
"""

from __future__ import annotations

import ssl
import sys
from collections.abc import Sequence

from appliance.clients.nut_client import NutClient, NutError
from appliance.clients.tool import (
    NUT_VERSION,
    ToolExit,
    connect,
    list_or_exit,
    operands,
    parse_options,
    parse_ups,
    run_tool,
)
from appliance.clients.upsname import UpsAddress, UpsNameError, split_address

PROG = "upsc"


def usage() -> str:
    """NUT's upsc help text."""
    return f"""Network UPS Tools upsc {NUT_VERSION}

usage: {PROG} -l | -L [<hostname>[:port]]
       {PROG} <ups> [<variable>]
       {PROG} -c <ups>

Demo program to display UPS variables.

First form (lists UPSes):
  -l         - lists each UPS on <hostname>, one per line.
  -L         - lists each UPS followed by its description (from ups.conf).
               Default hostname: localhost

Second form (lists variables and values):
  <ups>      - upsd server, <upsname>[@<hostname>[:<port>]] form
  <variable> - optional, display this variable only.
               Default: list all variables for <host>

Third form (lists clients connected to a device):
  -c         - lists each client connected on <ups>, one per line.
  <ups>      - upsd server, <upsname>[@<hostname>[:<port>]] form"""


def _try_tls(client: NutClient, host: str) -> None:
    """NUT's UPSCLI_CONN_TRYSSL with the messages of Debian's NSS build; clear text when upsd declines."""
    print("Init SSL without certificate database", file=sys.stderr)
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        client.starttls(context, server_hostname=host)
    except NutError as err:
        if err.line is not None:  # upsd answered, but not "OK STARTTLS": carry on unencrypted
            return
        print(f"Error while connecting to NUT server {host}, disconnect", file=sys.stderr)
        raise ToolExit(f"Error: {err}") from None
    print(f"Connected to NUT server {host} in SSL", file=sys.stderr)
    print("Certificate verification is disabled", file=sys.stderr)


def _body(argv: Sequence[str]) -> None:
    parsed = parse_options(PROG, argv, "hlLcV")
    if parsed is None:
        print(usage())
        raise ToolExit(None, 0)
    for flag, _ in parsed:
        if flag == "-h":
            print(usage())
            raise ToolExit(None, 0)
        if flag == "-V":
            # NUT's upsc prints its version through fatalx, naming upscmd (a copy-paste slip in 2.8.0), exit 0.
            raise ToolExit(f"Network UPS Tools upscmd {NUT_VERSION}", 0)
    flags = {flag for flag, _ in parsed}
    args = operands(parsed)
    list_upses = bool(flags & {"-l", "-L"})
    if list_upses:
        try:
            address = split_address(args[0] if args else "localhost")
        except UpsNameError as err:
            print(err, file=sys.stderr)
            raise ToolExit("Error: invalid hostname.\nRequired format: [hostname[:port]]") from None
    else:
        address = parse_ups(args[0] if args else None, "\n")
    with connect(address) as client:
        _try_tls(client, address.host)
        if list_upses:
            _print_upses(client, verbose="-L" in flags)
        elif "-c" in flags:
            _print_clients(client, address)
        elif len(args) > 1:
            _print_variable(client, address, args[1])
        else:
            _print_variables(client, address)


def _print_upses(client: NutClient, verbose: bool) -> None:
    for name, desc in list_or_exit(client.list_ups).items():
        print(f"{name}: {desc}" if verbose else name)


def _print_clients(client: NutClient, address: UpsAddress) -> None:
    assert address.ups is not None
    for peer in list_or_exit(lambda: client.list_clients(address.ups)):
        print(peer)


def _print_variable(client: NutClient, address: UpsAddress, var: str) -> None:
    assert address.ups is not None
    if "." not in var:
        raise ToolExit("Error: old-style variable names are not supported")
    try:
        print(client.get_var(address.ups, var))
    except NutError as err:
        if err.token == "UNKNOWN-COMMAND":
            raise ToolExit("Error: variable unknown (old upsd detected)") from None
        raise ToolExit(f"Error: {err}") from None


def _print_variables(client: NutClient, address: UpsAddress) -> None:
    assert address.ups is not None
    variables = list_or_exit(lambda: client.list_var(address.ups))
    sys.stdout.write("".join(f"{name}: {value}\n" for name, value in variables.items()))


def main(argv: Sequence[str]) -> int:
    """Run upsc with NUT's arguments; returns the exit status."""
    return run_tool(lambda: _body(argv))
