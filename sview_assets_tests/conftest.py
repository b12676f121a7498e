"""Shared fixtures: a tiny demo city and settings rooted in temporary folders."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import dagster as dg
import pytest

from sview_assets.demo.generator import generate_city
from sview_assets.demo.geography import CitySpec
from sview_assets.resources import Vgg16Resource
from sview_assets.settings import SviewSettings

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
    return Vgg16Resource(weights_file="", random_seed=0, locations_per_batch=8)


@pytest.fixture(scope="session")
def built_city(tmp_path_factory, random_vgg16):
    """The tiny city with labels, features of every batch and the training set materialized.

    Session-scoped because VGG16 extraction is the slow part; tests must not modify it.
    """
    from sview_assets.definitions import definitions_for_city
    from sview_assets.scope import CityScope

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

    from sview_assets.scope import CityScope

    settings, _, built_instance = built_city
    copy = SviewSettings(data_root=str(tmp_path), city="copy")
    shutil.copytree(settings.paths.root, copy.paths.root, ignore=shutil.ignore_patterns("models"))
    instance = dg.DagsterInstance.ephemeral()
    built, copied = CityScope("built"), CityScope("copy")
    for source, target in ((built.image_batches, copied.image_batches), (built.outcomes, copied.outcomes)):
        instance.add_dynamic_partitions(target.name, built_instance.get_dynamic_partitions(source.name))
    return copy, instance
