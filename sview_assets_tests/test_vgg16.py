"""VGG16 fc6 extraction: preprocessing, equality with a direct Keras call, and weights files."""

import h5py
import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from sview_assets.ml.features import vgg16
from sview_assets.ml.features.extract import extract_features
from sview_assets.ml.features.preprocess import load_and_preprocess, resize_and_crop
from sview_assets.ml.features.vgg16 import (
    FC6_LAYER,
    FC6_MODEL_LAYER,
    KERAS_LAYERS,
    NPY_LAYERS,
    WeightsFileError,
    build_fc6_extractor,
    flat_weight_shapes,
    weights_info,
)

from .helpers import NARROW_WIDTH


@pytest.fixture(scope="module")
def random_extractor():
    """VGG16's layers narrowed 16x (seeded random weights): what the extraction code does, tested cheaply."""
    return build_fc6_extractor(None, seed=5, width_divisor=NARROW_WIDTH)


@pytest.fixture(scope="module")
def full_extractor():
    """VGG16 itself (138 million seeded random weights), for the tests of its architecture and weights files."""
    return build_fc6_extractor(None, seed=5)


def layer_weights(model, names=KERAS_LAYERS):
    """Kernel and bias of each named VGG16 layer of an extractor (Keras' fc1 is the extractor's linear fc6)."""
    return {name: model.get_layer(FC6_MODEL_LAYER if name == FC6_LAYER else name).get_weights() for name in names}


def save_png(path, array, mode=None):
    Image.fromarray(array, mode=mode).save(path)
    return str(path)


def street_like(rng, height=240, width=320):
    return rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)


def test_fc6_is_the_bias_add_before_relu(random_extractor):
    model, _ = random_extractor
    batch = np.random.default_rng(6).normal(0, 40, size=(3, 224, 224, 3)).astype(np.float32)
    pool5 = keras.Model(model.inputs, model.get_layer("block5_pool").output)(batch, training=False).numpy()
    kernel, bias = model.get_layer(FC6_MODEL_LAYER).get_weights()
    by_hand = pool5.reshape(len(batch), -1).astype(np.float64) @ kernel.astype(np.float64) + bias
    features = model(batch, training=False).numpy()
    np.testing.assert_allclose(features, by_hand, rtol=1e-4, atol=1e-4 * np.abs(by_hand).max())
    assert (features < 0).mean() > 0.2, "before the ReLU a good share of fc6 values is negative"


def test_weights_info_matches_the_built_extractor_without_building_it(full_extractor):
    _, info = full_extractor
    assert weights_info(None, seed=5) == info
    assert weights_info(None, seed=6).sha256 != info.sha256


def test_the_convolutions_are_keras_applications_vgg16(full_extractor):
    model, _ = full_extractor
    reference = keras.applications.VGG16(weights=None, include_top=False, input_shape=(224, 224, 3))
    for name in KERAS_LAYERS[:-1]:
        reference.get_layer(name).set_weights(model.get_layer(name).get_weights())
    assert [layer.name for layer in reference.layers[1:]] == [layer.name for layer in model.layers[1:19]]
    batch = np.random.default_rng(2).normal(0, 40, size=(2, 224, 224, 3)).astype(np.float32)
    ours = keras.Model(model.inputs, model.get_layer("block5_pool").output)(batch, training=False).numpy()
    np.testing.assert_allclose(ours, reference(batch, training=False).numpy(), rtol=1e-5, atol=1e-5)


def test_a_narrowed_vgg16_has_the_same_layers_with_fewer_channels_and_says_so():
    narrow, info = build_fc6_extractor(None, seed=5, width_divisor=NARROW_WIDTH)
    assert info.source == "random (seed 5), VGG16 narrowed 16x" and info == weights_info(None, seed=5, width_divisor=16)
    assert info.sha256 != weights_info(None, seed=5).sha256
    assert narrow.get_layer("block1_conv1").get_weights()[0].shape == (3, 3, 3, 4)
    assert narrow.get_layer(FC6_MODEL_LAYER).get_weights()[0].shape == (7 * 7 * 32, 4096)
    features = narrow(np.random.default_rng(3).normal(0, 40, size=(2, 224, 224, 3)).astype(np.float32), training=False).numpy()
    assert features.shape == (2, 4096) and np.isfinite(features).all() and features.std() > 0
    with pytest.raises(WeightsFileError, match="random weights only"):
        build_fc6_extractor("weights.h5", width_divisor=16)


