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

``width_divisor`` > 1 narrows every convolution (64 channels become 64 / divisor, and so on), with
random weights only: a network of VGG16's shape, tens of times cheaper, for quick trials and the tests.
Its features are not VGG16's, and its weights source says so (``random (seed N), VGG16 narrowed Dx``).
"""

from __future__ import annotations

import functools
import hashlib
import os
import pickle
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

FC6_LAYER = "fc1"
FEATURE_DIM = 4096
IMAGE_SIZE = 224
CONV_BLOCKS = ((1, 2), (2, 2), (3, 3), (4, 3), (5, 3))
CONV_WIDTHS = (64, 128, 256, 512, 512)
WIDTH_DIVISORS = (1, 2, 4, 8, 16, 32, 64)
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
MODEL_DESCRIPTION = "VGG16 conv blocks (Keras layers, as keras.applications.VGG16) + fc1 kernel and bias without its ReLU (the paper's fc6 bias-add, 4096-D)"


def vgg16_weight_shapes(width_divisor: int = 1) -> dict[str, list[tuple[int, ...]]]:
    """Kernel and bias shapes of every VGG16 layer up to fc1, by Keras layer name (no Keras import)."""
    if width_divisor not in WIDTH_DIVISORS:
        raise ValueError(f"VGG16 width divisor {width_divisor} is not one of {', '.join(map(str, WIDTH_DIVISORS))}")
    shapes: dict[str, list[tuple[int, ...]]] = {}
    channels = 3
    for (block, convs), full_width in zip(CONV_BLOCKS, CONV_WIDTHS):
        width = full_width // width_divisor
        for i in range(1, convs + 1):
            shapes[f"block{block}_conv{i}"] = [(3, 3, channels, width), (width,)]
            channels = width
    shapes[FC6_LAYER] = [(7 * 7 * channels, FEATURE_DIM), (FEATURE_DIM,)]
    return shapes


class WeightsFileError(ValueError):
    """A weights file is missing, unreadable or does not fit VGG16."""


@dataclass(frozen=True)
class WeightsInfo:
    """Where the extractor's weights came from, for metadata and feature files."""

    source: str
    sha256: str
    is_random: bool


FC6_BLOCK_ROWS = 1568
"""Rows of fc6's kernel (25,088 x 4,096) read, generated and copied at a time: 16 blocks of 26 MB, so the
411 MB kernel is never held whole outside its variable."""


def flat_weight_shapes(width_divisor: int = 1) -> list[tuple[int, ...]]:
    """Every weight array's shape up to fc1 in layer order (kernel, bias, kernel, ...)."""
    return [shape for shapes in vgg16_weight_shapes(width_divisor).values() for shape in shapes]


def row_blocks(array: np.ndarray, rows: int = FC6_BLOCK_ROWS) -> Iterator[np.ndarray]:
    """Consecutive row blocks of ``array``: views of a NumPy array, or reads of an HDF5 dataset one block at a time."""
    for start in range(0, len(array), rows):
        yield array[start : start + rows]


class _Checksummed:
    """Passes weight pieces through while hashing them: SHA-256 over each array's shape and float32 bytes, in order.

    A whole array and the same array in row blocks hash alike, so the checksum does not depend on how
    a source delivers its arrays (Keras HDF5, ``vgg16.npy`` or the seed).
    """

    def __init__(self, pieces: Iterator[tuple[int, np.ndarray]], shapes: list[tuple[int, ...]]):
        self.pieces = pieces
        self.digest = hashlib.sha256()
        self.shapes = shapes

    def __iter__(self) -> Iterator[tuple[int, np.ndarray]]:
        current = None
        for position, piece in self.pieces:
            if position != current:
                self.digest.update(str(self.shapes[position]).encode())
                current = position
            self.digest.update(memoryview(np.ascontiguousarray(piece, dtype=np.float32)).cast("B"))
            yield position, piece

    def hexdigest(self) -> str:
        return self.digest.hexdigest()


def random_pieces(seed: int, shapes: list[tuple[int, ...]]) -> Iterator[tuple[int, np.ndarray]]:
    """He-normal kernels and zero biases, so activations keep their scale through 14 layers; large kernels in row blocks.

    The generator draws the blocks one after another from one stream, so they equal one draw of the whole kernel.
    """
    rng = np.random.default_rng(seed)
    for position, shape in enumerate(shapes):
        if len(shape) == 1:
            yield position, np.zeros(shape, dtype=np.float32)
            continue
        scale = np.float32(np.sqrt(2.0 / int(np.prod(shape[:-1]))))
        for start in range(0, shape[0], FC6_BLOCK_ROWS):
            block = rng.standard_normal((min(FC6_BLOCK_ROWS, shape[0] - start), *shape[1:]), dtype=np.float32)
            block *= scale
            yield position, block


