"""The GPU benchmark's CPU side: it refuses clearly without a GPU, and with --allow-cpu prints every figure it promises."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "gpu.py"


def run(*args, backend=None, timeout=600):
    env = {**os.environ, "PYTHONPATH": str(SCRIPT.parent.parent), "JAX_PLATFORMS": "cpu"}
    env.pop("KERAS_BACKEND", None)
    if backend:
        env["KERAS_BACKEND"] = backend
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, env=env, timeout=timeout)


def test_without_a_gpu_it_stops_at_once_saying_why():
    done = run(timeout=60)
    assert done.returncode == 2
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert answer["benchmark"] == "gpu" and "no GPU visible to torch or jax" in answer["error"] and "--allow-cpu" in answer["error"]


def test_bad_arguments_are_refused():
    done = run("--batch", "many", timeout=60)
    assert done.returncode == 2 and "invalid int value" in done.stderr


@pytest.mark.slow
def test_on_the_cpu_it_prints_every_figure():
    sizes = ("--locations", "2", "--model-images", "8", "--batch", "8", "--rows", "300", "--timed-rows", "200", "--width-divisor", "16")
    done = run("--allow-cpu", *sizes, backend="jax")
    assert done.returncode == 0, done.stderr[-2000:]
    answer = json.loads(done.stdout[done.stdout.index("{") :])
    assert answer["weights"].endswith("VGG16 narrowed 16x"), answer["weights"]
    assert answer["backend"] == "jax" and answer["device"] == "CPU" and answer["mixed_precision"] == "bfloat16"
    assert set(answer["vgg16_images_per_second"]) == {"float32", "bfloat16"} and all(v > 0 for v in answer["vgg16_images_per_second"].values())
    assert answer["mixed_min_cosine_to_float32"] > 0.999
    for key in ("pipeline_images_per_second_from_jpeg", "decode_images_per_second_per_core", "training_samples_per_second_streamed"):
        assert answer[key] > 0, key
    assert answer["training_rows"] == 300 and answer["gpu_memory_peak_mb"] is None
    rate = answer["pipeline_images_per_second_from_jpeg"]  # printed to 0.1 image/s, so it may be 0.05 off the rate used
    assert answer["london_features_minutes"] == pytest.approx(626_324 / rate / 60, rel=0.001 + 0.05 / rate)
