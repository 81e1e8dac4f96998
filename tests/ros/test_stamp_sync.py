import pytest
from fleetpilot_nodes.stamp_sync import StampLog, StampSync


def test_fires_once_when_all_inputs_share_a_stamp():
    fired = []
    sync = StampSync(["a", "b"], lambda a, b: fired.append((a, b)))
    assert not sync.add("a", 10, "a10")
    assert not sync.add("b", 5, "b5")  # a different stamp never pairs
    assert sync.add("b", 10, "b10")
    assert fired == [("a10", "b10")]
    assert sync.pending() == {"a": [], "b": []}  # older partial sets are dropped


def test_order_of_arrival_does_not_matter_and_late_messages_are_ignored():
    fired = []
    sync = StampSync(["grid", "status", "odom"], lambda *m: fired.append(m))
    for stamp in (1, 2, 3):  # odometry comes faster than the rest
        sync.add("odom", stamp, f"o{stamp}")
    sync.add("status", 3, "s3")
    sync.add("grid", 3, "g3")
    assert fired == [("g3", "s3", "o3")]
    assert not sync.add("grid", 2, "g2")  # too late: stamp 3 already fired
    assert sync.pending()["grid"] == []


def test_queue_is_bounded():
    sync = StampSync(["a", "b"], lambda *m: None, queue_size=2)
    for stamp in range(5):
        sync.add("a", stamp, stamp)
    assert sync.pending()["a"] == [3, 4] and sync.evicted == 3
    assert not sync.add("b", 0, "too old to pair")


def test_bad_configuration():
    with pytest.raises(ValueError):
        StampSync(["a", "a"], print)
    with pytest.raises(KeyError, match="unknown sync input"):
        StampSync(["a"], print).add("b", 0, None)


def test_resent_newest_stamp_republishes_the_cached_answer():
    """A lockstep re-send of a stamp already answered must re-publish that answer, or the graph stalls."""
    from fleetpilot_nodes.stamp_sync import LastAnswer, StampSync

    class Pub:
        def __init__(self):
            self.sent = []

        def publish(self, msg):
            self.sent.append(msg)

    pub = Pub()
    answer = LastAnswer()
    sync = StampSync(
        ["a", "b"], lambda a, b: answer.publish(5, pub, ("answer", a, b)), on_repeat=answer.repeat
    )
    sync.add("a", 5, "A")
    sync.add("b", 5, "B")
    assert pub.sent == [("answer", "A", "B")]
    sync.add("b", 5, "B")  # only the first input triggers the repeat: one answer per re-send
    sync.add("a", 5, "A")
    assert pub.sent == [("answer", "A", "B")] * 2
    sync.add("a", 4, "old")  # older stamps are never answered again
    assert len(pub.sent) == 2


def test_stamp_log_keeps_only_the_newest_stamps():
    log = StampLog(maxlen=3)
    for stamp in range(10):
        log[stamp * 50_000_000] = float(stamp)
    assert list(log) == [350_000_000, 400_000_000, 450_000_000]
    assert log[450_000_000] == 9.0
    log[400_000_000] = 1.5  # a stamp written again keeps its place and evicts nothing
    assert len(log) == 3 and log[400_000_000] == 1.5
    with pytest.raises(ValueError, match="maxlen"):
        StampLog(maxlen=0)


def test_a_free_running_sim_node_does_not_keep_every_frame(tmp_path):
    """A launched sim runs for hours: its per-frame wall-time bookkeeping stays bounded."""
    from fleetpilot.graph_runner import ComposedGraph, _ros_context

    with _ros_context() as ctx:
        graph = ComposedGraph(
            ctx,
            overrides={"sim": {"scenario": "car_lane_follow", "seed": 0, "lockstep": False}},
            only=("sim",),
            tmpdir=tmp_path,
        )
        try:
            sim = graph.nodes["sim"]
            sim.publish_wall.maxlen = 5
            for _ in range(12):
                sim.free_step()
            assert sim.frames == 12
            assert len(sim.publish_wall) == 5
        finally:
            graph.destroy()


def test_a_second_message_of_a_stamp_does_not_replace_the_first():
    """Another publisher's message of the same stamp must not swap out one already queued (issue 24: a
    malformed image stamped for the next frame); it is counted as a duplicate."""
    fired = []
    sync = StampSync(["image", "info"], lambda *m: fired.append(m))
    assert not sync.add("image", 10, "first")
    assert not sync.add("image", 10, "second")
    assert sync.duplicates == 1
    assert sync.add("info", 10, "info")
    assert fired == [("first", "info")]