def test_fc6_kernel_built_block_by_block_equals_one_draw_of_the_whole_kernel(monkeypatch):
    monkeypatch.setattr(vgg16, "FC6_BLOCK_ROWS", 100)
    model, _ = build_fc6_extractor(None, seed=5, width_divisor=NARROW_WIDTH)
    rng = np.random.default_rng(5)
    *conv_shapes, fc6_shape, _ = flat_weight_shapes(NARROW_WIDTH)
    assert fc6_shape[0] > 10 * vgg16.FC6_BLOCK_ROWS
    for shape in conv_shapes:
        if len(shape) > 1:
            rng.standard_normal(shape, dtype=np.float32)
    expected = rng.standard_normal(fc6_shape, dtype=np.float32) * np.float32(np.sqrt(2.0 / fc6_shape[0]))
    kernel, bias = model.get_layer(FC6_MODEL_LAYER).get_weights()
    np.testing.assert_array_equal(kernel, expected)
    assert not bias.any()


def test_pipeline_features_equal_a_direct_model_call(tmp_path, random_extractor):
    model, info = random_extractor
    rng = np.random.default_rng(0)
    paths, pixels = [], []
    for heading in "abcd":
        image = street_like(rng)
        paths.append(save_png(tmp_path / f"1_{heading}.png", image))
        pixels.append(image)
    result = extract_features(model, [1], [paths])
    assert result.failed == [] and result.features.shape == (1, 4, 4096)
    # Reference: Keras' own VGG preprocessing on the same resized/cropped pixels, then a direct call.
    cropped = np.stack([resize_and_crop(tf.constant(p, tf.float32)).numpy() for p in pixels])
    assert cropped.shape == (4, 224, 224, 3)
    direct = model(keras.applications.vgg16.preprocess_input(cropped.copy()), training=False).numpy()
    np.testing.assert_allclose(result.features[0], direct, rtol=1e-4, atol=1e-4 * np.abs(direct).max())
    assert info.is_random and info.source == "random (seed 5), VGG16 narrowed 16x"


def test_shorter_side_resized_then_centre_cropped():
    image = np.zeros((240, 480, 3), np.float32)
    image[:, 200:280] = 255.0
    out = resize_and_crop(tf.constant(image)).numpy()
    assert out.shape == (224, 224, 3)
    # 480x240 -> 448x224; the central 224 columns hold the bright band (scaled to 187..261 -> 75..149 after crop).
    assert out[:, 112].mean() > 250 and out[:, 10].mean() < 5


@pytest.mark.parametrize(
    "make",
    [
        lambda rgb: (rgb.mean(axis=2).astype(np.uint8), "L"),
        lambda rgb: (np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)]), "RGBA"),
    ],
    ids=["grayscale", "rgba"],
)
def test_grayscale_and_rgba_decode_to_three_channels(tmp_path, make):
    rgb = street_like(np.random.default_rng(1), 150, 200)
    array, mode = make(rgb)
    out = load_and_preprocess(tf.constant(save_png(tmp_path / "x.png", array, mode))).numpy()
    assert out.shape == (224, 224, 3)
    if mode == "RGBA":
        expected = load_and_preprocess(tf.constant(save_png(tmp_path / "y.png", rgb))).numpy()
        np.testing.assert_allclose(out, expected, atol=1e-3)
    else:
        assert np.allclose(out[..., 0] + 103.939, out[..., 2] + 123.68, atol=1e-3)


def test_sixteen_bit_png_matches_eight_bit(tmp_path):
    rgb8 = street_like(np.random.default_rng(2), 120, 160)
    rgb16 = rgb8.astype(np.uint16) * 257
    path16 = tmp_path / "deep.png"
    Image.fromarray(rgb16[..., 0]).save(path16)
    assert Image.open(path16).mode.startswith("I;16")
    gray8 = save_png(tmp_path / "gray8.png", rgb8[..., 0])
    deep = load_and_preprocess(tf.constant(str(path16))).numpy()
    shallow = load_and_preprocess(tf.constant(gray8)).numpy()
    np.testing.assert_allclose(deep, shallow, atol=0.05)


def test_corrupt_image_skips_only_that_location(tmp_path, random_extractor):
    model, _ = random_extractor
    rng = np.random.default_rng(3)
    good = [save_png(tmp_path / f"1_{h}.png", street_like(rng, 120, 160)) for h in "abcd"]
    bad = [save_png(tmp_path / f"2_{h}.png", street_like(rng, 120, 160)) for h in "abcd"]
    with open(bad[2], "r+b") as handle:
        handle.seek(40)
        handle.write(b"\x00" * 200)
    result = extract_features(model, [1, 2], [good, bad])
    assert result.img_ids.tolist() == [1]
    assert result.failed == [2]


