"""The vehicle bridge's logic (no ROS): planner queries (JSON dicts, planning/system2.py) -> ReasonRequest
-> ReasonerClient (non-blocking) -> replies for the planner; plus the embedded local service the scenario
command starts, with named fault injection for testing the vehicle's fault paths.

Reply dicts (one per query that was sent), JSON on the `system2/advice` topic:
  {"status": "ok", "frame_id", "stamp_ns", "action", "waypoints", "valid_until_ns", ...}  (advice_to_dict)
  {"status": "error", "frame_id", "stamp_ns", "error": "..."}   (no answer: deadline, unavailable, ...)
  {"status": "skipped", "frame_id", "stamp_ns", "error": "busy"} (a query arrived while one was in flight)
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from types import SimpleNamespace

from cloud_reasoner.backends.base import Backend, BackendError
from cloud_reasoner.client import ReasonerClient
from cloud_reasoner.convert import build_request
from cloud_reasoner.fault_names import CLOUD_FAULTS
from cloud_reasoner.query import Advice, DetectedObject, MetaAction, QuestionKind, ReasonQuery

VEHICLE_ID = "car"


def request_from_query(query: dict, route, vehicle_id: str):
    """A ReasonRequest from the planner's query dict and the route map (planning.types.RouteMap)."""
    from planning.system2 import grid_from_payload

    classes, res, ox, oy = grid_from_payload(query["grid"])
    ego = SimpleNamespace(**query["ego"])
    body = SimpleNamespace(**query["body"])
    question = QuestionKind[str(query.get("question", "stuck_behind_obstacle")).upper()]
    # the planner names its body (its embodiment file); build_request refuses a name the proto has no
    # value for, so an unknown body is a "bad query" reply instead of being asked about as a car
    embodiment = str(query["embodiment"])
    objects = [
        DetectedObject(
            object_id=str(o["object_id"]),
            label=str(o["label"]),
            color=str(o.get("color", "")),
            x=float(o["x"]),
            y=float(o["y"]),
            length=float(o.get("length", 0.0)),
            width=float(o.get("width", 0.0)),
            yaw=float(o.get("yaw", 0.0)),
            vx=float(o.get("vx", 0.0)),
            vy=float(o.get("vy", 0.0)),
            confidence=float(o.get("confidence", 1.0)),
        )
        for o in query.get("objects", [])
    ]
    return build_request(
        vehicle_id=vehicle_id,
        embodiment=embodiment,
        frame_id=str(query["frame_id"]),
        stamp_ns=int(query["stamp_ns"]),
        ego=ego,
        body=body,
        route=route,
        grid=SimpleNamespace(classes=classes, resolution=res, origin_x=ox, origin_y=oy),
        question=question,
        text=str(query.get("text", "")),
        objects=objects,
        oncoming_lane_offsets=[float(o) for o in query.get("oncoming_lane_offsets", [])],
    )


def reply_from_advice(advice: Advice) -> dict:
    return {
        "status": "ok",
        "action": MetaAction(advice.action).name.lower(),
        "frame_id": advice.frame_id,
        "stamp_ns": int(advice.stamp_ns),
        "valid_until_ns": int(advice.expires_at_ns()),
        "waypoints": [[float(x), float(y)] for x, y in advice.waypoints],
        "target_speed": float(advice.target_speed),
        "confidence": float(advice.confidence),
        "rationale": advice.rationale[:300],
        "backend": advice.backend[:200],
    }


@dataclass
class BridgeCounters:
    cloud_requests: int = 0  # queries handed to the client
    cloud_skipped_busy: int = 0
    cloud_answers: int = 0
    cloud_failures: int = 0  # no answer: deadline, unavailable, invalid answer, ...


