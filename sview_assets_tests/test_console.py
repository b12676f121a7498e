"""A CPU-only run's console holds what a user must read: no TensorFlow start-up chatter, no retracing warnings."""

import subprocess
import sys

import keras
import numpy as np
import pytest

from sview_assets.config.settings import PROJECT_ROOT
from sview_assets.ml.inference import _shared_trace, compiled_inference
from sview_assets.ml.training.ordinal_network import build_ordinal_model

WRITES = """
import os, sys
from sview_assets.ml.quiet_start import native_stderr_filtered
with native_stderr_filtered(gpu_present={gpu}):
    os.write(2, b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\\n")
    os.write(2, b"I0000 00:00:1.0 1 port.cc:153] oneDNN custom operations are on.\\n")
    os.write(2, b"E0000 00:00:1.0 1 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error\\n")
    os.write(2, b"E0000 00:00:1.0 1 some_op.cc:9] a real error\\n")
    print("a Python warning", file=sys.stderr)
"""


def stderr_of(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stderr


def test_the_filter_drops_start_up_chatter_and_keeps_real_errors_and_a_gpu_machines_cuinit():
    assert stderr_of(WRITES.format(gpu=False)) == "E0000 00:00:1.0 1 some_op.cc:9] a real error\na Python warning\n"
    kept = stderr_of(WRITES.format(gpu=True)).splitlines()
    assert kept == [
        "E0000 00:00:1.0 1 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error",
        "E0000 00:00:1.0 1 some_op.cc:9] a real error",
        "a Python warning",
    ]


@pytest.mark.slow
def test_importing_keras_through_sview_prints_nothing():
    code = "import sview_assets.ml.training.ordinal_network, tensorflow as tf; assert tf.config.list_physical_devices('GPU') == []"
    assert stderr_of(code) == ""


def test_scoring_with_many_models_of_one_architecture_traces_once_and_matches_each_model():
    # TensorFlow's retracing warning counts the traces of every architecture this process has scored (it keys on the
    # function's code), so it depends on the tests run before; the trace count of this architecture's function does not.
    width = 19  # a feature width no other test builds, so this architecture is traced here first
    x = np.random.default_rng(0).normal(size=(7, 4, width)).astype("float32")
    shared = set()
    for seed in range(8):
        keras.utils.set_random_seed(seed)
        model = build_ordinal_model(width, learning_rate=1e-3)
        np.testing.assert_allclose(compiled_inference(model)(x), np.asarray(model(x, training=False)), rtol=1e-5, atol=1e-6)
        shared.add(_shared_trace(model))
    assert len(shared) == 1 and shared.pop().experimental_get_tracing_count() == 1
