"""Top-down picture of a run (matplotlib, headless): the map, the planned route, the driven path, the
other road users' tracks, and the run's key moments and events, each labelled.

Reading it should not need the code: every layer has a plain-English legend name and a colour no
other layer has; the labels are placed so that none covers another label or any marker
(`place_labels`); the legend sits outside the map.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

# Map layers (sim/map_export.py, sim/humanoid_sim.py): key → legend name, colour, how to draw it.
# "line": polylines; "area": closed polygons, filled; "point": one marker per point; "spot": one
# marker at a polygon's centre (a traffic light's pole is too small to see at the map's scale).
MAP_LAYERS: dict[str, tuple[str, str, str]] = {
    "lane_centerlines": ("lane centre", "#c7c7c7", "line"),
    "road_edges": ("road edge", "#525252", "line"),
    "edges": ("yard edge", "#525252", "line"),
    "crosswalks": ("crosswalk", "#9ecae1", "area"),
    "parking_spot": ("parking spot", "#a1d99b", "area"),
    "obstacles": ("obstacle", "#8c564b", "area"),
    "goals": ("goal area", "#fdd0a2", "area"),
    "stop_lines": ("stop line", "#b2182b", "line"),
    "traffic_lights": ("traffic light", "#fd8d3c", "spot"),
    "pedestrian_paths": ("pedestrian crossing path", "#f1b6da", "line"),
    "start": ("start", "#1b7837", "point"),
    "goal": ("goal", "#000000", "point"),
}
ROUTE = ("planned route", "#969696")
DRIVEN = ("driven path", "#2171b5")
# Other road users' tracks (sim/key_moments.py names them "<kind> <n>"): kind → legend name, colour.
TRACKS: dict[str, tuple[str, str]] = {
    "pedestrian": ("pedestrian", "#ae017e"),
    "lead": ("lead vehicle", "#ff7f00"),
    "oncoming": ("oncoming car", "#6a51a3"),
    "humanoid": ("humanoid", "#35978f"),
}
# Metrics events (sim/metrics.py): kind → legend name, marker, colour.
EVENTS: dict[str, tuple[str, str, str]] = {
    "collision": ("collision", "X", "#ff0000"),
    "red_light_violation": ("ran a red light", "s", "#f768a1"),
    "goal_reached": ("goal reached", "*", "#41ab5d"),
    "safe_stop": ("safe stop", "h", "#e6550d"),
    "parked": ("parked", "P", "#ffd92f"),
    "drive_request": ("owner's drive request", "^", "#542788"),
}
OTHER_EVENT = ("event", "o", "#636363")
MOMENT_MARKER = "o"
MARKER_SIZE = 8.0  # points
LABEL_SIZE = 7.0
# Where a label may go relative to its marker, in points, tried in this order (near first).
_DIRECTIONS = [(1, 1), (1, -1), (-1, 1), (-1, -1), (0, 1.4), (0, -1.4), (1.4, 0), (-1.4, 0)]
_DISTANCES = [10.0, 22.0, 38.0, 60.0, 90.0]


@dataclass
class RunFigure:
    """The drawn figure and what a test checks: the labels, the markers' boxes, the legend entries."""

    fig: Any
    ax: Any
    labels: list = field(default_factory=list)  # matplotlib Annotation objects
    marker_boxes: list = field(default_factory=list)  # display-space Bbox of every labelled marker
    legend: list[tuple[str, str]] = field(default_factory=list)  # (name, colour) per legend entry
    handles: list = field(default_factory=list)  # (matplotlib artist, name) behind each legend entry


def _as_xy(item) -> np.ndarray | None:
    arr = np.asarray(item, dtype=float)
    if arr.ndim == 2 and arr.shape[1] >= 2 and len(arr) >= 1:
        return arr[:, :2]
    return None


def _track_style(name: str) -> tuple[str, str]:
    return TRACKS.get(name.split()[0], (name, "#737373"))


