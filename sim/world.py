"""Turns a ScenarioSpec into PyBullet bodies and keeps the body-id → Tag lookup.

Static visual-only geometry of one tag (road, markings, sidewalks) is grouped into few multi-shape
bodies: the tiny renderer's cost is per triangle, and per-body overhead dominates with many bodies.
Only things the ego can hit get collision shapes; the road surface is purely visual over a collision
plane, so the ego never "collides" with the road.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from contracts.embodiment import load as load_embodiment
from contracts.semantics import Tag
from sim._quiet_import import pybullet as p
from sim.appearance import LAMP_LIT, LAMP_OFF, Palette
from sim.layout import (
    LeadVehicleSpec,
    ObstacleSpec,
    OncomingVehicleSpec,
    PedestrianSpec,
    RoadSpec,
    ScenarioSpec,
)

# Heights of the stacked visual layers (top faces), far enough apart to avoid z-fighting at range.
Z_ROAD = 0.01
Z_MARKING = 0.02
Z_SIDEWALK = 0.03
MAX_SHAPES_PER_BODY = 120
MAX_QUADS_PER_BODY = 400
ROAD_PIECE = 10.0  # max quad length along the road, m (short quads = small screen bounding boxes)
MARKING_PIECE = 4.0
DASH_LEN, DASH_GAP = 3.0, 6.0
LINE_WIDTH = 0.18

# Car body: base_link at the rear-axle centre on the ground; its numbers are the car's embodiment file.
_CAR = load_embodiment("car")
CAR_LENGTH, CAR_WIDTH, CAR_HEIGHT = _CAR.length, _CAR.width, _CAR.height
CAR_REAR_OVERHANG = _CAR.rear_overhang
CAR_WHEELBASE = _CAR.wheelbase
CAR_CHASSIS_Z = (0.25, 0.8)
CAR_CABIN_X = (-0.7, 1.45)  # from base_link; the camera sits just in front of the cabin
# bonnet edge chosen so the 60 deg camera sees it in the bottom ~15% of the image (2.4 m with the old 90 deg)
HOOD_VISIBLE_TO_X, HOOD_TOP_Z = 2.8, 0.85


def yaw_quat(yaw: float) -> tuple[float, float, float, float]:
    return (0.0, 0.0, math.sin(0.5 * yaw), math.cos(0.5 * yaw))


@dataclass
class Box:
    center: tuple[float, float, float]
    half: tuple[float, float, float]
    yaw: float


def car_boxes() -> list[Box]:
    """Chassis plus cabin in the car's own frame (origin = rear axle centre on the ground)."""
    x_rear = -CAR_REAR_OVERHANG
    x_front = x_rear + CAR_LENGTH
    z0, z1 = CAR_CHASSIS_Z
    chassis = Box(
        (0.5 * (x_rear + x_front), 0.0, 0.5 * (z0 + z1)),
        (0.5 * CAR_LENGTH, 0.5 * CAR_WIDTH, 0.5 * (z1 - z0)),
        0,
    )
    cx0, cx1 = CAR_CABIN_X
    cabin = Box(
        (0.5 * (cx0 + cx1), 0.0, 0.5 * (z1 + CAR_HEIGHT)),
        (0.5 * (cx1 - cx0), 0.5 * CAR_WIDTH - 0.05, 0.5 * (CAR_HEIGHT - z1)),
        0,
    )
    return [chassis, cabin]


def ego_visual_boxes() -> list[Box]:
    """What the ego's own camera sees of it: only a short bonnet. Nobody else looks at the ego, and a
    full-length hood would fill a third of the vertical field of view (a real bonnet slopes away);
    this keeps the bottom ~15% of the image as EGO, like a dashcam. Collision uses car_boxes()."""
    z0, _ = CAR_CHASSIS_Z
    hood = Box(
        (0.5 * (CAR_CABIN_X[1] + HOOD_VISIBLE_TO_X), 0.0, 0.5 * (z0 + HOOD_TOP_Z)),
        (0.5 * (HOOD_VISIBLE_TO_X - CAR_CABIN_X[1]), 0.5 * CAR_WIDTH, 0.5 * (HOOD_TOP_Z - z0)),
        0.0,
    )
    return [car_boxes()[1], hood]


