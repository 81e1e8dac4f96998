"""The ego's front camera: pinhole model, PyBullet view/projection matrices and rendering.

The projection is built from the vertical FOV (PyBullet's convention) with square pixels, so
fx = fy = (H/2) / tan(vfov/2). Intrinsics are in OpenCV pixel-index coordinates (u right, v down):
the ray through pixel (u, v) is ((u - cx)/fx, (v - cy)/fy, 1) in the optical frame. The tiny renderer
samples each pixel at a corner of the centred frustum's pixel grid rather than its centre; measured
against its depth buffer (tests/sim), that makes cx = W/2 and cy = H/2 - 1 exact (error < 1e-5), where
the textbook (W-1)/2, (H-1)/2 would be off by half a pixel.
depth_m is z-depth along the optical axis (not range along the ray).
"""

from __future__ import annotations

import math

import numpy as np

from contracts.messages import CameraFrame, CameraModel
from sim._quiet_import import pybullet as p
from sim.appearance import Palette

CAMERA_X, CAMERA_Y, CAMERA_Z = 1.6, 0.0, 1.4
CAMERA_PITCH = math.radians(7.0)
# 60 deg rather than 90: at 160x120 a 90 deg lens leaves pedestrians ~11 px and lamps ~1.5 px at 20 m;
# 60 deg makes every object 1.73x larger (3x the pixels) and still covers +-2.9 m of lateral at 5 m and
# a 50 m-radius curve out to ~50 m, which is what planning needs.
CAMERA_HFOV = math.radians(60.0)
CAMERA_NEAR, CAMERA_FAR = 0.1, 120.0


def make_camera_model(width: int, height: int) -> CameraModel:
    if width < 8 or height < 8:
        raise ValueError(f"camera image must be at least 8x8 pixels, got {width}x{height}")
    fx = 0.5 * width / math.tan(0.5 * CAMERA_HFOV)
    return CameraModel(
        width=width,
        height=height,
        fx=fx,
        fy=fx,
        cx=0.5 * width,
        cy=0.5 * height - 1.0,
        x=CAMERA_X,
        y=CAMERA_Y,
        z=CAMERA_Z,
        pitch=CAMERA_PITCH,
        near=CAMERA_NEAR,
        far=CAMERA_FAR,
    )


def vertical_fov(model: CameraModel) -> float:
    return 2.0 * math.atan(0.5 * model.height / model.fy)


def projection_matrix(model: CameraModel) -> list[float]:
    return list(
        p.computeProjectionMatrixFOV(
            fov=math.degrees(vertical_fov(model)),
            aspect=model.width / model.height,
            nearVal=model.near,
            farVal=model.far,
        )
    )


def _rot_zyx(yaw: float, pitch: float, roll: float) -> np.ndarray:
    cy, sy = math.cos(yaw), math.sin(yaw)
    cp, sp = math.cos(pitch), math.sin(pitch)
    cr, sr = math.cos(roll), math.sin(roll)
    rz = np.array([[cy, -sy, 0], [sy, cy, 0], [0, 0, 1]])
    ry = np.array([[cp, 0, sp], [0, 1, 0], [-sp, 0, cp]])
    rx = np.array([[1, 0, 0], [0, cr, -sr], [0, sr, cr]])
    return rz @ ry @ rx


def camera_pose_world(
    model: CameraModel, base_x: float, base_y: float, base_yaw: float, jitter=(0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
) -> tuple[np.ndarray, np.ndarray]:
    """(eye position, rotation camera-body → world). Camera body axes are REP-103 (x forward);
    jitter = (dx, dy, dz in base_link, droll, dpitch, dyaw)."""
    if len(jitter) != 6:
        raise ValueError(f"pose_jitter needs 6 values (dx, dy, dz, droll, dpitch, dyaw), got {len(jitter)}")
    dx, dy, dz, droll, dpitch, dyaw = (float(v) for v in jitter)
    c, s = math.cos(base_yaw), math.sin(base_yaw)
    lx, ly = model.x + dx, model.y + dy
    eye = np.array([base_x + c * lx - s * ly, base_y + s * lx + c * ly, model.z + dz])
    # positive pitch about +y turns +x towards -z, i.e. tilts the camera down (CameraModel convention)
    rot = _rot_zyx(base_yaw + dyaw, model.pitch + dpitch, droll)
    return eye, rot


def view_matrix(eye: np.ndarray, rot: np.ndarray) -> list[float]:
    forward = rot[:, 0]
    up = rot[:, 2]
    return list(p.computeViewMatrix(eye.tolist(), (eye + forward).tolist(), up.tolist()))


def render(
    client: int,
    model: CameraModel,
    eye: np.ndarray,
    rot: np.ndarray,
    palette: Palette,
    tag_lut: np.ndarray,
    stamp_ns: int,
    ground_truth: bool,
) -> CameraFrame:
    w, h = model.width, model.height
    _, _, rgba, depth_buf, seg = p.getCameraImage(
        w,
        h,
        viewMatrix=view_matrix(eye, rot),
        projectionMatrix=projection_matrix(model),
        renderer=p.ER_TINY_RENDERER,
        shadow=0,
        lightDirection=list(palette.light_direction),
        lightAmbientCoeff=palette.ambient,
        lightDiffuseCoeff=palette.diffuse,
        lightSpecularCoeff=palette.specular,
        physicsClientId=client,
    )
    rgb = np.asarray(rgba, dtype=np.uint8).reshape(h, w, 4)[:, :, :3].copy()
    seg = np.asarray(seg, dtype=np.int64).reshape(h, w)
    sky = seg < 0
    # Paint the sky (nothing rendered there): a vertical gradient from horizon to zenith colour.
    horizon_v = model.cy + model.fy * math.tan(model.pitch)
    t = np.clip((horizon_v - np.arange(h)) / max(horizon_v, 1.0), 0.0, 1.0)[:, None]
    sky_rows = (np.asarray(palette.sky_horizon) * (1 - t) + np.asarray(palette.sky_top) * t).astype(np.uint8)
    rgb[sky] = np.broadcast_to(sky_rows[:, None, :], (h, w, 3))[sky]
    tags = depth = None
    if ground_truth:
        tags = tag_lut[np.clip(seg + 1, 0, len(tag_lut) - 1)].astype(np.uint8)
        d = np.asarray(depth_buf, dtype=np.float64).reshape(h, w)
        n, f = model.near, model.far
        depth = (f * n / (f - (f - n) * d)).astype(np.float32)
    return CameraFrame(stamp_ns=stamp_ns, rgb=rgb, tags=tags, depth_m=depth)