def render_run(
    *,
    map_geometry: dict,
    route: np.ndarray,
    trajectory: np.ndarray,
    result: dict,
    tracks: dict[str, np.ndarray] | None = None,
    moments: list[dict] | None = None,
) -> RunFigure:
    """map_geometry: key → list of polylines/polygons ([[x, y], ...], or dicts with them under "points");
    trajectory: (N, 3) t, x, y; tracks: actor name → (N, 3) t, x, y; moments: sim/key_moments.py.

    With key moments or events, a second panel shows them close up (a route is 100-200 m long, a stop
    line a few metres from the car): what falls in it is labelled there, the rest on the overview."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    moments = list(moments or [])
    # what the close-up frames: the moments, where the ego was at them, and the events other than the
    # goal (a stop, a collision, parking: the goal is the route's end, usually far from the rest)
    focus = [(m["x"], m["y"]) for m in moments]
    focus += [(m["ego_x"], m["ego_y"]) for m in moments if m.get("ego_x") is not None]
    focus += [(e["x"], e["y"]) for e in result.get("events", []) if e.get("kind") != "goal_reached"]
    focus += _obstacles_near(map_geometry, focus)  # what the car stopped for belongs in the picture
    panels = 2 if focus else 1
    fig, axes = plt.subplots(1, panels, figsize=(8 * panels + 1.5, 8), dpi=100, squeeze=False)
    overview = axes[0][0]
    out = RunFigure(fig, overview)
    anchors = _draw(overview, out, map_geometry, route, trajectory, result, tracks or {}, moments)
    verdict = "success" if result.get("success") else "failed"
    overview.set_title(
        f"{result.get('scenario')} seed {result.get('seed')}: {verdict} · "
        f"collisions {result.get('collisions')} · route {result.get('route_completion', 0):.2f}"
    )
    groups = [(overview, anchors)]
    if focus:
        close = axes[0][1]
        _draw(close, RunFigure(fig, close), map_geometry, route, trajectory, result, tracks or {}, moments)
        x0, y0, x1, y1 = _window(focus)
        close.set_xlim(x0, x1)
        close.set_ylim(y0, y1)
        close.set_title("key moments, close up")
        overview.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, ec="#252525", lw=0.8, ls="--"))
        inside = [a for a in anchors if x0 <= a[0] <= x1 and y0 <= a[1] <= y1]
        groups = [(overview, [a for a in anchors if a not in inside]), (close, inside)]
    for ax, _ in groups:
        # the close-up's window is square and fixed: its box adapts, not its limits
        ax.set_aspect("equal", adjustable="box" if ax is not overview else "datalim")
        ax.set_xlabel("x [m]")
        ax.set_ylabel("y [m]")
    handles = [h for h, _ in out.handles]
    legend_at = {"loc": "upper left", "bbox_to_anchor": (1.01, 1.0)}  # outside the map: it covers nothing
    axes[0][-1].legend(handles=handles, fontsize=7, frameon=False, **legend_at)
    fig.tight_layout()
    fig.canvas.draw()  # fixes the data limits (equal aspect) before labels are placed in display space
    for ax, group in groups:
        labels, boxes = place_labels(ax, group)
        out.labels += labels
        out.marker_boxes += boxes
    return out


CLOSE_UP_MARGIN_M = 12.0
CLOSE_UP_MIN_SPAN_M = 30.0


def _window(points: list[tuple[float, float]]) -> tuple[float, float, float, float]:
    xy = np.asarray(points, dtype=float)
    lo, hi = xy.min(axis=0) - CLOSE_UP_MARGIN_M, xy.max(axis=0) + CLOSE_UP_MARGIN_M
    span = max(float((hi - lo).max()), CLOSE_UP_MIN_SPAN_M)
    centre = 0.5 * (lo + hi)
    return centre[0] - 0.5 * span, centre[1] - 0.5 * span, centre[0] + 0.5 * span, centre[1] + 0.5 * span


def _obstacles_near(map_geometry: dict, points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Corners of the obstacles with a corner within CLOSE_UP_MARGIN_M of one of the points."""
    if not points:
        return []
    near = []
    anchors = np.asarray(points, dtype=float)
    for item in map_geometry.get("obstacles", []):
        xy = _as_xy(item.get("points") if isinstance(item, dict) else item)
        if xy is None:
            continue
        distance = np.linalg.norm(xy[:, None, :] - anchors[None, :, :], axis=2).min()
        if distance <= CLOSE_UP_MARGIN_M:
            near += [(float(x), float(y)) for x, y in xy]
    return near


