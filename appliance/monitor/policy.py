"""upsmon's decisions as a pure state machine: poll results and the clock in, notices and actions out.

Semantics of NUT 2.8.0's clients/upsmon.c:

- a UPS is **critical** when its status has FSD, or OB and LB together (unless it is calibrating); a secondary
  waits up to HOSTSYNC seconds for its primary to set FSD before it gives up on it and counts the UPS critical;
- a UPS that has not answered for DEADTIME seconds and was last seen OB counts as OB+LB;
- the host shuts down when the power values of the UPSes that are not critical add up to less than MINSUPPLIES;
- notices fire on transitions only: ONBATT (also when first seen on battery), ONLINE (only after OB),
  LOWBATT, FSD, COMMOK (only after a loss), COMMBAD, REPLBATT and NOCOMM (repeated every RBWARNTIME and
  NOCOMMWARNTIME), CAL, and the newer OFF/BYPASS/OVER/TRIM/BOOST pairs with their NOT* counterparts.

Nothing here sleeps, talks to a server or runs a command: the executor does that with what this returns.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from appliance.nutconf.upsmon_conf import UpsmonConf

# Status tokens that raise a notice when they appear, and NOT<token> when they go. NUT 2.8.0 knows only CAL (and no
# NOTCAL); the others and the NOT* notices are NUT 2.8.1's, which users' NOTIFYFLAG lines already name.
_PAIRED = ("CAL", "OFF", "BYPASS", "OVER", "TRIM", "BOOST")


@dataclass(frozen=True)
class Notice:
    """One notification: its NUT type (ONBATT, LOWBATT...) and the UPS it is about (``ups@host``)."""

    kind: str
    ups: str


@dataclass
class Decision:
    """What the executor must do after an observation."""

    notices: list[Notice] = field(default_factory=list)
    set_fsd: list[str] = field(default_factory=list)  # primary: raise FSD on these UPSes
    shutdown: bool = False


@dataclass
class UpsTrack:
    """What upsmon knows of one monitored UPS."""

    system: str
    powervalue: int
    is_primary: bool
    flags: frozenset[str] = frozenset()
    comm: bool | None = None  # None until the first poll
    last_poll: float | None = None
    last_noncrit: float = float("-inf")
    on_line: bool | None = None  # NUT's linestate: unknown at start
    lost_since: float | None = None
    last_rbwarn: float | None = None
    last_ncwarn: float | None = None
    fsd_requested: bool = False

    def effective_flags(self, now: float, deadtime: float) -> frozenset[str]:
        """The status, with NUT's promotion of a silent UPS last seen on battery to OB+LB."""
        silent = self.last_poll is None or now - self.last_poll > deadtime
        if silent and "OB" in self.flags:
            return self.flags | {"LB"}
        return self.flags

    def is_critical(self, now: float, deadtime: float, hostsync: float) -> bool:
        """NUT's is_ups_critical."""
        flags = self.effective_flags(now, deadtime)
        if "FSD" in flags:
            return True
        if "OB" not in flags or "LB" not in flags or "CAL" in flags:
            return False
        if self.is_primary:
            return True
        return now - self.last_noncrit > hostsync  # a secondary gives its primary HOSTSYNC seconds


class Policy:
    """The monitor's brain for every MONITOR line of one upsmon.conf."""

    def __init__(self, conf: UpsmonConf, now: float) -> None:
        self.conf = conf
        self.started = now
        # last_noncrit starts at -inf as NUT's 0: a secondary that first sees OB+LB does not wait HOSTSYNC
        self.ups = {m.system: UpsTrack(m.system, m.powervalue, m.is_primary) for m in conf.monitors}
        self.shutting_down = False

    def reconfigure(self, conf: UpsmonConf) -> None:
        """A reloaded upsmon.conf: keep what is known of UPSes still monitored, start afresh for new ones."""
        self.conf = conf
        old = self.ups
        self.ups = {}
        for m in conf.monitors:
            track = old.get(m.system) or UpsTrack(m.system, m.powervalue, m.is_primary)
            track.powervalue, track.is_primary = m.powervalue, m.is_primary
            self.ups[m.system] = track

    def observe(self, system: str, status: str | None, now: float) -> Decision:
        """A poll of ``system`` gave ``status`` (the ups.status words), or failed (None)."""
        track = self.ups[system]
        decision = Decision()
        notes = decision.notices
        if status is None:
            if track.comm:
                notes.append(Notice("COMMBAD", system))
            track.comm = False
            if track.lost_since is None:
                track.lost_since = now
        else:
            if track.comm is False:
                notes.append(Notice("COMMOK", system))
            track.comm, track.last_poll, track.lost_since, track.last_ncwarn = True, now, None, None
            self._status_notices(track, frozenset(status.split()), notes, now)
        self._evaluate(now, decision)
        return decision

    def tick(self, now: float) -> Decision:
        """Time passed without a poll result: repeat warnings and re-check criticality."""
        decision = Decision()
        for track in self.ups.values():
            lost_at = self.started if track.comm is None else (track.lost_since if track.comm is False else None)
            silent_too_long = lost_at is not None and now - lost_at > self.conf.nocommwarntime
            if silent_too_long and _due(track.last_ncwarn, self.conf.nocommwarntime, now):
                decision.notices.append(Notice("NOCOMM", track.system))
                track.last_ncwarn = now
            if "RB" in track.flags and _due(track.last_rbwarn, self.conf.rbwarntime, now):
                decision.notices.append(Notice("REPLBATT", track.system))
                track.last_rbwarn = now
        self._evaluate(now, decision)
        return decision

    def _status_notices(self, track: UpsTrack, flags: frozenset[str], notes: list[Notice], now: float) -> None:
        old = track.flags
        system = track.system
        if "OL" in flags and track.on_line is False:
            notes.append(Notice("ONLINE", system))
        if "OB" in flags and track.on_line is not False:
            notes.append(Notice("ONBATT", system))
        if "OL" in flags or "OB" in flags:
            track.on_line = "OL" in flags
        if "LB" in flags and "LB" not in old:
            notes.append(Notice("LOWBATT", system))
        if "FSD" in flags and "FSD" not in old:
            notes.append(Notice("FSD", system))
        if "RB" in flags and "RB" not in old:
            notes.append(Notice("REPLBATT", system))
            track.last_rbwarn = now
        for token in _PAIRED:
            if token in flags and token not in old:
                notes.append(Notice(token, system))
            elif token in old and token not in flags:
                notes.append(Notice(f"NOT{token}", system))
        track.flags = flags
        if "OB" not in flags or "LB" not in flags or "CAL" in flags:
            track.last_noncrit = now  # NUT's update_crittimer

    def _evaluate(self, now: float, decision: Decision) -> None:
        conf = self.conf
        supplied = 0
        for track in self.ups.values():
            if track.is_critical(now, conf.deadtime, conf.hostsync):
                if track.is_primary and "FSD" not in track.flags and not track.fsd_requested:
                    decision.set_fsd.append(track.system)
                    track.fsd_requested = True
            else:
                supplied += track.powervalue
        if supplied < conf.minsupplies and not self.shutting_down:
            self.shutting_down = True
            decision.shutdown = True
            decision.notices.append(Notice("SHUTDOWN", ""))


def _due(last: float | None, interval: float, now: float) -> bool:
    """True when a repeated warning last given at ``last`` is due again."""
    return last is None or now - last > interval