def _check_shapes(path: Path, layer: str, shapes: list[tuple[int, ...]], expected: list[tuple[int, ...]]) -> None:
    if len(shapes) != 2:
        raise WeightsFileError(f"{path}: layer {layer!r} has {len(shapes)} weight arrays, expected 2 (kernel and bias).")
    for shape, wanted in zip(shapes, expected):
        if tuple(shape) != tuple(wanted):
            raise WeightsFileError(
                f"{path}: layer {layer!r} has weights of shape {tuple(shape)}, VGG16 needs {tuple(wanted)}. "
                "Is this a VGG16 file with its top (fc layers) and channels-last kernels?"
            )


def keras_h5_pieces(path: Path) -> Iterator[tuple[int, np.ndarray]]:
    """Kernels and biases of each VGG16 layer up to fc1 from a Keras HDF5 weights file, read in row blocks."""
    try:
        handle = h5py.File(path, "r")
    except OSError as exc:
        raise WeightsFileError(f"{path}: not an HDF5 file ({exc}).") from None
    with handle:
        root = handle["model_weights"] if "model_weights" in handle else handle
        datasets = []
        for layer, shapes in vgg16_weight_shapes().items():
            if layer not in root:
                hint = " It may be the 'notop' file; fc6 needs the full file with the fc layers." if layer == FC6_LAYER else ""
                raise WeightsFileError(f"{path}: no weights for VGG16 layer {layer!r}.{hint}")
            group = root[layer]
            names = [n.decode() if isinstance(n, bytes) else str(n) for n in group.attrs.get("weight_names", [])]
            if not names:
                raise WeightsFileError(f"{path}: layer group {layer!r} has no 'weight_names' attribute; not a Keras weights file.")
            _check_shapes(path, layer, [group[n].shape for n in names], shapes)
            datasets += [group[n] for n in names]
        for position, dataset in enumerate(datasets):
            for block in row_blocks(dataset):
                yield position, np.asarray(block, dtype=np.float32)


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


def original_npy_pieces(path: Path) -> Iterator[tuple[int, np.ndarray]]:
    """Kernels and biases from the original code's ``vgg16.npy`` (names conv1_1 .. fc6); the file is read whole."""
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
    for npy_name, (keras_name, shapes) in zip(NPY_LAYERS, vgg16_weight_shapes().items()):
        key = npy_name if npy_name in table else npy_name.encode()
        if key not in table:
            raise WeightsFileError(f"{path}: no weights for layer {npy_name!r} (VGG16 {keras_name}).")
        pair = list(table[key])
        _check_shapes(path, npy_name, [np.shape(a) for a in pair], shapes)
        arrays += [np.asarray(a, dtype=np.float32) for a in pair]
    for position in range(len(arrays)):
        array, arrays[position] = arrays[position], None  # each array let go once it has been handed over
        for block in row_blocks(array):
            yield position, block


def weight_pieces(weights_file: str | None, seed: int = 0, width_divisor: int = 1) -> tuple[str, _Checksummed]:
    """Where the weights come from, and their arrays up to fc1 in layer order as ``(position, piece)`` pairs.

    Large arrays (fc6's kernel) come as consecutive row blocks; the checksum of the stream, taken once it
    is read through, is the same for the same weights whether they come as Keras HDF5 or ``vgg16.npy``:
    it is what makes a feature file stale when the weights change.
    """
    shapes = flat_weight_shapes(width_divisor)
    if not weights_file:
        narrowed = f", VGG16 narrowed {width_divisor}x" if width_divisor > 1 else ""
        return f"random (seed {seed}){narrowed}", _Checksummed(random_pieces(seed, shapes), shapes)
    path = Path(weights_file)
    if width_divisor > 1:
        raise WeightsFileError(
            f"{path}: a narrowed VGG16 (width divisor {width_divisor}) takes random weights only; set the divisor to 1 to use a weights file."
        )
    if not path.is_file():
        raise WeightsFileError(f"{path}: weights file not found. Set SVIEW_VGG16_WEIGHTS to an existing file, or unset it for random weights.")
    if path.suffix.lower() == ".npy":
        return f"vgg16.npy: {path.name}", _Checksummed(original_npy_pieces(path), shapes)
    return f"keras h5: {path.name}", _Checksummed(keras_h5_pieces(path), shapes)


@functools.lru_cache(maxsize=4)
def _cached_weights_info(weights_file: str | None, seed: int, file_stamp: tuple[int, int] | None, width_divisor: int) -> WeightsInfo:
    source, pieces = weight_pieces(weights_file, seed, width_divisor)
    for _ in pieces:
        pass
    return WeightsInfo(source, pieces.hexdigest(), is_random=not weights_file)


def file_stamp(weights_file: str | None) -> tuple[int, int] | None:
    """(size, modification time) of a weights file, so caches notice a replaced file; None without one."""
    if weights_file and os.path.isfile(weights_file):
        stat = os.stat(weights_file)
        return stat.st_size, stat.st_mtime_ns
    return None


def weights_info(weights_file: str | None, seed: int = 0, width_divisor: int = 1) -> WeightsInfo:
    """Source and checksum of the weights an extractor would use, without building a model.

    Cached per process by the file's size and modification time, so the image
    sensor can compare feature files with the current weights on every tick.
    """
    return _cached_weights_info(weights_file or None, seed, file_stamp(weights_file), width_divisor)


