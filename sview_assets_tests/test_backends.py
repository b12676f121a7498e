"""The same weights give the same features, and the same training steps give the same losses, on TensorFlow and on JAX.

JAX runs in a child process (Keras chooses its backend once per process, from ``KERAS_BACKEND``), on the CPU.
"""

import os
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from sview_assets.ml.backend import keras_backend
from sview_assets.ml.features.extract import extract_features, location_dataset
from sview_assets.ml.features.vgg16 import build_fc6_extractor
from sview_assets.ml.inference import compiled_inference
from sview_assets.ml.training.ordinal_network import OrdinalNetwork

from .helpers import NARROW_WIDTH, train_a_few_steps

pytestmark = pytest.mark.slow


def run_on_jax(inputs, output) -> dict:
    code = f"from sview_assets_tests.helpers import compute_on_this_backend as c; c({str(inputs)!r}, {str(output)!r})"
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=os.getcwd(), timeout=600)
    return dict(np.load(output))


def test_tensorflow_and_jax_agree(tiny_raw, tmp_path):
    assert keras_backend() == "tensorflow"
    with zipfile.ZipFile(tiny_raw.paths.raw_images / "batch_000.zip") as archive:
        archive.extractall(tmp_path / "images")
    paths = [[str(tmp_path / "images" / f"{i}_{h}.png") for h in "abcd"] for i in range(3)]
    model, _ = build_fc6_extractor(None, 0, width_divisor=NARROW_WIDTH)
    [(_, images)] = list(location_dataset(list(range(3)), paths, 2, 3))
    images = images.numpy().reshape(-1, 224, 224, 3)
    features = compiled_inference(model)(images)
    pipeline = extract_features(model, list(range(3)), paths, locations_per_batch=2).features
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(16, 4, 64)).astype(np.float32), rng.integers(1, 11, size=16).astype(np.int32)
    losses, scores = train_a_few_steps(OrdinalNetwork(64, 1e-3, 0.0), x, y)
    np.savez(tmp_path / "inputs.npz", images=images, paths=np.array(["|".join(p) for p in paths]), x=x, y=y)

    jax = run_on_jax(tmp_path / "inputs.npz", tmp_path / "jax.npz")
    assert str(jax["backend"]) == "jax"
    # the model: the same preprocessed images give fc6 values equal to 1e-5 of their scale
    scale = np.abs(features).max()
    assert scale > 10 and np.abs(jax["features"] - features).max() < 1e-5 * scale
    # the whole pipeline: Pillow's resampling is not TensorFlow's, so the inputs differ a little; the features hardly
    cosine = (jax["pipeline_features"] * pipeline).sum(-1) / np.linalg.norm(jax["pipeline_features"], axis=-1) / np.linalg.norm(pipeline, axis=-1)
    assert jax["pipeline_features"].shape == pipeline.shape == (3, 4, 4096) and cosine.min() > 0.995
    # training: the same seeded network and batches give the same losses and scores
    assert losses[-1] < losses[0]
    np.testing.assert_allclose(jax["losses"], losses, rtol=1e-4)
    np.testing.assert_allclose(jax["scores"], scores, rtol=1e-3, atol=1e-4)