class VehicleBridge:
    """One request in flight; `submit` and `poll` never block (they only touch the client's slot)."""

    def __init__(self, client: ReasonerClient, route=None):
        self.client = client
        self.route = route
        self.counters = BridgeCounters()
        self._in_flight: tuple[str, int] | None = None

    @property
    def in_flight(self) -> tuple[str, int] | None:
        return self._in_flight

    def submit(self, query: dict) -> dict | None:
        """Send a planner query; returns a 'skipped' reply if it cannot be sent now, else None."""
        frame = (str(query["frame_id"]), int(query["stamp_ns"]))
        if self.route is None:
            self.counters.cloud_skipped_busy += 1
            return {"status": "skipped", "frame_id": frame[0], "stamp_ns": frame[1], "error": "no route yet"}
        try:
            request = request_from_query(query, self.route, self.client.vehicle_id)
        except (KeyError, TypeError, ValueError) as exc:
            self.counters.cloud_failures += 1
            return {
                "status": "error",
                "frame_id": frame[0],
                "stamp_ns": frame[1],
                "error": f"bad query: {exc}",
            }
        if self._in_flight is not None or not self.client.submit(request):
            self.counters.cloud_skipped_busy += 1
            return {"status": "skipped", "frame_id": frame[0], "stamp_ns": frame[1], "error": "busy"}
        self._in_flight = frame
        self.counters.cloud_requests += 1
        return None

    def poll(self) -> dict | None:
        """The reply to the in-flight query once it is over (advice or error), else None."""
        if self._in_flight is None:
            return None
        done = not self.client.busy  # read before poll(): the worker sets result and busy together
        advice = self.client.poll()
        frame_id, stamp = self._in_flight
        if advice is not None:
            self._in_flight = None
            self.counters.cloud_answers += 1
            return reply_from_advice(advice)
        if done:
            self._in_flight = None
            self.counters.cloud_failures += 1
            error = self.client.last_error or "no answer"
            return {"status": "error", "frame_id": frame_id, "stamp_ns": stamp, "error": error}
        return None

    def close(self) -> None:
        self.client.close()


# --- faults -------------------------------------------------------------------------------------------


class FaultBackend(Backend):
    """Test double around the real deliberative backend, named as such: injects one named fault.

    slow: answers after 5 s (past the vehicle's deadline); error: fails (UNAVAILABLE, no fallback);
    garbage: a pass along waypoints 500 m off the road; stale: valid for 0 s; unsafe: always a pass
    through the oncoming lane, whatever the traffic, and a walk_to that goes on through the object walked
    to. (down / kill are server-level: no server / stopped.)
    """

    def __init__(self, mode: str, inner: Backend | None = None, slow_s: float = 5.0):
        from cloud_reasoner.backends.deliberative import DeliberativeBackend

        if mode not in ("slow", "error", "garbage", "stale", "unsafe", "kill", "none"):
            raise ValueError(f"unknown backend fault {mode!r}")
        self.mode = mode
        self.inner = inner or DeliberativeBackend()
        self.slow_s = slow_s
        self.name = f"fault-{mode}"
        self.blocking = mode == "slow"
        self.on_answer = None  # kill: called after the first answer

    def reason(self, query: ReasonQuery, timeout_s: float) -> Advice:
        import numpy as np

        if self.mode == "slow":
            time.sleep(self.slow_s)
        if self.mode == "error":
            raise BackendError("injected fault: backend error")
        advice = self.inner.reason(query, timeout_s)
        if self.mode == "garbage":
            far = np.array([[query.x + 500.0 + 2 * k, query.y - 500.0] for k in range(10)])
            advice = dataclasses.replace(advice, action=MetaAction.PASS_LEFT_ONCOMING, waypoints=far)
        elif self.mode == "stale":
            advice = dataclasses.replace(advice, valid_for_s=0.0)
        elif self.mode == "unsafe" and query.oncoming_lane_offsets:
            # straight down the oncoming lane centre for 40 m, ignoring traffic
            c, s = np.cos(query.yaw), np.sin(query.yaw)
            off = max(query.oncoming_lane_offsets)
            t = np.arange(2.0, 42.0, 2.0)
            wp = np.stack([query.x + c * t - s * off, query.y + s * t + c * off], axis=1)
            advice = dataclasses.replace(
                advice, action=MetaAction.PASS_LEFT_ONCOMING, waypoints=wp, valid_for_s=2.0, target_speed=5.0
            )
        elif self.mode == "unsafe" and advice.action == MetaAction.WALK_TO and len(advice.waypoints):
            # on through the object walked to and 3 m beyond it, as if it were not there
            wp = np.asarray(advice.waypoints, dtype=float)
            end, start = wp[-1], np.array([query.x, query.y])
            u = (end - start) / max(float(np.hypot(*(end - start))), 1e-9)
            beyond = end + np.outer(np.arange(1.0, 5.0), u)
            advice = dataclasses.replace(advice, waypoints=np.vstack([wp, beyond]))
        if self.on_answer is not None:
            callback, self.on_answer = self.on_answer, None
            callback()
        return dataclasses.replace(advice, backend=self.name)


