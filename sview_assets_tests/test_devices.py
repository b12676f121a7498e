"""Device choice: what SVIEW_DEVICE does on this machine (with or without a GPU), and the per-call batch sizes."""

import subprocess
import sys

import pytest

from sview_assets.ml.devices import device_choice, locations_per_call

PROBE = "from sview_assets.ml.devices import select_device; print(select_device())"


def run_probe(monkeypatch, value):
    monkeypatch.setenv("SVIEW_DEVICE", value)
    return subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120)


def test_device_choice_is_checked(monkeypatch):
    monkeypatch.delenv("SVIEW_DEVICE", raising=False)
    assert device_choice() == "auto"
    monkeypatch.setenv("SVIEW_DEVICE", " GPU ")
    assert device_choice() == "gpu"
    monkeypatch.setenv("SVIEW_DEVICE", "tpu")
    with pytest.raises(ValueError, match="SVIEW_DEVICE='tpu' is not one of auto, cpu, gpu"):
        device_choice()


def test_batch_size_follows_the_device_unless_configured():
    assert locations_per_call("CPU", 0) == 1
    assert locations_per_call("GPU:0 (NVIDIA H100)", 0) == 32
    assert locations_per_call("GPU:0 (NVIDIA H100)", 12) == 12


@pytest.mark.slow
def test_auto_takes_a_visible_gpu_cpu_hides_it_and_gpu_refuses_without_one(monkeypatch):
    import tensorflow as tf

    has_gpu = bool(tf.config.list_physical_devices("GPU"))
    answers = {}
    for value in ("auto", "cpu", "gpu"):
        done = run_probe(monkeypatch, value)
        answers[value] = done.stdout.strip().splitlines()[-1] if done.returncode == 0 else done.stderr
    assert answers["cpu"] == "CPU"
    if has_gpu:
        assert answers["auto"].startswith("GPU:0 (") and answers["gpu"] == answers["auto"]
    else:
        assert answers["auto"] == "CPU"
        assert "SVIEW_DEVICE=gpu but TensorFlow sees no GPU" in answers["gpu"]
