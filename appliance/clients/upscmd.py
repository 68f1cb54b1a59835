"""``appliance upscmd``: NUT 2.8.0's upscmd, same arguments, output, prompts, messages and exit codes.

``upscmd -l <ups>`` lists the instant commands with their descriptions; ``upscmd [-u user] [-p pass] [-w]
[-t timeout] <ups> <command> [<value>]`` runs one, prompting for missing credentials and, with ``-w``,
waiting for the driver's result.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from appliance.clients import tool
from appliance.clients.nut_client import NutClient, NutError

PROG = "upscmd"


def usage() -> str:
    """NUT's upscmd help text."""
    return f"""Network UPS Tools upscmd {tool.NUT_VERSION}

usage: {PROG} [-h]
       {PROG} [-l <ups>]
       {PROG} [-u <username>] [-p <password>] [-w] [-t <timeout>] <ups> <command> [<value>]

Administration program to initiate instant commands on UPS hardware.

  -h\t\tdisplay this help text
  -l <ups>\tshow available commands on UPS <ups>
  -u <username>\tset username for command authentication
  -p <password>\tset password for command authentication
  -w            wait for the completion of command by the driver
                and return its actual result from the device
  -t <timeout>\tset a timeout when using -w (in seconds, default: {tool.DEFAULT_TRACKING_TIMEOUT})

  <ups>\t\tUPS identifier - <upsname>[@<hostname>[:<port>]]
  <command>\tValid instant command - test.panel.start, etc.
  [<value>]\tAdditional data for command - number of seconds, etc."""


def _print_commands(client: NutClient, ups: str) -> None:
    commands = tool.list_or_exit(lambda: client.list_cmd(ups))
    print(f"Instant commands supported on UPS [{ups}]:\n")
    for command in commands:
        try:
            print(f"{command} - {client.get_cmd_desc(ups, command)}")
        except NutError:
            print(command)


def _body(argv: Sequence[str]) -> None:
    parsed = tool.parse_options(PROG, argv, "lhu:p:t:wV")
    options: dict[str, str] = {}
    for flag, value in parsed or [("-h", "")]:
        if flag == "-t":
            tool.parse_timeout(value)
        elif flag == "-V":
            # NUT prints the version through fatalx (stderr) and exits 0.
            raise tool.ToolExit(f"Network UPS Tools upscmd {tool.NUT_VERSION}", 0)
        elif flag == "-h":
            print(usage())
            raise tool.ToolExit(None, 0)
        if flag:
            options[flag] = value
    args = tool.operands(parsed or [])
    if not args:
        print(usage())
        raise tool.ToolExit(None, 0)
    address = tool.parse_ups(args[0], "  ")
    assert address.ups is not None
    with tool.connect(address) as client:
        if "-l" in options:
            _print_commands(client, address.ups)
            return
        if len(args) < 2:
            print(usage())
            raise tool.ToolExit(None, 0)
        if "." not in args[1]:
            raise tool.ToolExit("Error: old command names are not supported")
        user = options.get("-u")
        if user is None:
            user = tool.prompt_username(sys.stdin, on_eof="Error reading from stdin!")
        password = options.get("-p")
        if password is None:
            password = tool.prompt_password(sys.stdin)
        tool.authenticate(client, user, password)
        tracking = "-w" in options
        if tracking:
            tool.enable_tracking(client, "command")
        timeout = tool.parse_timeout(options["-t"]) if "-t" in options else tool.DEFAULT_TRACKING_TIMEOUT
        tool.finish_request(client, ("INSTCMD", address.ups, *args[1:3]), "Instant command failed", tracking, timeout)


def main(argv: Sequence[str]) -> int:
    """Run upscmd with NUT's arguments; returns the exit status."""
    return tool.run_tool(lambda: _body(argv))