def _draw(ax, out: RunFigure, map_geometry, route, trajectory, result, tracks, moments) -> list:
    """Every layer, track, event and moment marker on one axes; returns the label anchors
    (x, y, text) in time order. out collects the legend (one entry per name, first drawn wins)."""

    def entry(handle, name: str, colour: str) -> None:
        if name not in [n for n, _ in out.legend]:
            handle.set_label(name)
            out.handles.append((handle, name))
            out.legend.append((name, colour))

    for key, items in map_geometry.items():
        name, colour, kind = MAP_LAYERS.get(key, (key.replace("_", " "), "#bdbdbd", "line"))
        for item in items if isinstance(items, list) else []:
            xy = _as_xy(item.get("points") if isinstance(item, dict) else item)
            if xy is None:
                continue
            if kind == "area":
                (h,) = ax.fill(xy[:, 0], xy[:, 1], color=colour, alpha=0.6, lw=0.8, zorder=2)
            elif kind in ("point", "spot"):
                xy = xy[:-1].mean(axis=0, keepdims=True) if kind == "spot" and len(xy) > 1 else xy
                (h,) = ax.plot(xy[:, 0], xy[:, 1], "D", color=colour, ms=6, zorder=5, ls="none")
            else:
                wide = key == "stop_lines"
                style = ":" if key in ("pedestrian_paths", "lane_centerlines") else "-"
                (h,) = ax.plot(xy[:, 0], xy[:, 1], style, color=colour, lw=2.5 if wide else 0.9, zorder=3)
            entry(h, name, colour)
    route = np.asarray(route, dtype=float)
    (h,) = ax.plot(route[:, 0], route[:, 1], "--", color=ROUTE[1], lw=1.2, zorder=3)
    entry(h, *ROUTE)
    trajectory = np.asarray(trajectory, dtype=float)
    if len(trajectory):
        (h,) = ax.plot(trajectory[:, 1], trajectory[:, 2], color=DRIVEN[1], lw=2.0, zorder=4.5)
        entry(h, *DRIVEN)
    for name, track in sorted(tracks.items()):
        track = np.asarray(track, dtype=float)
        if len(track) == 0:
            continue
        label, colour = _track_style(name)
        (h,) = ax.plot(track[:, 1], track[:, 2], "-", color=colour, lw=3.0, alpha=0.5, zorder=4)
        entry(h, label, colour)

    anchors: list[tuple[float, float, str]] = []
    timed = [(e["t"], 0, e) for e in result.get("events", [])] + [(m["t"], 1, m) for m in moments]
    for _, is_moment, item in sorted(timed, key=lambda row: (row[0], row[1])):
        if not is_moment:
            name, marker, colour = EVENTS.get(item.get("kind", ""), OTHER_EVENT)
            size = MARKER_SIZE + 3
            (h,) = ax.plot(item["x"], item["y"], marker, color=colour, ms=size, zorder=7, ls="none")
            entry(h, name, colour)
            anchors.append((item["x"], item["y"], f"{name}, {item['t']:.1f} s"))
            continue
        colour = DRIVEN[1] if item["who"] == "ego" else _track_style(item["who"])[1]
        if item.get("ego_x") is not None:  # an actor's moment: where the ego was then, linked to it
            link = ([item["x"], item["ego_x"]], [item["y"], item["ego_y"]])
            ax.plot(*link, ":", color="#252525", lw=0.8, zorder=6)
            ax.plot(item["ego_x"], item["ego_y"], "o", mfc="white", mec=DRIVEN[1], ms=6, zorder=7)
        ring = {"mfc": "white", "mec": colour, "mew": 2.0, "ms": MARKER_SIZE, "zorder": 7}
        ax.plot(item["x"], item["y"], MOMENT_MARKER, **ring)
        anchors.append((item["x"], item["y"], item["label"]))
    return anchors


