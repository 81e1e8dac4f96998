"""The vehicle's slot state survives kill -9 at any moment: written with write, fsync, rename, the file
always holds one whole state (the old one or the new one), never a torn one."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

WRITER = """
import sys, time
from pathlib import Path
from cloud_reasoner.ota.updater import ModelUpdater, empty_state
u = ModelUpdater.local(Path(sys.argv[1]))
i = 0
print("ready", flush=True)
while True:
    state = empty_state()
    state["history"] = [{"event": "fetched", "slot": "A", "n": i, "pad": "x" * 4000} for _ in range(20)]
    u._save(state)
    i += 1
"""


def test_kill_9_while_the_state_is_written_never_leaves_a_torn_file(tmp_path):
    (tmp_path / "trust").mkdir()
    (tmp_path / "trust" / "root.json").write_text("{}")
    for round_ in range(12):
        proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(tmp_path)], cwd=ROOT, stdout=subprocess.PIPE, text=True
        )
        assert proc.stdout.readline().strip() == "ready"
        deadline = time.monotonic() + 30
        while not (tmp_path / "state.json").exists() and time.monotonic() < deadline:
            time.sleep(0.005)  # the first state is on disk before the first kill
        time.sleep(0.02 + 0.013 * round_)  # somewhere in the middle of some write
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        state = json.loads((tmp_path / "state.json").read_text())  # whole, whichever write it is
        assert len(state["history"]) == 20 and len({e["n"] for e in state["history"]}) == 1
