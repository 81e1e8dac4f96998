"""On-device perception: a small segmentation network (ONNX Runtime), bird's-eye-view projection,
traffic-light state. Knows nothing of cars or humanoids: the camera model comes from parameters."""
