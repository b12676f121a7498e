"""Shared fixtures: a tiny demo city and settings rooted in temporary folders."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Every process a test starts (the CLI, the webserver's runs, Dask workers) builds the narrowed VGG16 too.
os.environ.setdefault("SVIEW_VGG16_WIDTH_DIVISOR", "16")
# One TensorFlow thread per process: the test workers and the processes they start already outnumber the
# cores, and thread pools sized to every core in each of them only contend (the fast tier: 147 s instead of 160 s on a 2-core Zen 3).
os.environ.setdefault("SVIEW_TF_THREADS", "1")
os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")
os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")

import dagster as dg
import pytest

from sview_assets.config.settings import SviewSettings
from sview_assets.demo.generator import generate_city
from sview_assets.demo.geography import CitySpec

from .helpers import narrow_vgg16

TINY_CITY = CitySpec(n_lsoas=20, n_locations=60, seed=3, batch_size=30, image_width=200, image_height=150)


def make_city(root, spec: CitySpec = TINY_CITY, city: str = "tiny") -> SviewSettings:
    """Write a demo city under ``root/city/raw`` and return settings pointing at it."""
    settings = SviewSettings(data_root=str(root), city=city)
    generate_city(settings.paths.raw, spec, progress=lambda _: None)
    return settings


@pytest.fixture(scope="session")
def tiny_raw(tmp_path_factory):
    """A tiny demo city's raw files (generated once per session; copy before changing)."""
    return make_city(tmp_path_factory.mktemp("tiny_raw"))


@pytest.fixture
def tiny_city(tiny_raw, tmp_path):
    """A private copy of the tiny city's raw files and outcome declarations under ``tmp_path``."""
    settings = SviewSettings(data_root=str(tmp_path), city="tiny")
    tiny_raw.paths.copy_inputs_to(settings.paths)
    return settings


@pytest.fixture(scope="session")
def random_vgg16():
    return narrow_vgg16(locations_per_batch=8)


@pytest.fixture(scope="session")
def built_city(tmp_path_factory, random_vgg16):
    """The tiny city with labels, features of every batch and the training set materialized.

    Session-scoped because VGG16 extraction is the slow part; tests must not modify it.
    """
    from sview_assets.defs.scope import CityScope

    from .helpers import definitions_for_city

    settings = make_city(tmp_path_factory.mktemp("built"), city="built")
    defs = definitions_for_city(settings, random_vgg16)
    instance = dg.DagsterInstance.local_temp(tempdir=str(tmp_path_factory.mktemp("instance")))
    assert defs.resolve_job_def("built__labels_job").execute_in_process(instance=instance).success
    batches = ["batch_000", "batch_001"]
    instance.add_dynamic_partitions(CityScope("built").image_batches.name, batches)
    for batch in batches:
        assert defs.resolve_job_def("built__image_features_job").execute_in_process(instance=instance, partition_key=batch).success
    assert defs.resolve_job_def("built__training_set_job").execute_in_process(instance=instance).success
    return settings, defs, instance


@pytest.fixture
def city_copy(built_city, tmp_path):
    """A private copy of the built tiny city (raw files, features, training set, warehouse, outcome partitions)."""
    import shutil

    from sview_assets.defs.scope import CityScope

    settings, _, built_instance = built_city
    copy = SviewSettings(data_root=str(tmp_path), city="copy")
    shutil.copytree(settings.paths.root, copy.paths.root, ignore=shutil.ignore_patterns("models"))
    instance = dg.DagsterInstance.ephemeral()
    built, copied = CityScope("built"), CityScope("copy")
    for source, target in ((built.image_batches, copied.image_batches), (built.outcomes, copied.outcomes)):
        instance.add_dynamic_partitions(target.name, built_instance.get_dynamic_partitions(source.name))
    return copy, instance


LONGEST_FILES = ("test_end_to_end.py", "test_cluster_warehouse.py", "test_backends.py", "test_gpu_bench.py")
"""Started first: with several workers (``make test``) the daemon end-to-end file, which mostly waits on the daemon's
30-second ticks, is the critical path, so it must not wait behind other files."""


def pytest_collection_modifyitems(items):
    """Move the longest files to the front, keeping the order within each file (xdist hands out files in this order)."""
    items.sort(key=lambda item: LONGEST_FILES.index(item.path.name) if item.path.name in LONGEST_FILES else len(LONGEST_FILES))
