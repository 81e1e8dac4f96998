"""car.yaml runs perception on 2 onnxruntime threads: that must not change a single output value,
or lockstep runs would stop being reproducible across thread settings."""

import numpy as np

from perception.inference import SegmentationModel
from sim.engine import Simulation


def test_two_threads_give_bit_identical_outputs():
    frames = []
    with Simulation("car_pedestrian_crossing", 3) as sim:
        while len(frames) < 6:
            batch = sim.advance(None)
            if batch.camera is not None:
                frames.append(batch.camera.rgb)
    one, two = SegmentationModel(threads=1), SegmentationModel(threads=2)
    for rgb in frames:
        for a, b in zip(one.predict(rgb), two.predict(rgb), strict=True):
            assert np.array_equal(np.asarray(a), np.asarray(b))
