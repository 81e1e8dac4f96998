"""System 2 on the vehicle side of the planner: when to ask, and what to do with an answer.

The planner (System 1) drives alone. When it has stood behind a static blocker in its own lane for
`system2_stuck_s` with no legal way past, it emits a *query* (a plain JSON-able dict, see `Query`): the
reasoner bridge sends it to the cloud service and hands back *advice* (`AdviceIn`). The planner stays in
charge (DriveVLM-Dual): every piece of advice is checked here before it changes anything.

- Stale advice (the frame stamp is past its validity) and advice answering a query this planner never
  issued are dropped and counted (`advice_dropped_stale`).
- Pass / follow-the-cones advice only *opens the oncoming lane as a candidate lane* for the planner's own
  search and safety checker (a `PassPermission`), and only after System 1's oncoming-traffic check:
  the waypoints must lie on the road and use the oncoming lane, and the oncoming lane must be seen free of
  road users over the distance the pass needs (capped at what the camera sees). Otherwise the advice is
  rejected and counted (`advice_rejected_unsafe`). Until the ego has left its lane, the check runs every
  frame and a failure aborts the pass (`advice_aborted`); once committed, the planner finishes the
  manoeuvre under its own safety checker even if the advice's validity ends meanwhile (stopping in the
  oncoming lane is the riskier choice).
- WAIT / STOP are followed by holding the safe stop System 1 already keeps and not asking again before the
  advice expires. Advice the car cannot carry out here (CONTINUE or GO_SLOWLY while its own lane is
  blocked, REROUTE, WALK_TO) is rejected and counted.
"""

from __future__ import annotations

import base64
import math
import zlib
from dataclasses import asdict, dataclass, field

import numpy as np

from perception.classes import Cls

PASS_ACTIONS = ("pass_left_oncoming", "follow_cones")
HOLD_ACTIONS = ("wait", "stop")
KNOWN_ACTIONS = (
    "stop",
    "wait",
    "go_slowly",
    "pass_left_oncoming",
    "follow_cones",
    "reroute",
    "walk_to",
    "continue",
)


@dataclass(frozen=True)
class AdviceIn:
    """Advice as the planner takes it (from the bridge's JSON, see advice_from_dict)."""

    action: str  # one of KNOWN_ACTIONS
    frame_id: str  # the query it answers
    stamp_ns: int  # that query's stamp
    valid_until_ns: int  # absolute (sim) time after which the advice is stale
    waypoints: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))  # (K, 2) odom
    target_speed: float = 0.0
    confidence: float = 0.0
    rationale: str = ""
    backend: str = ""


def advice_from_dict(d: dict) -> AdviceIn:
    """Parse the bridge's advice JSON; ValueError naming the field on bad input (never half-parsed)."""
    try:
        action = str(d["action"]).lower()
        frame_id = str(d["frame_id"])
        stamp_ns = int(d["stamp_ns"])
        valid_until_ns = int(d["valid_until_ns"])
        waypoints = np.asarray(d.get("waypoints", []), dtype=float).reshape(-1, 2)
        target_speed = float(d.get("target_speed", 0.0))
        confidence = float(d.get("confidence", 0.0))
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"malformed advice: {exc!r}") from None
    if action not in KNOWN_ACTIONS:
        raise ValueError(f"advice action {action!r} is not one of {', '.join(KNOWN_ACTIONS)}")
    if not (np.all(np.isfinite(waypoints)) and math.isfinite(target_speed) and math.isfinite(confidence)):
        raise ValueError("advice numbers must be finite")
    return AdviceIn(
        action=action,
        frame_id=frame_id,
        stamp_ns=stamp_ns,
        valid_until_ns=valid_until_ns,
        waypoints=waypoints,
        target_speed=target_speed,
        confidence=confidence,
        rationale=str(d.get("rationale", ""))[:300],
        backend=str(d.get("backend", ""))[:200],
    )


def advice_to_dict(a: AdviceIn) -> dict:
    return {
        "action": a.action,
        "frame_id": a.frame_id,
        "stamp_ns": int(a.stamp_ns),
        "valid_until_ns": int(a.valid_until_ns),
        "waypoints": np.asarray(a.waypoints, dtype=float).round(3).tolist(),
        "target_speed": float(a.target_speed),
        "confidence": float(a.confidence),
        "rationale": a.rationale,
        "backend": a.backend,
    }