def place_labels(ax, anchors: list[tuple[float, float, str]]) -> tuple[list, list]:
    """Put each label next to its marker where it covers no other label, no marker and stays inside the
    axes: the nearest free spot of a fixed list, tried in order (deterministic). If none is free, the
    spot that overlaps least. Returns the annotations and the markers' display boxes."""
    from matplotlib.text import Text
    from matplotlib.transforms import Bbox

    fig = ax.figure
    renderer = fig.canvas.get_renderer()
    points = fig.dpi / 72.0
    radius = 0.5 * (MARKER_SIZE + 3) * points
    markers = []
    for x, y, _ in anchors:
        px, py = ax.transData.transform((x, y))
        markers.append(Bbox.from_extents(px - radius, py - radius, px + radius, py + radius))
    frame = ax.get_window_extent(renderer)
    placed: list = []
    boxes: list = []
    for x, y, text in anchors:
        best = None
        for distance in _DISTANCES:
            for dx, dy in _DIRECTIONS:
                offset = (dx * distance, dy * distance)
                ha = "left" if dx > 0 else "right" if dx < 0 else "center"
                va = "bottom" if dy > 0 else "top" if dy < 0 else "center"
                note = ax.annotate(
                    text, (x, y), xytext=offset, textcoords="offset points", ha=ha, va=va,
                    fontsize=LABEL_SIZE, zorder=8,
                    bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "#bdbdbd", "alpha": 0.9},
                    arrowprops={"arrowstyle": "-", "color": "#737373", "lw": 0.6},
                )  # fmt: skip
                note.update_positions(renderer)  # else the text sits at its offset from the origin
                # the text alone (an Annotation's own extent includes the arrow to its marker)
                box = Text.get_window_extent(note, renderer).padded(3.0 * points)
                cost = sum(_overlap(box, other) for other in boxes + markers)
                cost += _outside(box, frame)
                if best is None or cost < best[0]:
                    if best is not None:
                        best[1].remove()
                    best = (cost, note, box)
                else:
                    note.remove()
                if cost == 0.0:
                    break
            if best is not None and best[0] == 0.0:
                break
        assert best is not None
        placed.append(best[1])
        boxes.append(best[2])
    return placed, markers


def _overlap(a, b) -> float:
    w = min(a.x1, b.x1) - max(a.x0, b.x0)
    h = min(a.y1, b.y1) - max(a.y0, b.y0)
    return w * h if w > 0 and h > 0 else 0.0


def _outside(box, frame) -> float:
    inside_w = max(0.0, min(box.x1, frame.x1) - max(box.x0, frame.x0))
    inside_h = max(0.0, min(box.y1, frame.y1) - max(box.y0, frame.y0))
    return box.width * box.height - inside_w * inside_h


def plot_run(
    path: Path,
    *,
    map_geometry: dict,
    route: np.ndarray,
    trajectory: np.ndarray,
    result: dict,
    tracks: dict[str, np.ndarray] | None = None,
    moments: list[dict] | None = None,
) -> Path:
    """render_run, written to path as PNG."""
    import matplotlib.pyplot as plt

    drawn = render_run(
        map_geometry=map_geometry, route=route, trajectory=trajectory, result=result, tracks=tracks,
        moments=moments,
    )  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    drawn.fig.savefig(path, bbox_inches="tight")
    plt.close(drawn.fig)
    return path
