"""upsd's command table without sockets: access rules, staleness, FSD latch, tracking, and fuzzing."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.nutconf.lexer import split_words
from appliance.nutconf.upsd_users import parse_upsd_users
from appliance.protocol.driver_socket import LineCodec, ProtocolError
from appliance.server.commands import COMMANDS, ServerModel, Session, UpsEntry, dispatch, release
from appliance.server.driver_link import DriverLink

USERS = "[admin]\n password = pw\n actions = SET FSD\n instcmds = ALL\n[mon]\n password = m\n upsmon secondary\n"


def make_model(now: list[float] | None = None) -> tuple[ServerModel, DriverLink]:
    clock = now or [0.0]
    link = DriverLink("ups", "/nonexistent", maxage=15, clock=lambda: clock[0])
    for message in [
        ("SETINFO", "ups.status", "OL"),
        ("SETINFO", "battery.charge", "100"),
        ("SETINFO", "ups.id", "rack"),
        ("SETFLAGS", "ups.id", "RW", "STRING"),
        ("SETAUX", "ups.id", "8"),
        ("SETINFO", "input.transfer.low", "100"),
        ("SETFLAGS", "input.transfer.low", "RW"),
        ("ADDRANGE", "input.transfer.low", "90", "110"),
        ("ADDCMD", "load.off"),
        ("DATAOK",),
    ]:
        link.state.apply(message)
    link.connected = link.dump_done = True
    users, _ = parse_upsd_users(USERS)
    model = ServerModel(users=users)
    model.ups["ups"] = UpsEntry("ups", link, "Rack")
    return model, link


def ask(model: ServerModel, session: Session, *lines: str) -> list[str]:
    return [dispatch(model, session, split_words(line)) for line in lines]


def test_reads_need_no_login_and_values_are_escaped() -> None:
    model, link = make_model()
    link.state.set_info("ups.mfr", 'Say "hi"')
    assert ask(model, Session("x"), "GET VAR ups ups.mfr", "GET VAR UPS battery.charge") == [
        'VAR ups ups.mfr "Say \\"hi\\""\n',
        'VAR UPS battery.charge "100"\n',
    ]


def test_set_checks_in_nut_order() -> None:
    model, _ = make_model()
    admin = Session("x", "admin", "pw")
    assert ask(model, admin, "SET VAR ups battery.charge 5") == ["ERR READONLY\n"]
    assert ask(model, admin, "SET VAR ups ups.id waytoolong") == ["ERR TOO-LONG\n"]
    assert ask(model, admin, "SET VAR ups input.transfer.low 80") == ["ERR INVALID-VALUE\n"]
    assert ask(model, admin, "SET VAR ups input.transfer.low 95") == ["ERR SET-FAILED\n"]  # driver not reachable
    assert ask(model, Session("y", "mon", "m"), "SET VAR ups ups.id a") == ["ERR ACCESS-DENIED\n"]
    assert ask(model, Session("z", "admin", "bad"), "SET VAR ups ups.id a") == ["ERR ACCESS-DENIED\n"]


def test_stale_and_disconnected_driver() -> None:
    now = [0.0]
    model, link = make_model(now)
    now[0] = 16.0
    assert ask(model, Session("x"), "GET VAR ups ups.status") == ["ERR DATA-STALE\n"]
    link.connected = False
    assert ask(model, Session("x"), "LIST VAR ups") == ["ERR DRIVER-NOT-CONNECTED\n"]
    assert ask(model, Session("x"), "GET UPSDESC ups") == ['UPSDESC ups "Rack"\n']


def test_fsd_is_latched_into_the_status() -> None:
    model, link = make_model()
    admin = Session("x", "admin", "pw")
    assert ask(model, admin, "FSD ups", "GET VAR ups ups.status") == ["OK FSD-SET\n", 'VAR ups ups.status "FSD OL"\n']
    link.state.set_info("ups.status", "OB LB")
    assert ask(model, Session("y"), "GET VAR ups ups.status") == ['VAR ups ups.status "FSD OB LB"\n']


def test_logins_are_counted_and_released() -> None:
    model, _ = make_model()
    mon = Session("10.0.0.2", "mon", "m")
    model.sessions.append(mon)
    assert ask(model, mon, "LOGIN ups", "GET NUMLOGINS ups", "LIST CLIENT ups") == [
        "OK\n",
        "NUMLOGINS ups 1\n",
        "BEGIN LIST CLIENT ups\nCLIENT ups 10.0.0.2\nEND LIST CLIENT ups\n",
    ]
    release(model, mon)
    assert ask(model, Session("x"), "GET NUMLOGINS ups") == ["NUMLOGINS ups 0\n"]


def test_tracking_ids_are_answered() -> None:
    model, link = make_model()
    tracked = Session("x", "admin", "pw", tracking=True)
    assert ask(model, tracked, "GET TRACKING", "GET TRACKING nope") == ["ON\n", "ERR UNKNOWN\n"]
    assert ask(model, Session("y"), "GET TRACKING abc") == ["ERR FEATURE-NOT-CONFIGURED\n"]
    link.tracking["abc"] = "SUCCESS"
    assert ask(model, tracked, "GET TRACKING ABC") == ["SUCCESS\n"]


words = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=12)
verbs = st.sampled_from([*COMMANDS, "get", "list", "var", "ups", "UPS", "TRACKING", "x"])


@settings(max_examples=300)
@given(st.lists(st.one_of(verbs, words), max_size=8), st.booleans())
def test_random_token_sequences_get_a_reply_never_an_exception(tokens: list[str], logged_in: bool) -> None:
    model, _ = make_model()
    session = Session("x", "admin", "pw") if logged_in else Session("x")
    reply = dispatch(model, session, tokens)
    assert reply.endswith("\n")
    first = reply.split("\n", 1)[0]
    assert first.startswith(("ERR ", "OK", "VAR ", "BEGIN ", "TYPE ", "DESC ", "CMDDESC ", "UPSDESC ", "NUMLOGINS ",
                             "Network UPS Tools", "Commands:", "1.3", "ON", "OFF"))  # fmt: skip


@settings(max_examples=200)
@given(st.binary(max_size=3000))
def test_random_bytes_through_the_request_codec(data: bytes) -> None:
    model, _ = make_model()
    session = Session("x")
    codec = LineCodec(max_line=8192, keep_empty=True)
    for event in codec.receive(data):
        if not isinstance(event, ProtocolError):
            assert dispatch(model, session, event).endswith("\n")


def test_tracking_results_expire_after_trackingdelay() -> None:
    now = [0.0]
    model, link = make_model(now)
    link.trackingdelay = 60
    link.set_var("ups.id", "a", tracking_id="first")
    link.tracking["first"] = "SUCCESS"
    now[0] = 61.0
    link.set_var("ups.id", "b", tracking_id="second")
    tracked = Session("x", tracking=True)
    assert ask(model, tracked, "GET TRACKING first", "GET TRACKING second") == ["ERR UNKNOWN\n", "PENDING\n"]
