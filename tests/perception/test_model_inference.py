import numpy as np
import pytest
import torch

from contracts.errors import ModelFileError
from perception.classes import NUM_CLASSES
from perception.inference import SegmentationModel
from perception.model import ExportWrapper


def test_onnx_matches_torch(tiny_model):
    net, path = tiny_model
    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)
    with torch.no_grad():
        t_cls, t_conf, t_logits = ExportWrapper(net)(torch.from_numpy(image)[None])
    model = SegmentationModel(path)
    o_logits = model.session.run(["logits"], {"image": image[None]})[0]
    np.testing.assert_allclose(o_logits, t_logits.numpy(), atol=1e-4, rtol=1e-4)
    classes, conf = model.predict(image)
    assert classes.shape == (120, 160) and classes.dtype == np.uint8
    assert conf.shape == (120, 160) and conf.dtype == np.float32
    np.testing.assert_allclose(conf, t_conf.numpy()[0], atol=1e-5)
    # argmax may differ only where two logits tie to float precision
    assert np.mean(classes == t_cls.numpy()[0]) > 0.999
    assert classes.max() < NUM_CLASSES
    assert np.all((conf >= 1.0 / NUM_CLASSES - 1e-6) & (conf <= 1.0 + 1e-6))


def test_confidence_is_max_softmax(tiny_model):
    _, path = tiny_model
    model = SegmentationModel(path)
    image = np.random.default_rng(5).integers(0, 256, (1, 120, 160, 3), dtype=np.uint8)
    logits, conf = model.session.run(["logits", "confidence"], {"image": image})
    probs = np.exp(logits - logits.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    np.testing.assert_allclose(conf, probs.max(1), atol=1e-5)


def test_bad_input_errors(tiny_model):
    _, path = tiny_model
    model = SegmentationModel(path)
    with pytest.raises(ValueError, match="shape"):
        model.predict(np.zeros((100, 160, 3), np.uint8))
    with pytest.raises(ValueError, match="shape"):
        model.predict(np.zeros((120, 160), np.uint8))
    with pytest.raises(TypeError, match="uint8"):
        model.predict(np.zeros((120, 160, 3), np.float32))
    with pytest.raises(TypeError, match="numpy"):
        model.predict([[0]])


def test_missing_model_says_how_to_rebuild(tmp_path):
    with pytest.raises(ModelFileError, match="fleetpilot train perception"):
        SegmentationModel(tmp_path / "nope.onnx")


def test_corrupt_model_is_a_model_file_error(tiny_model, tmp_path):
    corrupt = tmp_path / "segnet.onnx"
    corrupt.write_bytes(tiny_model[1].read_bytes()[:1000])  # a truncated download
    with pytest.raises(ModelFileError, match="not a loadable ONNX model"):
        SegmentationModel(corrupt)


def test_threads_must_be_positive(tiny_model):
    with pytest.raises(ValueError, match="threads"):
        SegmentationModel(tiny_model[1], threads=0)


def test_batch_axis_pinned_to_one_frame(tiny_model):
    """The exported graph's batch axis is symbolic; the runtime session pins it to 1 (see inference.py)
    and answers exactly like a session that keeps it symbolic, to the classes."""
    import onnxruntime as ort

    from perception.inference import session_options

    _, path = tiny_model
    model = SegmentationModel(path)
    assert model.session.get_inputs()[0].shape[0] == 1
    dynamic = ort.InferenceSession(str(path), session_options(1), providers=["CPUExecutionProvider"])
    assert isinstance(dynamic.get_inputs()[0].shape[0], str)
    image = np.random.default_rng(7).integers(0, 256, (120, 160, 3), dtype=np.uint8)
    classes, conf = model.predict(image)
    d_classes, d_conf = dynamic.run(["classes", "confidence"], {"image": image[None]})
    assert np.mean(classes == d_classes[0]) > 0.999  # ties to float precision only
    np.testing.assert_allclose(conf, d_conf[0], atol=1e-5)
    with pytest.raises(ValueError, match="shape"):
        model.predict(np.zeros((2, 120, 160, 3), np.uint8))
