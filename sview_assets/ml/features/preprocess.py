"""VGG image preprocessing as in the method: shorter side to 224, centre crop, caffe mode."""

from __future__ import annotations

import tensorflow as tf

from sview_assets.ml.features.vgg16 import IMAGE_SIZE

IMAGENET_BGR_MEAN = (103.939, 116.779, 123.68)


def decode_rgb(data: tf.Tensor) -> tf.Tensor:
    """PNG or JPEG bytes to float32 RGB in 0..255; grayscale, RGBA and 16-bit handled."""
    image = tf.io.decode_image(data, channels=3, dtype=tf.float32, expand_animations=False)
    return image * 255.0


def resize_and_crop(image: tf.Tensor) -> tf.Tensor:
    """Scale so the shorter side is 224 (aspect kept), then cut the central 224x224."""
    shape = tf.cast(tf.shape(image)[:2], tf.float32)
    scale = IMAGE_SIZE / tf.reduce_min(shape)
    new_size = tf.maximum(tf.cast(tf.round(shape * scale), tf.int32), IMAGE_SIZE)
    resized = tf.image.resize(image, new_size, method="bilinear", antialias=True)
    top = (new_size[0] - IMAGE_SIZE) // 2
    left = (new_size[1] - IMAGE_SIZE) // 2
    return resized[top : top + IMAGE_SIZE, left : left + IMAGE_SIZE, :]


def caffe_preprocess(image: tf.Tensor) -> tf.Tensor:
    """RGB to BGR and subtract the ImageNet channel means (no scaling), as VGG16 was trained."""
    return image[..., ::-1] - tf.constant(IMAGENET_BGR_MEAN, dtype=tf.float32)


def load_and_preprocess(path: tf.Tensor) -> tf.Tensor:
    """One image file to a [224, 224, 3] VGG input."""
    return caffe_preprocess(resize_and_crop(decode_rgb(tf.io.read_file(path))))
