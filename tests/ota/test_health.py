"""The health window after an update (cloud_reasoner/ota/health.py): its verdicts, and the supervisor that
marks a proven model good or rolls a failed one back and names the model to swap to."""

from __future__ import annotations

import pytest

from cloud_reasoner.ota.health import HealthCriteria, HealthWindow, ModelSupervisor
from cloud_reasoner.ota.publish import publish_model
from cloud_reasoner.ota.updater import ModelUpdater


def _run(window: HealthWindow, confidences, dropped=()):
    verdicts = [window.observe(c, dropped=i in dropped) for i, c in enumerate(confidences)]
    assert all(v is None for v in verdicts[:-1])  # the window says nothing before its end, once after
    return verdicts[-1]


def test_the_window_judges_after_its_frames_and_says_why():
    c = HealthCriteria(frames=10)
    assert _run(HealthWindow(c), [0.8] * 10)[0] == "good"
    assert _run(HealthWindow(c), [0.8] * 8 + [0.1, 0.1])[1] == "2 of 10 frames under confidence 0.3"
    assert _run(HealthWindow(c), [0.45] * 10)[1].startswith("mean confidence 0.450")
    assert _run(HealthWindow(c), [0.8] * 10, dropped={3})[1] == "1 of 10 frames dropped"
    w = HealthWindow(c)
    _run(w, [0.8] * 10)
    assert w.observe(0.8) is None  # the verdict is given once
    with pytest.raises(ValueError, match="at least one frame"):
        HealthCriteria(frames=0)


@pytest.fixture
def two_models_installed(proven_fleet_model, other_model):
    """v7 proven in slot A, v8 just activated in slot B (not yet proven)."""
    repo, keys, car = proven_fleet_model
    publish_model(repo, keys, other_model, "segnet.onnx", "8")
    assert car.update("segnet.onnx")["active"]["slot"] == "B"
    return car.dir


def test_a_proven_window_marks_the_slot_good(two_models_installed):
    sup = ModelSupervisor(two_models_installed, None, HealthCriteria(frames=3))
    assert (sup.slot, sup.version) == ("B", "8") and sup.window is not None
    assert [sup.observe(0.9) for _ in range(3)] == [None, None, None]
    assert ModelUpdater.local(two_models_installed).status()["marked_good"] is True
    assert ModelSupervisor(two_models_installed, None).window is None  # proven: no window at the next start


def test_a_failed_window_rolls_back_and_names_the_model_to_swap_to(two_models_installed):
    sup = ModelSupervisor(two_models_installed, None, HealthCriteria(frames=3))
    swaps = [sup.observe(0.1) for _ in range(3)]
    assert swaps[:2] == [None, None]
    assert (
        swaps[2]["slot"] == "A" and swaps[2]["version"] == "7" and swaps[2]["path"].endswith("A/segnet.onnx")
    )
    assert "frames under confidence" in swaps[2]["reason"]
    status = ModelUpdater.local(two_models_installed).status()
    assert status["active"]["slot"] == "A" and status["history"][-1]["event"] == "rolled_back"


def test_without_an_ota_folder_the_model_path_runs_unsupervised():
    sup = ModelSupervisor("", "some/model.onnx")
    assert (sup.path, sup.slot, sup.window) == ("some/model.onnx", None, None)
    assert sup.observe(0.0) is None
