"""`humanoid_task`: the humanoid is told in text to walk to one of several coloured boxes.

Per seed: 3-4 boxes in distinct colours stand 5-10 m in front of the robot (within the head camera's
view at the start), and one sentence names one of them ("walk to the red box", "go to the blue
crate", ...). The stack is given the sentence (the sim node's `task/text`) and a *hold* route that
keeps the robot where it stands (a route says nothing of where the box is): only System 2, reading the
sentence against the objects perception detected, can tell the planner where to go.

The layout keeps the straight line from the start to the named box clear of the other boxes by
CLEARANCE + WALK_DRIFT_M, and the distractors apart from each other, so a correct answer is always
walkable.

Ground truth (sim.humanoid_agent): the box counts as reached when the body position comes within
REACH_M of its footprint circle; success = reached with no contact with any box (the named one
included). When System 2 cannot be asked (no cloud, faults), success is impossible by design and the
run is judged on `safe_stop`: no contact, not fallen for good, and the body stayed within WAIT_RADIUS_M
of its start (it waited instead of wandering off).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sim.humanoid_world import CLEARANCE, YardObstacle, YardSpec, _point_segment_distance
from sim.seeding import STREAM_LAYOUT, rng_for

# Saturated colours that perception.objects.colour_name names unambiguously under the yard's light.
TASK_COLOURS: dict[str, tuple[float, float, float, float]] = {
    "red": (0.85, 0.08, 0.08, 1.0),
    "blue": (0.10, 0.25, 0.90, 1.0),
    "green": (0.10, 0.65, 0.15, 1.0),
    "yellow": (0.95, 0.85, 0.10, 1.0),
}
# {colour} is filled in; the nouns are those the deliberative backend knows for a box.
PHRASES = (
    "walk to the {colour} box",
    "go to the {colour} box",
    "please walk over to the {colour} box",
    "head towards the {colour} cube",
    "navigate to the {colour} crate",
)
RANGE_M = (4.5, 11.0)  # from the start to a box centre
# The robot waits turning in circles (its policy cannot stand) and its walk swings from side to side:
# distractors keep this much more than the yard's leg CLEARANCE from the straight walk to the named box.
WALK_DRIFT_M = 1.0
BEARING_MAX = math.radians(24.0)  # off the start heading: inside the head camera's 60 deg view
REACH_M = 1.2  # body position within this of the named box's footprint circle: reached
WAIT_RADIUS_M = 3.0  # a run without System 2 must stay this close to its start to count as a safe wait
TIME_LIMIT_S = 45.0


@dataclass(frozen=True)
class TaskSpec:
    yard: YardSpec  # goals = (the named box's centre,), goal_radius = its radius + REACH_M
    text: str
    target_index: int  # into yard.obstacles
    colour: str

    @property
    def target(self) -> YardObstacle:
        return self.yard.obstacles[self.target_index]

    def hold_route(self) -> dict:
        """The navigation route the stack gets: 3 m along the start heading with its goal at the start,
        so System 1 alone holds its place (planning.types.RouteMap as a dict)."""
        from planning.types import RouteMap
        from sim.humanoid_agent import resample_chain

        x, y, yaw = self.yard.start
        end = (x + 3.0 * math.cos(yaw), y + 3.0 * math.sin(yaw))
        return RouteMap(
            centerline=resample_chain([(x, y), end]),
            lane_width=3.0,
            speed_limit=2.5,
            adjacent_lane_offsets=(),
            stop_lines=(),
            goal_s=0.0,
        ).to_dict()


def build_task_spec(seed: int) -> TaskSpec:
    rng = rng_for(seed, STREAM_LAYOUT)
    start = (float(rng.uniform(-3, 3)), float(rng.uniform(-3, 3)), float(rng.uniform(-math.pi, math.pi)))
    sx, sy, _ = start
    n_boxes = int(rng.integers(3, 5))
    colours = [str(c) for c in rng.permutation(list(TASK_COLOURS))[:n_boxes]]
    target_index = int(rng.integers(0, n_boxes))
    # The named box first; then the others, each apart from the rest and clear of the straight walk
    # to the named box, so a correct answer is always walkable. A distractor that finds no room is
    # left out (the sentence still names a box that is there).
    order = [target_index] + [i for i in range(n_boxes) if i != target_index]
    placed: dict[int, YardObstacle] = {}
    line = None
    for i in order:
        for _attempt in range(500):
            box = _draw_box(rng, start, TASK_COLOURS[colours[i]])
            if not all(_apart(box, q) for q in placed.values()):
                continue
            clear = CLEARANCE + WALK_DRIFT_M + box.radius
            if line is not None and _point_segment_distance(box.x, box.y, *line) < clear:
                continue
            placed[i] = box
            break
        if i == target_index:
            if i not in placed:  # pragma: no cover - the first box always fits
                raise RuntimeError(f"task seed {seed}: could not place the named box")
            line = ((sx, sy), (placed[i].x, placed[i].y))
    kept = sorted(placed)
    boxes = tuple(placed[i] for i in kept)
    target = placed[target_index]
    text = PHRASES[int(rng.integers(0, len(PHRASES)))].format(colour=colours[target_index])
    yard = YardSpec(
        seed=int(seed),
        start=tuple(round(v, 4) for v in start),
        goals=((target.x, target.y),),
        obstacles=boxes,
        goal_radius=round(target.radius + REACH_M, 3),
        time_limit_s=TIME_LIMIT_S,
        legs=(round(math.dist((sx, sy), (target.x, target.y)), 3),),
    )
    return TaskSpec(yard=yard, text=text, target_index=kept.index(target_index), colour=colours[target_index])


def _draw_box(rng, start, rgba) -> YardObstacle:
    sx, sy, syaw = start
    r = float(rng.uniform(*RANGE_M))
    b = syaw + float(rng.uniform(-BEARING_MAX, BEARING_MAX))
    size = rng.uniform(0.5, 0.9, 2)
    return YardObstacle(
        "box",
        round(sx + r * math.cos(b), 3),
        round(sy + r * math.sin(b), 3),
        round(float(rng.uniform(-math.pi, math.pi)), 4),
        round(float(size[0]), 3),
        round(float(size[1]), 3),
        round(float(rng.uniform(0.5, 0.9)), 3),
        rgba,
    )


def _apart(a: YardObstacle, b: YardObstacle) -> bool:
    """Boxes far enough apart to be seen (and named) as separate objects."""
    return math.dist((a.x, a.y), (b.x, b.y)) > a.radius + b.radius + 1.5
