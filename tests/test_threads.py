"""The OpenMP wait policy chosen before torch is imported (utils/threads.py)."""

from dancenow.utils.threads import BUSY_CORES, choose_wait_policy, other_load


def test_user_setting_wins():
    env = {"OMP_WAIT_POLICY": "ACTIVE"}
    assert choose_wait_policy(env, load=2.0) == "ACTIVE" and env == {"OMP_WAIT_POLICY": "ACTIVE"}


def test_idle_machine_keeps_spinning_waiters():
    env: dict = {}
    assert choose_wait_policy(env, load=BUSY_CORES / 2) == "default"
    assert "OMP_WAIT_POLICY" not in env


def test_busy_machine_sleeps():
    env: dict = {}
    assert choose_wait_policy(env, load=BUSY_CORES * 2) == "PASSIVE"
    assert env["OMP_WAIT_POLICY"] == "PASSIVE"


def test_unreadable_load_takes_the_safe_choice(monkeypatch):
    import dancenow.utils.threads as threads

    monkeypatch.setattr(threads, "_cpu_times", lambda: None)
    env: dict = {}
    assert choose_wait_policy(env) == "PASSIVE" and env["OMP_WAIT_POLICY"] == "PASSIVE"


def test_other_load_is_a_core_count():
    load = other_load(0.05)
    if load is not None:  # Linux
        import os

        assert 0.0 <= load <= (os.cpu_count() or 1) + 1e-6
