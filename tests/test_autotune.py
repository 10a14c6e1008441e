"""conv2d algorithm='auto' by measurement (fastnn/_autotune.py): results equal the reference, the
table and its key, the switch, the static fallback below the threshold, the persistent
FASTNN_TUNING_CACHE file (corrupt, foreign, unwritable, re-read by a fresh process) and
concurrent threads; the timing protocol (interleaved rounds, near ties re-timed, the static
pick kept on a tie) on a scripted clock. No real timings are asserted: only which path ran and
what it returned."""
import json
import os
import subprocess
import sys
import threading
import types
import warnings

import numpy as np
import pytest

import fastnn
import fastnn.functional as F
import fastnn.reference as R
from fastnn import _autotune, _conv, _tuning
from helpers import DTYPES, assert_close


@pytest.fixture(autouse=True)
def tuning(monkeypatch):
    """Tune every call (threshold 0), no cache file, an empty table; restored afterwards."""
    monkeypatch.setattr(_tuning, "AUTOTUNE_MIN_MACS", 0)
    monkeypatch.delenv(_autotune.ENV_VAR, raising=False)
    F.clear_conv_autotune_cache()
    yield
    fastnn.set_conv_autotune(True)
    F.clear_conv_autotune_cache()


def case(rng, dtype=np.float64, n=2, c=3, hw=7, k=4, r=3):
    x = rng.standard_normal((n, c, hw, hw)).astype(dtype)
    w = rng.standard_normal((k, c, r, r)).astype(dtype)
    b = rng.standard_normal(k).astype(dtype)
    return x, w, b


def keys_for(x_shape, pass_name=None):
    return [k for k in F.conv_autotune_results()
            if k[1] == tuple(x_shape) and (pass_name is None or k[0] == pass_name)]


def check_both_passes(rng, x, w, b, **kw):
    out = F.conv2d(x, w, b, **kw)
    assert_close(out, R.conv2d(x, w, b, **kw))
    go = rng.standard_normal(out.shape).astype(x.dtype)
    for got, want in zip(F.conv2d_backward(go, x, w, **kw), R.conv2d_backward(go, x, w, **kw)):
        assert_close(got, want)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("kw", [dict(padding=1), dict(stride=2, padding=1, dilation=2), dict()],
                         ids=["3x3_p1", "s2_d2", "valid"])
def test_autotuned_result_equals_reference_and_table_gets_the_key(kw, dtype, rng):
    x, w, b = case(rng, dtype)
    before = _autotune._STATE["measured"]
    check_both_passes(rng, x, w, b, **kw)
    table = F.conv_autotune_results()
    assert len(table) == 2 and _autotune._STATE["measured"] == before + 2
    fwd = keys_for(x.shape, "forward")[0]
    stride, dil = kw.get("stride", 1), kw.get("dilation", 1)
    pad = kw.get("padding", 0)
    assert fwd == ("forward", x.shape, w.shape, (stride, stride), (pad,) * 4, (dil, dil), 1,
                   np.dtype(dtype).name, fastnn.get_num_threads())
    # The winner is whichever applicable algorithm timed fastest: Winograd is one of them for
    # a 3x3 kernel with stride 1 and dilation 1 (it won on a noisy CI run), never otherwise.
    applicable = ("direct", "im2col") + (("winograd",) if stride == dil == 1 else ())
    assert table[fwd] in applicable
    check_both_passes(rng, x, w, b, **kw)            # the same key again: looked up, not timed
    assert _autotune._STATE["measured"] == before + 2


def scripted(monkeypatch, durations):
    """A fake clock for _autotune: run(alg) advances it by durations[alg] (a list is consumed
    one value per call, its last value repeating). Returns (run, the algorithms in call order)."""
    now, calls = [0.0], []
    queues = {alg: list(d) if isinstance(d, list) else [d] for alg, d in durations.items()}
    monkeypatch.setattr(_autotune, "time", types.SimpleNamespace(perf_counter=lambda: now[0]))

    def run(alg):
        q = queues[alg]
        now[0] += q.pop(0) if len(q) > 1 else q[0]
        calls.append(alg)
    return run, calls


