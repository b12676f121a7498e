"""Batched fc6 feature extraction with a parallel, prefetching input pipeline.

Decoding and resizing run on ``cores`` threads while the model computes the
previous batch: a tf.data pipeline on TensorFlow, a Pillow thread pool
(:mod:`.pillow_input`) on the other Keras backends. A location whose images
fail to decode is dropped from the stream and reported, and the others go on.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from sview_assets.ml.backend import uses_tensorflow
from sview_assets.ml.features.vgg16 import FEATURE_DIM, IMAGE_SIZE
from sview_assets.ml.inference import compiled_inference
from sview_assets.ml.threads import available_cores

N_HEADINGS = 4


@dataclass
class ExtractionResult:
    """Features of the locations that decoded, aligned with ``img_ids``, and those that did not."""

    img_ids: np.ndarray
    features: np.ndarray
    failed: list[int] = field(default_factory=list)


def location_dataset(img_ids: Sequence[int], paths: Sequence[Sequence[str]], cores: int, locations_per_batch: int):
    """A tf.data pipeline of (img_id batch, [B, 4, 224, 224, 3]) batches decoded in parallel, bad locations dropped."""
    import tensorflow as tf

    from sview_assets.ml.features.preprocess import load_and_preprocess

    def load_location(img_id, location_paths):
        images = tf.map_fn(load_and_preprocess, location_paths, fn_output_signature=tf.TensorSpec([IMAGE_SIZE, IMAGE_SIZE, 3], tf.float32))
        return img_id, images

    dataset = tf.data.Dataset.from_tensor_slices((np.asarray(img_ids, dtype=np.int64), np.asarray(paths, dtype=str)))
    dataset = dataset.map(load_location, num_parallel_calls=cores, deterministic=True)
    dataset = dataset.ignore_errors()
    dataset = dataset.batch(locations_per_batch).prefetch(2)
    options = tf.data.Options()
    options.threading.private_threadpool_size = cores
    return dataset.with_options(options)


def extract_features(
    model,
    img_ids: Sequence[int],
    paths: Sequence[Sequence[str]],
    *,
    locations_per_batch: int = 8,
    progress: Callable[[int, int], None] | None = None,
) -> ExtractionResult:
    """fc6 features ``[n, 4, 4096]`` for each location (four heading image paths each)."""
    cores = available_cores()
    expected = [int(i) for i in img_ids]
    if not expected:
        return ExtractionResult(np.zeros(0, np.int64), np.zeros((0, N_HEADINGS, FEATURE_DIM), np.float32))
    infer = compiled_inference(model)
    ids_out, feats_out = [], []
    for ids, images in _batches(expected, paths, cores, locations_per_batch):
        if len(ids):
            ids_out.append(ids)
            feats_out.append(infer(images.reshape(-1, IMAGE_SIZE, IMAGE_SIZE, 3)).reshape(-1, N_HEADINGS, FEATURE_DIM))
        if progress:
            progress(sum(len(i) for i in ids_out), len(expected))
    got = np.concatenate(ids_out) if ids_out else np.zeros(0, np.int64)
    features = np.concatenate(feats_out) if feats_out else np.zeros((0, N_HEADINGS, FEATURE_DIM), np.float32)
    failed = sorted(set(expected) - set(got.tolist()))
    return ExtractionResult(got, features.astype(np.float32), failed)


def _batches(img_ids: list[int], paths: Sequence[Sequence[str]], cores: int, locations_per_batch: int):
    """(img_ids, images) batches from the backend's input pipeline; locations that failed to decode are left out."""
    if not uses_tensorflow():
        from sview_assets.ml.features.pillow_input import location_batches

        yield from location_batches(img_ids, paths, cores, locations_per_batch)
        return
    for ids, images in location_dataset(img_ids, paths, cores, locations_per_batch):
        yield ids.numpy(), images.numpy()
