"""Keras VGG16 up to fc6 *before its ReLU* (the paper's feature), with weights from a file or a seed.

The original code kept VGG16's ``fc6`` tensor, the bias-add output; its ReLU
is a separate op there. Keras' layer ``fc1`` has the ReLU built in, so the
extractor ends in a linear copy of ``fc1`` (same kernel and bias, no
activation): ``flatten(pool5) @ W_fc1 + b_fc1``.

Weights sources:

* a Keras HDF5 file such as ``vgg16_weights_tf_dim_ordering_tf_kernels.h5``
  (layer groups with a ``weight_names`` attribute), read with h5py;
* the ``vgg16.npy`` of the original TensorFlow code (a dict of
  ``conv1_1 .. fc8 -> [kernel, bias]``), read with a restricted unpickler that
  can only build NumPy arrays, so a crafted file cannot run code;
* no file: seeded random He-normal weights. Features from these are NOT
  ImageNet features; every output made with them says ``random (seed N)``.
"""

from __future__ import annotations

import functools
import hashlib
import os
import pickle
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

FC6_LAYER = "fc1"
FEATURE_DIM = 4096
IMAGE_SIZE = 224
CONV_BLOCKS = ((1, 2), (2, 2), (3, 3), (4, 3), (5, 3))
KERAS_LAYERS = tuple(f"block{b}_conv{i}" for b, n in CONV_BLOCKS for i in range(1, n + 1)) + (FC6_LAYER,)
NPY_LAYERS = tuple(f"conv{b}_{i}" for b, n in CONV_BLOCKS for i in range(1, n + 1)) + ("fc6",)
FC6_MODEL_LAYER = "fc6_before_relu"
FLOAT32 = "float32"
BFLOAT16 = "bfloat16"
FLOAT16 = "float16"
PRECISIONS = (FLOAT32, BFLOAT16, FLOAT16)
_POLICIES = {FLOAT32: FLOAT32, BFLOAT16: "mixed_bfloat16", FLOAT16: "mixed_float16"}
"""Keras' dtype policy of each precision: the mixed ones compute in 16 bits and keep the weights in float32."""
PREPROCESSING_VERSION = "shorter-side-224-bilinear-antialias/centre-crop-224/caffe-bgr-mean/fc6-pre-relu-v2"
"""Names every step from image file to feature vector; a feature file made by another version is stale."""
MODEL_DESCRIPTION = "keras.applications.VGG16 conv blocks + fc1 kernel and bias without its ReLU (the paper's fc6 bias-add, 4096-D)"


def vgg16_weight_shapes() -> dict[str, list[tuple[int, ...]]]:
    """Kernel and bias shapes of every VGG16 layer up to fc1, by Keras layer name (no Keras import)."""
    shapes: dict[str, list[tuple[int, ...]]] = {}
    channels = 3
    for (block, convs), width in zip(CONV_BLOCKS, (64, 128, 256, 512, 512)):
        for i in range(1, convs + 1):
            shapes[f"block{block}_conv{i}"] = [(3, 3, channels, width), (width,)]
            channels = width
    shapes[FC6_LAYER] = [(7 * 7 * 512, FEATURE_DIM), (FEATURE_DIM,)]
    return shapes


class WeightsFileError(ValueError):
    """A weights file is missing, unreadable or does not fit VGG16."""


@dataclass(frozen=True)
class WeightsInfo:
    """Where the extractor's weights came from, for metadata and feature files."""

    source: str
    sha256: str
    is_random: bool


def weights_checksum(arrays: list[np.ndarray]) -> str:
    """SHA-256 over the weights in layer order (shape and bytes), whatever the file format."""
    digest = hashlib.sha256()
    for array in arrays:
        digest.update(str(array.shape).encode())
        digest.update(memoryview(np.ascontiguousarray(array, dtype=np.float32)).cast("B"))
    return digest.hexdigest()