def _write_keras_h5(path, model_layers):
    """A weights file in the layout of Keras' released vgg16_weights_tf_dim_ordering_tf_kernels.h5."""
    with h5py.File(path, "w") as handle:
        handle.attrs["layer_names"] = [n.encode() for n in model_layers]
        for name, (kernel, bias) in model_layers.items():
            group = handle.create_group(name)
            names = [f"{name}_W_1:0".encode(), f"{name}_b_1:0".encode()]
            group.attrs["weight_names"] = names
            group.create_dataset(names[0].decode(), data=kernel)
            group.create_dataset(names[1].decode(), data=bias)


@pytest.mark.slow
def test_h5_and_npy_weights_load_back_to_identical_features(tmp_path, full_extractor):
    model, info = full_extractor
    weights = layer_weights(model)
    h5_path = tmp_path / "vgg16_weights_tf_dim_ordering_tf_kernels.h5"
    _write_keras_h5(h5_path, weights)
    npy_path = tmp_path / "vgg16.npy"
    np.save(npy_path, {npy: weights[keras_name] for npy, keras_name in zip(NPY_LAYERS, KERAS_LAYERS)}, allow_pickle=True)

    batch = np.random.default_rng(4).normal(0, 50, size=(2, 224, 224, 3)).astype(np.float32)
    reference = model(batch, training=False).numpy()
    for path, kind in ((h5_path, "keras h5"), (npy_path, "vgg16.npy")):
        loaded, loaded_info = build_fc6_extractor(str(path))
        np.testing.assert_array_equal(loaded(batch, training=False).numpy(), reference)
        assert loaded_info.sha256 == info.sha256
        assert loaded_info.source == f"{kind}: {path.name}" and not loaded_info.is_random


def test_bad_weights_files_give_clear_errors(tmp_path, full_extractor):
    model, _ = full_extractor
    not_hdf5 = tmp_path / "junk.h5"
    not_hdf5.write_bytes(b"not a weights file")
    with pytest.raises(WeightsFileError, match="not an HDF5 file"):
        build_fc6_extractor(str(not_hdf5))

    no_top = tmp_path / "notop.h5"
    _write_keras_h5(no_top, layer_weights(model, KERAS_LAYERS[:-1]))
    with pytest.raises(WeightsFileError, match="no weights for VGG16 layer 'fc1'.*notop"):
        build_fc6_extractor(str(no_top))

    wrong_shape = tmp_path / "wrong.h5"
    _write_keras_h5(wrong_shape, {"block1_conv1": [np.zeros((3, 3, 1, 64), np.float32), np.zeros(64, np.float32)]})
    with pytest.raises(WeightsFileError, match=r"'block1_conv1' has weights of shape \(3, 3, 1, 64\)"):
        build_fc6_extractor(str(wrong_shape))

    with pytest.raises(WeightsFileError, match="weights file not found"):
        build_fc6_extractor(str(tmp_path / "missing.h5"))


class Exploit:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_npy_loader_refuses_code_in_pickles(tmp_path, capsys):
    path = tmp_path / "vgg16.npy"
    np.save(path, np.array({"conv1_1": Exploit()}, dtype=object), allow_pickle=True)
    with pytest.raises(WeightsFileError, match="refusing to load builtins.print"):
        build_fc6_extractor(str(path))
    assert "must never run" not in capsys.readouterr().out


@pytest.mark.parametrize("precision", ["bfloat16", "float16"])
def test_16_bit_features_agree_with_float32_and_come_back_as_float32(tmp_path, random_extractor, precision):
    model, _ = random_extractor
    half_model, info = build_fc6_extractor(None, seed=5, precision=precision, width_divisor=NARROW_WIDTH)
    rng = np.random.default_rng(7)
    paths = [save_png(tmp_path / f"1_{h}.png", street_like(rng)) for h in "abcd"]
    full = extract_features(model, [1], [paths]).features[0]
    half = extract_features(half_model, [1], [paths]).features[0]
    assert half.dtype == np.float32 and not np.array_equal(half, full)
    cosine = (full * half).sum(axis=1) / np.linalg.norm(full, axis=1) / np.linalg.norm(half, axis=1)
    assert cosine.min() > 0.999
    assert info.source == "random (seed 5), VGG16 narrowed 16x"
    with pytest.raises(ValueError, match="precision 'half' is not one of float32, bfloat16, float16"):
        build_fc6_extractor(None, seed=5, precision="half")