@dataclass
class System2Counters:
    queries: int = 0  # queries the planner emitted
    advice_received: int = 0
    advice_followed: int = 0  # passes granted + waits/stops held
    advice_dropped_stale: int = 0  # past validity, or answering no query of ours
    advice_rejected_unsafe: int = 0  # failed System 1's checks, or not executable here
    advice_aborted: int = 0  # a granted pass withdrawn before the ego left its lane

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass
class PassPermission:
    lane: float  # route lateral offset of the oncoming lane opened for the planner
    end_s: float  # route s where the advised path is back in the own lane
    expires_ns: int  # the advice's validity: before the ego commits, the permission ends there
    committed: bool = False
    reason: str = ""


@dataclass(frozen=True)
class OncomingCheck:
    ok: bool
    reason: str
    required_m: float  # distance ahead of the front bumper the pass needs free


def grid_payload(grid) -> dict:
    """A BevGrid as JSON: zlib + base64 of the uint8 classes (rows = y, cols = x, base_link)."""
    classes = np.ascontiguousarray(grid.classes, dtype=np.uint8)
    return {
        "rows": int(classes.shape[0]),
        "cols": int(classes.shape[1]),
        "resolution": float(grid.resolution),
        "origin_x": float(grid.origin_x),
        "origin_y": float(grid.origin_y),
        "classes_zlib_b64": base64.b64encode(zlib.compress(classes.tobytes(), 1)).decode("ascii"),
    }


def grid_from_payload(d: dict) -> tuple[np.ndarray, float, float, float]:
    rows, cols = int(d["rows"]), int(d["cols"])
    raw = zlib.decompress(base64.b64decode(d["classes_zlib_b64"]))
    if len(raw) != rows * cols:
        raise ValueError(f"grid payload holds {len(raw)} cells, rows * cols = {rows * cols}")
    classes = np.frombuffer(raw, dtype=np.uint8).reshape(rows, cols)
    return classes, float(d["resolution"]), float(d["origin_x"]), float(d["origin_y"])