def random_weights(shapes: list[tuple[int, ...]], seed: int) -> list[np.ndarray]:
    """He-normal kernels and zero biases, so activations keep their scale through 14 layers."""
    rng = np.random.default_rng(seed)
    arrays = []
    for shape in shapes:
        if len(shape) == 1:
            arrays.append(np.zeros(shape, dtype=np.float32))
        else:
            fan_in = int(np.prod(shape[:-1]))
            kernel = rng.standard_normal(shape, dtype=np.float32)
            kernel *= np.float32(np.sqrt(2.0 / fan_in))  # in place: no second copy of fc6's 411 MB kernel
            arrays.append(kernel)
    return arrays


def _check_pair(path: Path, layer: str, arrays: list[np.ndarray], expected: list[tuple[int, ...]]) -> list[np.ndarray]:
    if len(arrays) != 2:
        raise WeightsFileError(f"{path}: layer {layer!r} has {len(arrays)} weight arrays, expected 2 (kernel and bias).")
    for array, shape in zip(arrays, expected):
        if tuple(array.shape) != tuple(shape):
            raise WeightsFileError(
                f"{path}: layer {layer!r} has weights of shape {tuple(array.shape)}, VGG16 needs {tuple(shape)}. "
                "Is this a VGG16 file with its top (fc layers) and channels-last kernels?"
            )
    return [np.asarray(a, dtype=np.float32) for a in arrays]


def read_keras_h5(path: Path, expected: dict[str, list[tuple[int, ...]]]) -> list[np.ndarray]:
    """Kernels and biases for each VGG16 layer up to fc1 from a Keras HDF5 weights file."""
    try:
        handle = h5py.File(path, "r")
    except OSError as exc:
        raise WeightsFileError(f"{path}: not an HDF5 file ({exc}).") from None
    with handle:
        root = handle["model_weights"] if "model_weights" in handle else handle
        arrays = []
        for layer, shapes in expected.items():
            if layer not in root:
                hint = " It may be the 'notop' file; fc6 needs the full file with the fc layers." if layer == FC6_LAYER else ""
                raise WeightsFileError(f"{path}: no weights for VGG16 layer {layer!r}.{hint}")
            group = root[layer]
            names = [n.decode() if isinstance(n, bytes) else str(n) for n in group.attrs.get("weight_names", [])]
            if not names:
                raise WeightsFileError(f"{path}: layer group {layer!r} has no 'weight_names' attribute; not a Keras weights file.")
            arrays += _check_pair(path, layer, [group[n][()] for n in names], shapes)
        return arrays


class _ArraysOnlyUnpickler(pickle.Unpickler):
    """Unpickler that can build NumPy arrays, lists and dicts, and nothing else."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.numeric", "_frombuffer"),
        ("numpy._core.numeric", "_frombuffer"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}: only NumPy arrays are allowed")


def read_original_npy(path: Path, expected: dict[str, list[tuple[int, ...]]]) -> list[np.ndarray]:
    """Kernels and biases from the original code's ``vgg16.npy`` (names conv1_1 .. fc6)."""
    try:
        with open(path, "rb") as handle:
            version = np.lib.format.read_magic(handle)
            reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, _, dtype = reader(handle)
            if dtype != np.dtype(object) or shape != ():
                raise WeightsFileError(f"{path}: expected a saved dict of layer weights, found an array {dtype} {shape}.")
            loaded = _ArraysOnlyUnpickler(handle, encoding="latin1").load()
    except (ValueError, pickle.UnpicklingError, EOFError) as exc:
        if isinstance(exc, WeightsFileError):
            raise
        raise WeightsFileError(f"{path}: not a readable vgg16.npy weights file ({exc}).") from None
    table = loaded.item() if isinstance(loaded, np.ndarray) else loaded
    if not isinstance(table, dict):
        raise WeightsFileError(f"{path}: expected a dict of layer weights, found {type(table).__name__}.")
    arrays = []
    for npy_name, (keras_name, shapes) in zip(NPY_LAYERS, expected.items()):
        key = npy_name if npy_name in table else npy_name.encode()
        if key not in table:
            raise WeightsFileError(f"{path}: no weights for layer {npy_name!r} (VGG16 {keras_name}).")
        arrays += _check_pair(path, npy_name, list(table[key]), shapes)
    return arrays