class World:
    def __init__(self, client: int, spec: ScenarioSpec, palette: Palette):
        self.client = client
        self.spec = spec
        self.palette = palette
        self.body_tags: dict[int, Tag] = {}
        self.collidable: list[int] = []  # bodies the ego can collide with
        self._colour_bodies: dict[str, list[int]] = {}
        p.setGravity(0, 0, -9.81, physicsClientId=client)
        self._build_ground()
        for road in spec.roads:
            self._build_road(road)
        self._build_stop_lines_and_crosswalks()
        self.obstacle_ids = [self._build_obstacle(o, i) for i, o in enumerate(spec.obstacles)]
        self.light_bodies = [self._build_light(i) for i in range(len(spec.lights))]
        self.pedestrian_ids = [self._build_pedestrian(ped, i) for i, ped in enumerate(spec.pedestrians)]
        self.lead_id = self._build_lead(spec.lead) if spec.lead is not None else None
        self.oncoming_ids = [self._build_oncoming(o, i) for i, o in enumerate(spec.oncoming)]
        self.ego_id = self._build_ego()
        self.light_states = ["" for _ in spec.lights]
        self._lut_cache: np.ndarray | None = None

    # ---- generic body helpers -------------------------------------------------------------------
    def _register(self, body: int, tag: Tag) -> int:
        self.body_tags[body] = tag
        self._lut_cache = None
        return body

    def _visual_boxes(self, boxes: list[Box], rgba, tag: Tag) -> list[int]:
        """Visual-only bodies holding many boxes (chunked; rgbaColors= crashed pybullet, so recolour)."""
        bodies = []
        for i in range(0, len(boxes), MAX_SHAPES_PER_BODY):
            chunk = boxes[i : i + MAX_SHAPES_PER_BODY]
            vs = p.createVisualShapeArray(
                shapeTypes=[p.GEOM_BOX] * len(chunk),
                halfExtents=[list(b.half) for b in chunk],
                visualFramePositions=[list(b.center) for b in chunk],
                visualFrameOrientations=[list(yaw_quat(b.yaw)) for b in chunk],
                physicsClientId=self.client,
            )
            body = p.createMultiBody(0, -1, vs, [0, 0, 0], physicsClientId=self.client)
            p.changeVisualShape(body, -1, rgbaColor=list(rgba), physicsClientId=self.client)
            bodies.append(self._register(body, tag))
        return bodies

    def _solid_boxes(
        self, boxes: list[Box], pos, yaw: float, rgba, tag: Tag, visual_boxes: list[Box] | None = None
    ) -> int:
        """One body with collision boxes (and the same visual boxes unless given), placed at pos/yaw."""
        vboxes = boxes if visual_boxes is None else visual_boxes
        c = self.client
        vs = p.createVisualShapeArray(
            shapeTypes=[p.GEOM_BOX] * len(vboxes),
            halfExtents=[list(b.half) for b in vboxes],
            visualFramePositions=[list(b.center) for b in vboxes],
            visualFrameOrientations=[list(yaw_quat(b.yaw)) for b in vboxes],
            physicsClientId=c,
        )
        cs = p.createCollisionShapeArray(
            shapeTypes=[p.GEOM_BOX] * len(boxes),
            halfExtents=[list(b.half) for b in boxes],
            collisionFramePositions=[list(b.center) for b in boxes],
            collisionFrameOrientations=[list(yaw_quat(b.yaw)) for b in boxes],
            physicsClientId=c,
        )
        body = p.createMultiBody(0, cs, vs, list(pos), yaw_quat(yaw), physicsClientId=self.client)
        p.changeVisualShape(body, -1, rgbaColor=list(rgba), physicsClientId=self.client)
        self._register(body, tag)
        return body

    # ---- static world -----------------------------------------------------------------------------
    def _build_ground(self) -> None:
        plane = p.createCollisionShape(p.GEOM_PLANE, physicsClientId=self.client)
        cx, cy = np.mean(self.spec.route.points, axis=0)
        # visual slab with its top at z = 0, the collision plane's height; road layers sit above it
        vs = p.createVisualShape(
            p.GEOM_BOX,
            halfExtents=[400, 400, 0.05],
            visualFramePosition=[0, 0, -0.05],
            physicsClientId=self.client,
        )
        self.ground_id = p.createMultiBody(
            0, plane, vs, [float(cx), float(cy), 0.0], physicsClientId=self.client
        )
        p.changeVisualShape(
            self.ground_id, -1, rgbaColor=list(self.palette.ground), physicsClientId=self.client
        )
        self._register(self.ground_id, Tag.BACKGROUND)

    def _pieces_outside_junctions(self, road: RoadSpec, s0: float, s1: float) -> list[tuple[float, float]]:
        spans = [(s0, s1)]
        for j0, j1 in road.junctions:
            nxt = []
            for a, b in spans:
                if b <= j0 or a >= j1:
                    nxt.append((a, b))
                    continue
                if a < j0:
                    nxt.append((a, j0))
                if b > j1:
                    nxt.append((j1, b))
            spans = nxt
        return spans

    def _visual_quads(self, quads: list[np.ndarray], rgba, tag: Tag) -> list[int]:
        """Flat visual-only layers (road, markings, sidewalks) as two-triangle quads in one mesh body per
        chunk. Measured with the tiny renderer: a box costs 12 triangles whose screen bounding boxes are
        all scanned; long thin boxes (markings) made a 160x120 frame cost 17 ms, quads only the top face."""
        bodies = []
        for i in range(0, len(quads), MAX_QUADS_PER_BODY):
            chunk = quads[i : i + MAX_QUADS_PER_BODY]
            verts = np.concatenate(chunk, axis=0)
            idx = []
            for k in range(len(chunk)):
                b = 4 * k
                idx += [b, b + 1, b + 2, b, b + 2, b + 3]
            vs = p.createVisualShape(
                p.GEOM_MESH,
                vertices=verts.tolist(),
                indices=idx,
                normals=[[0.0, 0.0, 1.0]] * len(verts),
                physicsClientId=self.client,
            )
            body = p.createMultiBody(0, -1, vs, [0, 0, 0], physicsClientId=self.client)
            p.changeVisualShape(body, -1, rgbaColor=list(rgba), physicsClientId=self.client)
            bodies.append(self._register(body, tag))
        return bodies

    def _strip(
        self, road: RoadSpec, spans, lat0: float, lat1: float, z: float, max_len: float
    ) -> list[np.ndarray]:
        """Quads (4 corners, counter-clockwise from above) covering lateral band [lat0, lat1] of the road
        along the s spans; corners are offset points, so curved pieces join without gaps."""
        from sim.geometry import straight_pieces

        quads = []
        ref = road.reference
        for a, b in spans:
            for pa, pb in straight_pieces(ref, a, b, max_len=max_len):
                if pb - pa < 1e-3:
                    continue
                corners = [
                    ref.offset_point(pa, lat0),
                    ref.offset_point(pb, lat0),
                    ref.offset_point(pb, lat1),
                    ref.offset_point(pa, lat1),
                ]
                quads.append(np.array([[x, y, z] for x, y in corners]))
        return quads

    def _build_road(self, road: RoadSpec) -> None:
        length = road.reference.length
        hw = road.half_width
        self._visual_quads(
            self._strip(road, [(0.0, length)], -hw, hw, Z_ROAD, ROAD_PIECE), self.palette.road, Tag.ROAD
        )
        spans = self._pieces_outside_junctions(road, 0.0, length)
        sw = road.sidewalk_width
        side = self._strip(road, spans, hw, hw + sw, Z_SIDEWALK, ROAD_PIECE)
        side += self._strip(road, spans, -hw - sw, -hw, Z_SIDEWALK, ROAD_PIECE)
        self._visual_quads(side, self.palette.sidewalk, Tag.SIDEWALK)
        # solid edge lines just inside the road edges
        e = hw - 0.25
        half = 0.5 * LINE_WIDTH
        marks = self._strip(road, spans, e - half, e + half, Z_MARKING, MARKING_PIECE)
        marks += self._strip(road, spans, -e - half, -e + half, Z_MARKING, MARKING_PIECE)
        # dashed lines between neighbouring lanes
        offsets = sorted(road.lane_offsets)
        for lo, hi in itertools.pairwise(offsets):
            lat = 0.5 * (lo + hi)
            for a, b in spans:
                s = a + 1.0
                while s + DASH_LEN < b:
                    marks += self._strip(
                        road, [(s, s + DASH_LEN)], lat - half, lat + half, Z_MARKING, MARKING_PIECE
                    )
                    s += DASH_LEN + DASH_GAP
        self._visual_quads(marks, self.palette.marking, Tag.LANE_MARKING)

    def _build_stop_lines_and_crosswalks(self) -> None:
        marks: list[np.ndarray] = []
        for sl in self.spec.stop_lines:
            road = self.spec.roads[sl.road]
            marks += self._strip(
                road,
                [(sl.s - 0.2, sl.s + 0.2)],
                sl.lateral[0] + 0.2,
                sl.lateral[1] - 0.1,
                Z_MARKING,
                MARKING_PIECE,
            )
        for cw in self.spec.crosswalks:
            road = self.spec.roads[cw.road]
            hw = road.half_width
            lat = -hw + 0.5
            while lat + 0.5 < hw:
                marks += self._strip(
                    road,
                    [(cw.s - 0.5 * cw.depth, cw.s + 0.5 * cw.depth)],
                    lat,
                    lat + 0.5,
                    Z_MARKING,
                    MARKING_PIECE,
                )
                lat += 1.0
        if marks:
            self._visual_quads(marks, self.palette.marking, Tag.LANE_MARKING)

    # ---- actors -----------------------------------------------------------------------------------
    def _build_obstacle(self, o: ObstacleSpec, i: int) -> int:
        if o.kind == "parked_car":
            body = self._solid_boxes(
                car_boxes(), (0, 0, 0), 0.0, self.palette.vehicle[i % len(self.palette.vehicle)], Tag.VEHICLE
            )
            # place its footprint centre at (x, y)
            cx = o.x - (CAR_LENGTH / 2 - CAR_REAR_OVERHANG) * math.cos(o.yaw)
            cy = o.y - (CAR_LENGTH / 2 - CAR_REAR_OVERHANG) * math.sin(o.yaw)
            p.resetBasePositionAndOrientation(
                body, [cx, cy, 0.0], yaw_quat(o.yaw), physicsClientId=self.client
            )
        else:
            colours = self.palette.obstacle
            box = Box((0, 0, 0.5 * o.height), (0.5 * o.length, 0.5 * o.width, 0.5 * o.height), 0.0)
            body = self._solid_boxes([box], (o.x, o.y, 0.0), o.yaw, colours[i % len(colours)], Tag.OBSTACLE)
        self.collidable.append(body)
        return body

    def _build_light(self, i: int) -> dict:
        spec = self.spec.lights[i]
        c = self.client
        pole_h = spec.head_height + 0.7
        cs = p.createCollisionShape(p.GEOM_CYLINDER, radius=0.12, height=pole_h, physicsClientId=c)
        vs = p.createVisualShape(p.GEOM_CYLINDER, radius=0.12, length=pole_h, physicsClientId=c)
        pole = p.createMultiBody(0, cs, vs, [spec.x, spec.y, 0.5 * pole_h], physicsClientId=c)
        p.changeVisualShape(pole, -1, rgbaColor=list(self.palette.pole), physicsClientId=c)
        self._register(pole, Tag.TRAFFIC_LIGHT_POLE)
        self.collidable.append(pole)
        fx, fy = math.cos(spec.facing_yaw), math.sin(spec.facing_yaw)
        # head hangs in front of the pole, lamps on its face
        hx, hy = spec.x + 0.3 * fx, spec.y + 0.3 * fy
        head_half = (0.2, 0.28, 0.65)
        vs = p.createVisualShape(p.GEOM_BOX, halfExtents=list(head_half), physicsClientId=c)
        housing = p.createMultiBody(
            0, -1, vs, [hx, hy, spec.head_height], yaw_quat(spec.facing_yaw), physicsClientId=c
        )
        p.changeVisualShape(housing, -1, rgbaColor=list(self.palette.light_housing), physicsClientId=c)
        lamps = {}
        for k, state in enumerate(("red", "yellow", "green")):
            z = spec.head_height + 0.42 - 0.42 * k
            vs = p.createVisualShape(p.GEOM_BOX, halfExtents=[0.03, 0.19, 0.19], physicsClientId=c)
            lamp = p.createMultiBody(
                0, -1, vs, [hx + 0.21 * fx, hy + 0.21 * fy, z], yaw_quat(spec.facing_yaw), physicsClientId=c
            )
            lamps[state] = lamp
        bodies = {"housing": housing, **lamps}
        for b in bodies.values():
            self._register(b, Tag.TRAFFIC_LIGHT_RED)
        return bodies

    def set_light_state(self, i: int, state: str) -> None:
        """Relight lamp colours and retag the whole head by the lit lamp (a label, not a physics change)."""
        if self.light_states[i] == state:
            return
        self.light_states[i] = state
        tag = {
            "red": Tag.TRAFFIC_LIGHT_RED,
            "yellow": Tag.TRAFFIC_LIGHT_YELLOW,
            "green": Tag.TRAFFIC_LIGHT_GREEN,
        }[state]
        bodies = self.light_bodies[i]
        for lamp_state in ("red", "yellow", "green"):
            rgba = LAMP_LIT[lamp_state] if lamp_state == state else LAMP_OFF
            p.changeVisualShape(bodies[lamp_state], -1, rgbaColor=list(rgba), physicsClientId=self.client)
        for b in bodies.values():
            self._register(b, tag)

    def _build_pedestrian(self, ped: PedestrianSpec, i: int) -> int:
        c = self.client
        torso_h = ped.height - 0.26
        head_r = 0.12
        shapes = dict(
            shapeTypes=[p.GEOM_CYLINDER, p.GEOM_SPHERE], radii=[ped.radius, head_r], physicsClientId=c
        )
        frames = [[0, 0, 0.5 * torso_h], [0, 0, ped.height - head_r]]
        vs = p.createVisualShapeArray(lengths=[torso_h, 0.0], visualFramePositions=frames, **shapes)
        cs = p.createCollisionShapeArray(lengths=[torso_h, 0.0], collisionFramePositions=frames, **shapes)
        body = p.createMultiBody(0, cs, vs, [ped.start[0], ped.start[1], 0.0], physicsClientId=c)
        colours = self.palette.pedestrian
        p.changeVisualShape(body, -1, rgbaColor=list(colours[i % len(colours)]), physicsClientId=c)
        self._register(body, Tag.PEDESTRIAN)
        self.collidable.append(body)
        return body

    def _build_lead(self, lead: LeadVehicleSpec) -> int:
        x, y, h = lead.path.sample(lead.s0)
        body = self._solid_boxes(car_boxes(), (x, y, 0.0), h, self.palette.vehicle[0], Tag.VEHICLE)
        self.collidable.append(body)
        return body

    def _build_oncoming(self, car: OncomingVehicleSpec, i: int) -> int:
        x, y, h = car.path.sample(min(max(car.s0, 0.0), car.path.length))
        colour = self.palette.vehicle[(i + 1) % len(self.palette.vehicle)]
        body = self._solid_boxes(car_boxes(), (x, y, 0.0), h, colour, Tag.VEHICLE)
        self.collidable.append(body)
        return body

    def _build_ego(self) -> int:
        x, y, h = self.spec.route.sample(self.spec.ego_start_s)
        return self._solid_boxes(
            car_boxes(), (x, y, 0.0), h, self.palette.ego, Tag.EGO, visual_boxes=ego_visual_boxes()
        )

    def set_pose(self, body: int, x: float, y: float, yaw: float) -> None:
        p.resetBasePositionAndOrientation(body, [x, y, 0.0], yaw_quat(yaw), physicsClientId=self.client)

    def tag_lut(self) -> np.ndarray:
        """lut[seg + 1] = Tag; segmentation value -1 (nothing rendered: sky) maps to BACKGROUND."""
        if self._lut_cache is None:
            lut = np.zeros(max(self.body_tags) + 2, dtype=np.uint8)
            for body, tag in self.body_tags.items():
                lut[body + 1] = int(tag)
            self._lut_cache = lut
        return self._lut_cache
