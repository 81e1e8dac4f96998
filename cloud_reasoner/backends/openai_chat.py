"""An OpenAI-compatible chat-completions backend (xAI's Grok API, vLLM, llama.cpp server, ...).

The model gets a compact JSON summary of the request and must answer with JSON matching
ADVICE_SCHEMA (sent as `response_format` json_schema, strict). The answer is parsed strictly:
malformed JSON, a schema violation, an unknown action, an object id that was not in the request,
waypoints far from the vehicle, or an answer after the deadline raise BackendError: rejected, never
obeyed. Standard library HTTP only (urllib), so there is nothing extra to install.
"""

from __future__ import annotations

import json
import math
import time
import urllib.error
import urllib.request

import numpy as np

from cloud_reasoner.backends.base import Backend, BackendError
from cloud_reasoner.query import Advice, MetaAction, ReasonQuery

ACTION_NAMES = [a.name.lower() for a in MetaAction if a != MetaAction.UNSPECIFIED]
MAX_WAYPOINTS = 64
MAX_WAYPOINT_DISTANCE_M = 200.0

ADVICE_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": [
        "action",
        "waypoints",
        "target_speed",
        "valid_for_s",
        "confidence",
        "rationale",
        "target_object_id",
    ],
    "properties": {
        "action": {"type": "string", "enum": ACTION_NAMES},
        "waypoints": {
            "type": "array",
            "maxItems": MAX_WAYPOINTS,
            "items": {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2},
        },
        "target_speed": {"type": "number", "minimum": 0},
        "valid_for_s": {"type": "number", "minimum": 0, "maximum": 30},
        "confidence": {"type": "number", "minimum": 0, "maximum": 1},
        "rationale": {"type": "string", "maxLength": 300},
        "target_object_id": {"type": "string"},
    },
}

SYSTEM_PROMPT = (
    "You advise an autonomous vehicle's on-board planner (REP-103 frames, SI units; all positions are in "
    "the vehicle's odom frame). The planner keeps the final say and checks your advice for safety. "
    "Choose one action: " + ", ".join(ACTION_NAMES) + ". pass_left_oncoming only if the oncoming lane has a "
    "long enough gap. walk_to needs target_object_id of a listed object. Answer only with JSON matching "
    "the schema; waypoints are [x, y] pairs in metres."
)


def query_summary(q: ReasonQuery) -> dict:
    """What the model sees: small, rounded, the BEV summarised (a language model cannot read raw cells)."""
    summary = {
        "embodiment": q.embodiment.name.lower(),
        "question": q.question.name.lower(),
        "text": q.text,
        "ego": {"x": round(q.x, 2), "y": round(q.y, 2), "yaw": round(q.yaw, 3), "speed": round(q.speed, 2)},
        "body": {"length": q.length, "width": q.width, "max_speed": q.max_speed},
        "route": {
            "centerline_every_5": np.round(q.centerline[::5], 1).tolist(),
            "lane_width": q.lane_width,
            "speed_limit": q.speed_limit,
            "adjacent_lane_offsets": list(q.adjacent_lane_offsets),
            "oncoming_lane_offsets": list(q.oncoming_lane_offsets),
        },
        "objects": [
            {
                "id": o.object_id,
                "label": o.label,
                "color": o.color,
                "x": round(o.x, 2),
                "y": round(o.y, 2),
                "vx": round(o.vx, 2),
                "vy": round(o.vy, 2),
                "length": o.length,
                "width": o.width,
            }
            for o in q.objects
        ],
    }
    if q.grid is not None:
        counts = np.bincount(q.grid.classes.ravel(), minlength=256)
        summary["bev_cells"] = {"obstacle": int(counts[4:7].sum()), "unknown": int(counts[255])}
    return summary