def load_weight_arrays(weights_file: str | None, seed: int = 0) -> tuple[list[np.ndarray], WeightsInfo]:
    """Kernels and biases of every layer up to fc1 in layer order, and where they came from.

    ``WeightsInfo.sha256`` is a checksum of the arrays themselves, so the same
    weights give the same checksum whether they come as Keras HDF5 or as
    ``vgg16.npy``; it is what makes a feature file stale when the weights change.
    """
    expected = vgg16_weight_shapes()
    if weights_file:
        path = Path(weights_file)
        if not path.is_file():
            raise WeightsFileError(f"{path}: weights file not found. Set SVIEW_VGG16_WEIGHTS to an existing file, or unset it for random weights.")
        if path.suffix.lower() == ".npy":
            arrays, kind = read_original_npy(path, expected), "vgg16.npy"
        else:
            arrays, kind = read_keras_h5(path, expected), "keras h5"
        info_source = f"{kind}: {path.name}"
    else:
        arrays = random_weights([s for shapes in expected.values() for s in shapes], seed)
        info_source = f"random (seed {seed})"
    return arrays, WeightsInfo(info_source, weights_checksum(arrays), is_random=not weights_file)


@functools.lru_cache(maxsize=4)
def _cached_weights_info(weights_file: str | None, seed: int, file_stamp: tuple[int, int] | None) -> WeightsInfo:
    return load_weight_arrays(weights_file, seed)[1]


def file_stamp(weights_file: str | None) -> tuple[int, int] | None:
    """(size, modification time) of a weights file, so caches notice a replaced file; None without one."""
    if weights_file and os.path.isfile(weights_file):
        stat = os.stat(weights_file)
        return stat.st_size, stat.st_mtime_ns
    return None


def weights_info(weights_file: str | None, seed: int = 0) -> WeightsInfo:
    """Source and checksum of the weights an extractor would use, without building a model.

    Cached per process by the file's size and modification time, so the image
    sensor can compare feature files with the current weights on every tick.
    """
    return _cached_weights_info(weights_file or None, seed, file_stamp(weights_file))


def build_fc6_extractor(weights_file: str | None = None, seed: int = 0, precision: str = FLOAT32):
    """A Keras model mapping preprocessed 224x224 BGR images to fc6 before ReLU, and its weights info.

    With ``precision="bfloat16"`` (or ``"float16"``, for GPUs without native bfloat16) the layers compute
    in 16 bits (Keras' mixed policies: weights stay float32); callers store the features as float32 either way.
    """
    import keras

    if precision not in PRECISIONS:
        raise ValueError(f"VGG16 precision {precision!r} is not one of {', '.join(PRECISIONS)}.")
    arrays, info = load_weight_arrays(weights_file, seed)
    arrays.reverse()  # popped from the end, layer by layer, so each layer's arrays are let go once its variables hold them
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(_POLICIES[precision])
    try:
        convolutions = keras.applications.VGG16(weights=None, include_top=False, input_shape=(IMAGE_SIZE, IMAGE_SIZE, 3))
        for name in KERAS_LAYERS[:-1]:
            convolutions.get_layer(name).set_weights([arrays.pop(), arrays.pop()])
        # fc6's 411 MB kernel becomes its variable from the array: built as zeros (or Keras' random draw) and then
        # assigned, it would be held once more at the peak.
        fc6 = keras.layers.Dense(
            FEATURE_DIM, activation=None, kernel_initializer=_GivenArray(arrays.pop()), bias_initializer=_GivenArray(arrays.pop()), name=FC6_MODEL_LAYER
        )
        features = fc6(keras.layers.Flatten(name="flatten")(convolutions.output))
        model = keras.Model(convolutions.inputs, features, name="vgg16_fc6")
    finally:
        keras.config.set_dtype_policy(previous)
    return model, info


class _GivenArray:
    """A Keras initializer that hands over one array, once, and then forgets it so that it can be freed."""

    def __init__(self, array: np.ndarray):
        self.array = array

    def __call__(self, shape, dtype=None):
        array, self.array = self.array, None
        if array is None or tuple(array.shape) != tuple(shape):
            raise ValueError(f"the given weights have shape {None if array is None else array.shape}, the layer needs {tuple(shape)}")
        return array