def test_measure_interleaves_rounds_and_picks_a_clear_winner(monkeypatch):
    run, calls = scripted(monkeypatch, {"direct": 2.0, "im2col": 1.0})
    winner, best = _autotune._measure(("direct", "im2col"), "direct", run)
    assert winner == "im2col" and best == {"direct": 2.0, "im2col": 1.0}
    # One untimed run each, then TIMED_ROUNDS rounds, the order reversed every other round;
    # 2.0 / 1.0 is no near tie, so no extra rounds.
    timed = [["direct", "im2col"] if r % 2 == 0 else ["im2col", "direct"]
             for r in range(_autotune.TIMED_ROUNDS)]
    assert calls == ["direct", "im2col"] + [alg for one_round in timed for alg in one_round]


def test_measure_retimes_a_near_tie_and_a_noise_burst_does_not_decide(monkeypatch):
    # im2col's first timed run is hit by a burst (3.0); its true time is 1.0. direct: 1.1.
    run, calls = scripted(monkeypatch, {"direct": 1.1, "im2col": [1.0, 3.0, 1.0]})
    winner, best = _autotune._measure(("direct", "im2col"), "direct", run)
    assert winner == "im2col" and best["im2col"] == 1.0
    # 1.1 / 1.0 is within NEAR_TIE: EXTRA_ROUNDS more rounds of both.
    assert calls.count("direct") == 1 + _autotune.TIMED_ROUNDS + _autotune.EXTRA_ROUNDS


def test_measure_extra_rounds_only_for_the_close_algorithms(monkeypatch):
    run, calls = scripted(monkeypatch, {"direct": 1.0, "im2col": 1.05, "winograd": 5.0})
    _autotune._measure(("direct", "im2col", "winograd"), "direct", run)
    assert calls.count("winograd") == 1 + _autotune.TIMED_ROUNDS
    assert calls.count("im2col") == 1 + _autotune.TIMED_ROUNDS + _autotune.EXTRA_ROUNDS


@pytest.mark.parametrize("static_time, expected", [(1.02, "direct"), (1.10, "im2col")])
def test_measure_keeps_the_static_pick_only_within_keep_static(static_time, expected,
                                                               monkeypatch):
    run, _ = scripted(monkeypatch, {"direct": static_time, "im2col": 1.0})
    assert _autotune._measure(("direct", "im2col"), "direct", run)[0] == expected


def test_pointwise_candidates_and_result(rng):
    x, w, b = case(rng, r=1)
    geom = _conv._args.conv2d_args("t", x, w, None, 1, 0, 1, 1, "auto")[3]
    assert _conv.applicable_algorithms(x.shape, w.shape, geom) == ("direct", "1x1")
    geom = _conv._args.conv2d_args("t", x, w, None, 2, 0, 1, 1, "auto")[3]
    assert _conv.applicable_algorithms(x.shape, w.shape, geom) == ("direct", "im2col")
    check_both_passes(rng, x, w, b)
    assert F.conv_autotune_results()[keys_for(x.shape, "forward")[0]] in ("direct", "1x1")


def test_a_stored_winner_is_what_runs(rng, monkeypatch):
    x, w, b = case(rng)
    F.conv2d(x, w, b, padding=1)
    key = keys_for(x.shape, "forward")[0]
    ran = []
    real = _conv._run_forward
    monkeypatch.setattr(_conv, "_run_forward", lambda alg, *a: (ran.append(alg), real(alg, *a)))
    for forced in ("direct", "im2col"):
        _autotune._TABLE[key] = forced
        ran.clear()
        assert_close(F.conv2d(x, w, b, padding=1), R.conv2d(x, w, b, padding=1))
        assert ran == [forced]