def parse_advice(content: str, q: ReasonQuery, backend_name: str) -> Advice:
    """Strictly validate the model's JSON; raise BackendError on anything unexpected."""
    try:
        data = json.loads(content)
    except (json.JSONDecodeError, TypeError) as exc:
        raise BackendError(f"model output is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise BackendError("model output is not a JSON object")
    props = ADVICE_SCHEMA["properties"]
    unknown = set(data) - set(props)
    missing = set(ADVICE_SCHEMA["required"]) - set(data)
    if unknown or missing:
        raise BackendError(f"model output keys wrong: unknown {sorted(unknown)}, missing {sorted(missing)}")
    action = data["action"]
    if not isinstance(action, str) or action not in ACTION_NAMES:
        raise BackendError(f"model output action {action!r} is not one of {ACTION_NAMES}")

    def number(key: str, lo: float, hi: float) -> float:
        v = data[key]
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or not lo <= v <= hi:
            raise BackendError(f"model output {key} = {v!r} is not a number in [{lo}, {hi}]")
        return float(v)

    target_speed = number("target_speed", 0.0, min(q.max_speed, q.speed_limit) + 1e-9)
    valid_for_s = number("valid_for_s", 0.0, 30.0)
    confidence = number("confidence", 0.0, 1.0)
    rationale, target = data["rationale"], data["target_object_id"]
    if not isinstance(rationale, str) or len(rationale) > 300 or not isinstance(target, str):
        raise BackendError("model output rationale/target_object_id must be strings (rationale <= 300 chars)")
    wps = data["waypoints"]
    if not isinstance(wps, list) or len(wps) > MAX_WAYPOINTS:
        raise BackendError(f"model output waypoints must be a list of at most {MAX_WAYPOINTS} [x, y] pairs")
    for p in wps:
        if (
            not isinstance(p, list)
            or len(p) != 2
            or not all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in p)
        ):
            raise BackendError(f"model output waypoint {p!r} is not a finite [x, y] pair")
    waypoints = np.array(wps, dtype=float).reshape(-1, 2)
    if (
        len(waypoints)
        and np.hypot(waypoints[:, 0] - q.x, waypoints[:, 1] - q.y).max() > MAX_WAYPOINT_DISTANCE_M
    ):
        raise BackendError(
            f"model output waypoints are more than {MAX_WAYPOINT_DISTANCE_M} m from the vehicle"
        )
    meta = MetaAction[action.upper()]
    if meta == MetaAction.WALK_TO and target not in {o.object_id for o in q.objects}:
        raise BackendError(f"model output walk_to target {target!r} is not a detected object")
    return Advice(
        action=meta,
        waypoints=waypoints,
        target_speed=target_speed,
        valid_for_s=valid_for_s,
        confidence=confidence,
        rationale=rationale,
        backend=backend_name,
        target_object_id=target,
    )


class OpenAIChatBackend(Backend):
    blocking = True  # waits on HTTP: the server runs it in a worker thread

    def __init__(self, base_url: str, model: str, api_key: str = "", temperature: float = 0.0):
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"openai base_url must start with http:// or https://, got {base_url!r}")
        if not model:
            raise ValueError("openai model must not be empty")
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self.api_key = api_key
        self.temperature = temperature
        self.name = f"openai:{model}"

    def request_body(self, q: ReasonQuery) -> dict:
        return {
            "model": self.model,
            "temperature": self.temperature,
            "messages": [
                {"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": json.dumps(query_summary(q), separators=(",", ":"))},
            ],
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "fleetpilot_advice", "strict": True, "schema": ADVICE_SCHEMA},
            },
        }

    def reason(self, query: ReasonQuery, timeout_s: float) -> Advice:
        if not timeout_s > 0:
            raise BackendError("no time left for the model")
        started = time.monotonic()
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        body = json.dumps(self.request_body(query)).encode()
        request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=timeout_s) as resp:
                payload = resp.read(1 << 20)
        except urllib.error.HTTPError as exc:
            raise BackendError(f"model endpoint answered HTTP {exc.code}") from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            raise BackendError(f"model endpoint unreachable or too slow: {exc}") from None
        elapsed = time.monotonic() - started
        # urllib's timeout bounds each socket read, not the whole exchange: check the total ourselves.
        if elapsed > timeout_s:
            raise BackendError(f"model answered after {elapsed:.2f} s, deadline {timeout_s:.2f} s: rejected")
        try:
            content = json.loads(payload)["choices"][0]["message"]["content"]
        except (json.JSONDecodeError, KeyError, IndexError, TypeError):
            raise BackendError("endpoint response is not a chat completion") from None
        return parse_advice(content, query, self.name)
