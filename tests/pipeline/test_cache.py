"""The step cache's lock: one process computes a step, others wait and reuse it."""

from __future__ import annotations

from pathlib import Path


def test_step_lock_excludes_a_second_holder(tmp_path: Path) -> None:
    """Two holders of one step's lock never overlap (parallel launchers compute a step once)."""
    import threading
    import time

    from mathft.runs.cache import step

    st = step(tmp_path, "generator", {"a": 1})
    events: list[str] = []

    def hold(name: str) -> None:
        with step(tmp_path, "generator", {"a": 1}).locked():
            events.append(f"{name}+")
            time.sleep(0.2)
            events.append(f"{name}-")

    threads = [threading.Thread(target=hold, args=(n,)) for n in "ab"]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(events) == 4
    assert events[0][0] == events[1][0] and events[2][0] == events[3][0], events
    with st.locked():  # released by both
        pass