# --- the embedded local service -------------------------------------------------------------------


class EmbeddedCloud:
    """A real Reasoner server on loopback for one scenario run: temp state dir, one vehicle token.

    fault: None or one of CLOUD_FAULTS. 'down' starts no server (the target is a closed port); 'kill'
    stops the server right after its first answer.
    """

    def __init__(self, fault: str | None = None, vehicle_id: str = VEHICLE_ID):
        if fault is not None and fault not in CLOUD_FAULTS:
            raise ValueError(f"unknown cloud fault {fault!r}; valid: {', '.join(CLOUD_FAULTS)}")
        self.fault = fault
        self.vehicle_id = vehicle_id
        self.token = ""
        self.target = ""
        self._state = tempfile.mkdtemp(prefix="fleetpilot_cloud_")
        self._server = None

    def start(self) -> EmbeddedCloud:
        from cloud_reasoner.config import load_config
        from cloud_reasoner.server import ServerThread
        from cloud_reasoner.vehicle_store import VehicleStore

        store = VehicleStore(self._state)
        self.token = store.add_vehicle(self.vehicle_id)
        store.close()
        if self.fault == "down":
            import socket

            with socket.socket() as sock:  # a port nobody listens on
                sock.bind(("127.0.0.1", 0))
                self.target = f"127.0.0.1:{sock.getsockname()[1]}"
            return self
        env = {
            "FLEETPILOT_CLOUD_SERVER_STATE_DIR": self._state,
            "FLEETPILOT_CLOUD_SERVER_LISTEN": "127.0.0.1:0",
            "FLEETPILOT_CLOUD_SERVER_SHUTDOWN_GRACE_S": "0",
            "FLEETPILOT_CLOUD_SERVER_LOG_LEVEL": os.environ.get(
                "FLEETPILOT_CLOUD_SERVER_LOG_LEVEL", "warning"
            ),
            "FLEETPILOT_CLOUD_SERVER_REFLECTION": "false",
            "FLEETPILOT_CLOUD_FLEET_ENABLED": "false",  # this stand-in cloud answers System 2 only
        }
        backend = None
        if self.fault is not None:
            # no fallback and a long server budget: the fault reaches the vehicle as it is
            env["FLEETPILOT_CLOUD_REASONER_FALLBACK"] = ""
            env["FLEETPILOT_CLOUD_REASONER_TIMEOUT_S"] = "30"
            backend = FaultBackend(self.fault)
        self._server = ServerThread(load_config(env=env), backend=backend).start()
        self.target = self._server.target
        if self.fault == "kill":
            backend.on_answer = lambda: threading.Thread(target=self._kill, daemon=True).start()
        return self

    def _kill(self) -> None:
        time.sleep(0.05)  # let the first answer go out
        if self._server is not None:
            self._server.stop()

    def client(self, deadline_s: float = 2.0) -> ReasonerClient:
        return ReasonerClient(self.target, self.token, self.vehicle_id, deadline_s=deadline_s)

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None
        shutil.rmtree(self._state, ignore_errors=True)

    def __enter__(self) -> EmbeddedCloud:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