def test_switch_off_uses_the_static_rule(rng, monkeypatch):
    assert fastnn.get_conv_autotune() is True and F.get_conv_autotune() is True
    fastnn.set_conv_autotune(False)
    assert fastnn.get_conv_autotune() is False
    x, w, b = case(rng)
    ran = []
    real = _conv._run_forward
    monkeypatch.setattr(_conv, "_run_forward", lambda alg, *a: (ran.append(alg), real(alg, *a)))
    assert_close(F.conv2d(x, w, b, padding=1), R.conv2d(x, w, b, padding=1))
    static = F.select_conv2d_algorithm(x.shape, w.shape, (7, 7), x.dtype, padding=(1, 1))
    assert ran == [static] and F.conv_autotune_results() == {}
    with pytest.raises(TypeError, match="set_conv_autotune"):
        fastnn.set_conv_autotune(1)
    with pytest.raises(ValueError, match="pass_name"):
        F.select_conv2d_algorithm(x.shape, w.shape, (7, 7), x.dtype, pass_name="sideways")


def test_below_the_threshold_the_static_rule_is_used(rng, monkeypatch):
    monkeypatch.setattr(_tuning, "AUTOTUNE_MIN_MACS", 10**12)
    x, w, b = case(rng)
    check_both_passes(rng, x, w, b, padding=1)
    assert F.conv_autotune_results() == {}


def test_explicit_algorithm_is_never_tuned(rng):
    x, w, b = case(rng)
    F.conv2d(x, w, b, padding=1, algorithm="im2col")
    assert F.conv_autotune_results() == {}


# --------------------------------------------------------------------------- persistent file

def tune_with_file(rng, path, monkeypatch):
    monkeypatch.setenv(_autotune.ENV_VAR, str(path))
    F.clear_conv_autotune_cache()
    x, w, b = case(rng)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_both_passes(rng, x, w, b, padding=1)
    return x, [c for c in caught if issubclass(c.category, RuntimeWarning)]


def test_cache_file_is_written_atomically_with_the_machine_key(rng, tmp_path, monkeypatch):
    path = tmp_path / "tuning.json"
    x, warned = tune_with_file(rng, path, monkeypatch)
    assert warned == []
    data = json.loads(path.read_text())
    assert data["machine"] == _autotune.machine_key()
    assert {"format", "fastnn", "numba_threads", "cpu"} <= set(data["machine"])
    assert len(data["winners"]) == 2
    text = next(t for t in data["winners"] if t.startswith("forward|"))
    assert _autotune._key_from_text(text) == keys_for(x.shape, "forward")[0]
    assert sorted(os.listdir(tmp_path)) == ["tuning.json"]     # no temp file left behind


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", '{"winners": 3}', "\xff\xfe"],
                         ids=["corrupt", "list", "no_table", "binary"])
def test_corrupt_file_warns_once_and_is_overwritten(content, rng, tmp_path, monkeypatch):
    path = tmp_path / "tuning.json"
    path.write_bytes(content.encode("latin-1"))
    _, warned = tune_with_file(rng, path, monkeypatch)
    assert len(warned) == 1 and "ignoring it" in str(warned[0].message)
    assert json.loads(path.read_text())["machine"] == _autotune.machine_key()


def test_foreign_file_warns_and_its_winners_are_not_used(rng, tmp_path, monkeypatch):
    path = tmp_path / "tuning.json"
    x, w, _ = case(rng)
    geom = _conv._args.conv2d_args("t", x, w, None, 1, 1, 1, 1, "auto")[3]
    key = _autotune.make_key("forward", x, w, geom)
    foreign = dict(_autotune.machine_key(), cpu="some other CPU")
    winners = {_autotune._key_text(key): "im2col"}
    path.write_text(json.dumps({"machine": foreign, "winners": winners}))
    before = _autotune._STATE["measured"]
    _, warned = tune_with_file(rng, path, monkeypatch)
    assert len(warned) == 1 and "not this machine" in str(warned[0].message)
    assert _autotune._STATE["measured"] - before == 2   # measured, not read from the foreign file
    assert json.loads(path.read_text())["machine"] == _autotune.machine_key()


