"""Which device the Keras backend computes on: a GPU when one is visible (and wanted), else the CPU.

``SVIEW_DEVICE`` chooses: ``auto`` (default: the first GPU if TensorFlow sees one), ``cpu`` (hide
the GPUs from this process) or ``gpu`` (fail clearly when there is none, rather than run for hours on
the CPU). The answer goes into the features' and models' metadata.
"""

from __future__ import annotations

import os

DEVICE_ENV = "SVIEW_DEVICE"
CHOICES = ("auto", "cpu", "gpu")
CPU = "CPU"
LOCATIONS_PER_CALL = {CPU: 1, "GPU": 32}


def device_choice() -> str:
    """``$SVIEW_DEVICE`` checked (``auto`` when unset)."""
    value = os.environ.get(DEVICE_ENV, "").strip().lower() or "auto"
    if value not in CHOICES:
        raise ValueError(f"{DEVICE_ENV}={value!r} is not one of {', '.join(CHOICES)}")
    return value


def select_device() -> str:
    """Apply ``$SVIEW_DEVICE`` to the backend and name the device it will use: ``"CPU"`` or ``"GPU:0 (<model>)"``."""
    from sview_assets.ml.backend import keras_backend, uses_tensorflow

    choice = device_choice()
    if not uses_tensorflow():
        return _other_backend_device(keras_backend(), choice)
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if choice == "gpu" and not gpus:
        raise RuntimeError(
            f"{DEVICE_ENV}=gpu but TensorFlow sees no GPU. Install the CUDA libraries with pip install -e '.[gpu]', "
            f"check that nvidia-smi lists the card, or unset {DEVICE_ENV} to run on the CPU."
        )
    if choice == "cpu" or not gpus:
        if gpus:
            _hide_gpus(tf)
        return CPU
    for gpu in gpus:
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError:
            pass  # the runtime already started in this process, with the same setting
    name = tf.config.experimental.get_device_details(gpus[0]).get("device_name", gpus[0].name)
    return f"GPU:0 ({name})"


def _other_backend_device(backend: str, choice: str) -> str:
    """The device JAX or PyTorch will use; they choose it when they start, so ``cpu`` with a GPU present is an error."""
    name = None
    if backend == "jax":
        import jax

        gpus = [d for d in jax.devices() if d.platform == "gpu"]
        name = gpus[0].device_kind if gpus else None
    elif backend == "torch":
        import torch

        name = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    if choice == "gpu" and not name:
        raise RuntimeError(f"{DEVICE_ENV}=gpu but {backend} sees no GPU. Install its CUDA build, check nvidia-smi, or unset {DEVICE_ENV}.")
    if choice == "cpu" and name:
        raise RuntimeError(f"{DEVICE_ENV}=cpu, but {backend} has taken the GPU; hide it before the process starts (CUDA_VISIBLE_DEVICES=).")
    return f"GPU:0 ({name})" if name else CPU


def _hide_gpus(tf) -> None:
    try:
        tf.config.set_visible_devices([], "GPU")
    except RuntimeError as exc:
        raise RuntimeError(f"{DEVICE_ENV}=cpu must be set before TensorFlow starts in this process: {exc}") from exc


def locations_per_call(device: str, configured: int) -> int:
    """Locations (x4 images) per VGG16 call: ``configured`` if set (> 0), else 1 on the CPU (4 images: as fast there as 8 or 32, and less to hold) and 32 on a GPU."""
    if configured > 0:
        return configured
    return LOCATIONS_PER_CALL["GPU" if device.startswith("GPU") else CPU]
