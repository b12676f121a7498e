"""Batched fc6 feature extraction with a parallel, prefetching tf.data input pipeline.

Decoding and resizing run on ``cores`` threads while the model computes the
previous batch. A location whose images fail to decode is dropped from the
stream and reported, and the others go on.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import tensorflow as tf

from .inference import compiled_inference
from .preprocess import load_and_preprocess
from .threads import available_cores
from .vgg16 import FEATURE_DIM, IMAGE_SIZE

N_HEADINGS = 4


@dataclass
class ExtractionResult:
    """Features of the locations that decoded, aligned with ``img_ids``, and those that did not."""

    img_ids: np.ndarray
    features: np.ndarray
    failed: list[int] = field(default_factory=list)


def location_dataset(img_ids: Sequence[int], paths: Sequence[Sequence[str]], cores: int, locations_per_batch: int) -> tf.data.Dataset:
    """(img_id batch, [B, 4, 224, 224, 3]) batches decoded in parallel, bad locations dropped."""

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
    done = 0
    for ids, images in location_dataset(expected, paths, cores, locations_per_batch):
        flat = tf.reshape(images, [-1, IMAGE_SIZE, IMAGE_SIZE, 3])
        feats = infer(flat).numpy().reshape(-1, N_HEADINGS, FEATURE_DIM)
        ids_out.append(ids.numpy())
        done += len(ids_out[-1])
        feats_out.append(feats)
        if progress:
            progress(done, len(expected))
    got = np.concatenate(ids_out) if ids_out else np.zeros(0, np.int64)
    features = np.concatenate(feats_out) if feats_out else np.zeros((0, N_HEADINGS, FEATURE_DIM), np.float32)
    failed = sorted(set(expected) - set(got.tolist()))
    return ExtractionResult(got, features.astype(np.float32), failed)