class System2:
    """Per-planner System 2 state: the stuck trigger, pending advice and the current pass permission."""

    def __init__(self, params, lane_width: float, oncoming_offsets: tuple[float, ...]):
        self.p = params
        self.lane_width = float(lane_width)
        self.oncoming = max(oncoming_offsets) if oncoming_offsets else None
        self.counters = System2Counters()
        self.permission: PassPermission | None = None
        self._pending: list[AdviceIn] = []
        self._issued: dict[str, int] = {}  # frame_id -> stamp of queries we sent (recent ones)
        self._stuck_since: int | None = None
        self._next_query_ns = 0
        self.last_event = ""

    # --- advice in --------------------------------------------------------------------------------
    def on_reply(self, reply: dict) -> None:
        """A reply from the bridge (cloud_reasoner/vehicle_bridge.py): advice is queued, malformed advice
        is rejected and counted, failures (no answer) leave System 1 as it is."""
        if reply.get("status") != "ok":
            self.last_event = f"no advice: {reply.get('error', reply.get('status'))}"
            return
        try:
            advice = advice_from_dict(reply)
        except ValueError as exc:
            self.counters.advice_received += 1
            self.counters.advice_rejected_unsafe += 1
            self.last_event = str(exc)
            return
        self.offer(advice)

    def offer(self, advice: AdviceIn) -> None:
        """Queue an answer from the bridge; it is judged on the next planning frame."""
        self.counters.advice_received += 1
        self._pending.append(advice)

    def take_pending(self, stamp_ns: int) -> list[AdviceIn]:
        """Pending advice still fresh and answering one of our queries; the rest is counted as stale."""
        fresh = []
        for a in self._pending:
            if self._issued.get(a.frame_id) != a.stamp_ns or stamp_ns > a.valid_until_ns:
                self.counters.advice_dropped_stale += 1
                self.last_event = f"dropped stale {a.action} for {a.frame_id}"
            else:
                fresh.append(a)
        self._pending = []
        return fresh

    # --- the trigger --------------------------------------------------------------------------------
    def update_stuck(self, stamp_ns: int, stuck: bool) -> bool:
        """True when a query should go out now: stuck long enough, no pass granted, not on hold."""
        if not stuck or self.permission is not None:
            self._stuck_since = None
            return False
        if self._stuck_since is None:
            self._stuck_since = stamp_ns
        if (stamp_ns - self._stuck_since) * 1e-9 < self.p.system2_stuck_s - 1e-9:
            return False
        return stamp_ns >= self._next_query_ns

    def issue(self, stamp_ns: int, frame_id: str) -> None:
        self.counters.queries += 1
        self._issued[frame_id] = stamp_ns
        while len(self._issued) > 16:
            self._issued.pop(next(iter(self._issued)))
        self._next_query_ns = stamp_ns + round(self.p.system2_requery_s * 1e9)

    def hold(self, until_ns: int) -> None:
        """Followed WAIT/STOP: do not ask again before the advice expires."""
        self._next_query_ns = max(self._next_query_ns, until_ns)

    # --- checks -------------------------------------------------------------------------------------
    def waypoints_ok(self, a: AdviceIn, s_wp: np.ndarray, d_wp: np.ndarray, s_front: float) -> str:
        """'' if the advised path is plausible on this road, else why not."""
        if self.oncoming is None:
            return "the map knows no oncoming lane"
        if len(s_wp) < 2:
            return "pass advice without waypoints"
        half = 0.5 * self.lane_width
        if np.any(d_wp < -half - 0.5) or np.any(d_wp > self.oncoming + half + 0.25):
            return "advised path leaves the road"
        if np.any(s_wp < s_front - 15.0) or np.any(s_wp > s_front + 120.0):
            return "advised path is not ahead of the ego"
        if not np.any(d_wp > half):
            return "advised path does not use the oncoming lane"
        return ""

    def required_clear(self, s_front: float, end_s: float, v0: float, v_pass: float) -> float:
        """Distance ahead of the front bumper the oncoming lane must be free: the pass itself plus what a
        car at oncoming_speed_max covers meanwhile (plus a margin)."""
        occupied = max(end_s - s_front, 0.0)
        a = max(self.p.pass_accel, 0.1)
        v_pass = max(v_pass, v0, 1.0)
        accel_dist = max(v_pass * v_pass - v0 * v0, 0.0) / (2 * a)
        if occupied <= accel_dist:
            t = (math.sqrt(v0 * v0 + 2 * a * occupied) - v0) / a
        else:
            t = (v_pass - v0) / a + (occupied - accel_dist) / v_pass
        return occupied + self.p.oncoming_speed_max * (t + self.p.pass_margin_s)

    def oncoming_check(
        self, lookup, route, s_front: float, required_m: float, d_lane: float, ego_width: float
    ) -> OncomingCheck:
        """The oncoming lane, from a little behind the front bumper to `required_m` ahead (capped at
        oncoming_sight_m: beyond the camera's range only RSS-responsible traffic can be assumed), must
        be seen (known cells) and free of road users. `lookup(x, y) -> classes` reads the current BEV."""
        reach = min(required_m, self.p.oncoming_sight_m)
        s = np.arange(s_front - 6.0, s_front + reach, 1.0)
        across = np.array([-0.5, 0.0, 0.5]) * (self.lane_width - 0.4)
        sx, dy = np.repeat(s, len(across)), np.tile(d_lane + across, len(s))
        x, y, _ = route.pose_at(sx, dy)
        cells = lookup(x, y).reshape(len(s), len(across))
        user = (cells == int(Cls.VEHICLE)) | (cells == int(Cls.PEDESTRIAN))
        if np.any(user):
            k = int(np.nonzero(user.any(axis=1))[0][0])
            return OncomingCheck(False, f"road user in the oncoming lane {s[k] - s_front:.0f} m ahead", reach)
        ahead = s >= s_front + 3.0  # the camera's near blind zone beside the car is not required
        unknown = (cells[ahead] == 255).mean(axis=1) > 0.5
        if np.mean(unknown) > self.p.oncoming_unknown_max:
            why = f"oncoming lane {np.mean(unknown):.0%} unseen over {reach:.0f} m"
            return OncomingCheck(False, why, reach)
        return OncomingCheck(True, "", reach)


def tracked_payload(tracker) -> list[dict]:
    """A query's objects (perception/tracker.py ObjectTracker): the road users whose velocity the tracker
    knows, in odom, so that the reasoner can tell one that stands from one that comes; the rest stay
    road users of unknown speed in the grid."""
    return [
        {
            "object_id": f"track{o.track_id}",
            "label": o.label,
            "x": round(o.x, 3),
            "y": round(o.y, 3),
            "length": round(o.length, 3),
            "width": round(o.width, 3),
            "yaw": round(o.yaw, 4),
            "vx": round(o.vx, 3),
            "vy": round(o.vy, 3),
            "confidence": round(min(1.0, o.hits / 20.0), 3),  # twenty frames (2 s): seen plainly
        }
        for o in tracker.known_velocity()
    ]