def test_unwritable_path_warns_and_results_stay_correct(rng, tmp_path, monkeypatch):
    path = tmp_path / "no such directory" / "tuning.json"
    _, warned = tune_with_file(rng, path, monkeypatch)
    assert len(warned) == 1 and "could not be written" in str(warned[0].message)
    assert len(F.conv_autotune_results()) == 2


_FRESH = r"""
import json, numpy as np, fastnn.functional as F
from fastnn import _autotune, _tuning
_tuning.AUTOTUNE_MIN_MACS = 0
rng = np.random.default_rng(0)
x = rng.standard_normal((2, 3, 7, 7)); w = rng.standard_normal((4, 3, 3, 3))
F.conv2d(x, w, padding=1)
print(json.dumps({"measured": _autotune._STATE["measured"],
                  "table": sorted(_autotune._key_text(k) + "=" + v
                                  for k, v in F.conv_autotune_results().items())}))
"""


def test_a_fresh_process_reads_the_file_and_does_not_time_again(rng, tmp_path, monkeypatch):
    path = tmp_path / "tuning.json"
    tune_with_file(rng, path, monkeypatch)
    stored = sorted(f"{k}={v}" for k, v in json.loads(path.read_text())["winners"].items())
    threads = str(_autotune.machine_key()["numba_threads"])
    env = dict(os.environ, **{_autotune.ENV_VAR: str(path), "NUMBA_NUM_THREADS": threads})
    proc = subprocess.run([sys.executable, "-c", _FRESH], capture_output=True, text=True,
                          env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["measured"] == 0 and got["table"] == stored
    assert "RuntimeWarning" not in proc.stderr


# --------------------------------------------------------------------------- threads

def test_concurrent_threads_tuning_new_and_shared_keys_get_correct_results(rng):
    shapes = [(2, 3, 7, 4), (1, 2, 9, 3), (3, 2, 5, 5), (2, 4, 6, 2)]
    cases = [case(np.random.default_rng(i), n=n, c=c, hw=hw, k=k)
             for i, (n, c, hw, k) in enumerate(shapes)]
    cases.append(cases[0])                          # two threads meet the same new key
    results, errors = [None] * len(cases), []
    before = _autotune._STATE["measured"]
    start = threading.Barrier(len(cases))

    def work(i):
        try:
            x, w, b = cases[i]
            start.wait()
            out = F.conv2d(x, w, b, padding=1)
            go = np.ones_like(out)
            results[i] = (out, F.conv2d_backward(go, x, w, padding=1))
        except Exception as exc:    # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(cases))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    for (x, w, b), (out, grads) in zip(cases, results):
        assert_close(out, R.conv2d(x, w, b, padding=1))
        for got, want in zip(grads, R.conv2d_backward(np.ones_like(out), x, w, padding=1)):
            assert_close(got, want)
    assert len(F.conv_autotune_results()) == 2 * len(shapes)
    assert _autotune._STATE["measured"] - before == 2 * len(shapes)   # shared key: measured once


def test_saving_keeps_winners_another_process_stored_meanwhile(rng, tmp_path, monkeypatch):
    path = tmp_path / "tuning.json"
    tune_with_file(rng, path, monkeypatch)
    data = json.loads(path.read_text())
    other = "forward|1x1x9x9|1x1x3x3|1x1|0x0x0x0|1x1|1|float64|1"
    data["winners"][other] = "im2col"                  # as if written by another process
    path.write_text(json.dumps(data))
    x, w, b = case(rng, n=3)                            # a new key: measured and saved
    F.conv2d(x, w, b, padding=1)
    saved = json.loads(path.read_text())["winners"]
    assert saved[other] == "im2col" and len(saved) == 4
