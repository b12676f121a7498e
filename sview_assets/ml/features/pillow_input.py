"""The VGG16 input pipeline without TensorFlow: Pillow decodes on a thread pool, NumPy batches of fixed shape.

Used when Keras runs on JAX or PyTorch (the GPU machines of many users have no TensorFlow). The steps
are the method's, as :mod:`.preprocess` does them in TensorFlow: shorter side to 224 (aspect kept,
bilinear with antialiasing), the central 224x224, RGB to BGR, ImageNet means subtracted. Pillow's
resampling is not TensorFlow's to the last bit, so the two pipelines' inputs differ slightly (the
backend test states by how much in features). A location whose image fails to decode is reported,
and the others go on.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from itertools import islice

import numpy as np
from PIL import Image

from sview_assets.ml.features.vgg16 import IMAGE_SIZE

IMAGENET_BGR_MEAN = np.array((103.939, 116.779, 123.68), dtype=np.float32)


def load_and_preprocess(path: str) -> np.ndarray:
    """One image file to a [224, 224, 3] float32 VGG input."""
    with Image.open(path) as image:
        image = image.convert("RGB")
        width, height = image.size
        scale = IMAGE_SIZE / min(width, height)
        size = (max(IMAGE_SIZE, round(width * scale)), max(IMAGE_SIZE, round(height * scale)))
        resized = image.resize(size, Image.Resampling.BILINEAR)
    left, top = (size[0] - IMAGE_SIZE) // 2, (size[1] - IMAGE_SIZE) // 2
    pixels = np.asarray(resized, dtype=np.float32)[top : top + IMAGE_SIZE, left : left + IMAGE_SIZE]
    return pixels[..., ::-1] - IMAGENET_BGR_MEAN


def _load_location(task: tuple[int, Sequence[str]]) -> tuple[int, np.ndarray | None]:
    img_id, paths = task
    try:
        return img_id, np.stack([load_and_preprocess(p) for p in paths])
    except (OSError, ValueError, SyntaxError):
        return img_id, None


def location_batches(img_ids: Sequence[int], paths: Sequence[Sequence[str]], cores: int, locations_per_batch: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(img_ids, images [B, 4, 224, 224, 3]) per batch, decoded on ``cores`` threads at most two batches ahead of the
    model (memory stays bounded); a location that fails to decode is left out (the caller finds it missing)."""
    tasks = iter(zip(img_ids, paths))
    ids, images = [], []
    with ThreadPoolExecutor(max_workers=max(1, cores)) as pool:
        pending = deque(pool.submit(_load_location, task) for task in islice(tasks, 2 * locations_per_batch))
        while pending:
            img_id, location = pending.popleft().result()
            pending.extend(pool.submit(_load_location, task) for task in islice(tasks, 1))
            if location is not None:
                ids.append(int(img_id))
                images.append(location)
            if len(ids) == locations_per_batch or (not pending and ids):
                yield np.asarray(ids, dtype=np.int64), np.stack(images)
                ids, images = [], []