def build_fc6_extractor(weights_file: str | None = None, seed: int = 0, precision: str = FLOAT32, width_divisor: int = 1):
    """A Keras model mapping preprocessed 224x224 BGR images to fc6 before ReLU, and its weights info.

    With ``precision="bfloat16"`` (or ``"float16"``, for GPUs without native bfloat16) the layers compute
    in 16 bits (Keras' mixed policies: weights stay float32); callers store the features as float32 either way.
    The weights stream in layer by layer, and fc6's kernel block by block, so the build holds them about once.
    """
    import keras

    if precision not in PRECISIONS:
        raise ValueError(f"VGG16 precision {precision!r} is not one of {', '.join(PRECISIONS)}.")
    source, pieces = weight_pieces(weights_file, seed, width_divisor)
    arrays = _WholeArrays(iter(pieces))
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(_POLICIES[precision])
    try:
        inputs, pooled = _convolution_blocks(keras, width_divisor)
        convolutions = keras.Model(inputs, pooled)
        for name in KERAS_LAYERS[:-1]:
            convolutions.get_layer(name).set_weights([arrays.next_whole(), arrays.next_whole()])
        kernel_initializer = _uninitialised_tensor if keras.backend.backend() == "tensorflow" else "zeros"
        fc6 = keras.layers.Dense(FEATURE_DIM, activation=None, kernel_initializer=kernel_initializer, bias_initializer="zeros", name=FC6_MODEL_LAYER)
        features = fc6(keras.layers.Flatten(name="flatten")(pooled))
        model = keras.Model(inputs, features, name="vgg16_fc6")
    finally:
        keras.config.set_dtype_policy(previous)
    _fill_kernel(fc6.kernel, arrays.next_blocks())
    fc6.bias.assign(arrays.next_whole())
    return model, WeightsInfo(source, pieces.hexdigest(), is_random=not weights_file)


def _convolution_blocks(keras, width_divisor: int):
    """VGG16's five convolution blocks as ``keras.applications.VGG16`` lays them out (same layer names), each
    convolution ``width_divisor`` times narrower; the input and the last pooling's output."""
    inputs = keras.Input((IMAGE_SIZE, IMAGE_SIZE, 3), name="input_layer")
    x = inputs
    for (block, convs), width in zip(CONV_BLOCKS, CONV_WIDTHS):
        for i in range(1, convs + 1):
            x = keras.layers.Conv2D(width // width_divisor, (3, 3), activation="relu", padding="same", name=f"block{block}_conv{i}")(x)
        x = keras.layers.MaxPooling2D((2, 2), strides=(2, 2), name=f"block{block}_pool")(x)
    return inputs, x


class _WholeArrays:
    """Reads a stream of weight pieces array by array: small arrays whole, a large one as its row blocks."""

    def __init__(self, pieces: Iterator[tuple[int, np.ndarray]]):
        self.pieces = pieces
        self.pending: tuple[int, np.ndarray] | None = next(pieces, None)

    def next_blocks(self) -> Iterator[np.ndarray]:
        """The next array's pieces, one at a time (each can be freed before the next is read)."""
        if self.pending is None:
            raise WeightsFileError("the weights ended before fc6")
        position = self.pending[0]
        while self.pending is not None and self.pending[0] == position:
            block, self.pending = self.pending[1], None
            yield block
            self.pending = next(self.pieces, None)

    def next_whole(self) -> np.ndarray:
        blocks = list(self.next_blocks())
        return blocks[0] if len(blocks) == 1 else np.concatenate(blocks)


def _uninitialised_tensor(shape, dtype=None):
    """fc6's kernel before its blocks are copied in: TensorFlow's ``Empty`` touches no page, so it costs no memory yet."""
    import tensorflow as tf

    return tf.raw_ops.Empty(shape=list(shape), dtype=tf.as_dtype(dtype or FLOAT32), init=False)


def _fill_kernel(kernel, blocks: Iterator[np.ndarray]) -> None:
    """Copy fc6's kernel into its variable one row block at a time.

    On TensorFlow each block goes straight into the variable's buffer (a strided-slice assign), and the
    variable then leaves the copy-on-read mode that such an assign switches on (otherwise every read would
    copy 411 MB). Other backends get the kernel assembled once and assigned.
    """
    import keras

    if keras.backend.backend() != "tensorflow":
        kernel.assign(np.concatenate(list(blocks)))
        return
    import tensorflow as tf

    handle, row = kernel.value.handle, 0
    for block in blocks:
        end = [row + len(block), block.shape[1]]
        tf.raw_ops.ResourceStridedSliceAssign(ref=handle, begin=[row, 0], end=end, strides=[1, 1], value=block)
        row += len(block)
    tf.raw_ops.DisableCopyOnRead(resource=handle)
    if row != kernel.shape[0]:
        raise WeightsFileError(f"fc6's kernel had {row} rows, VGG16 needs {kernel.shape[0]}")
