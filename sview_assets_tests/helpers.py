"""Targets that Dagster can re-import in child processes (the multiprocess executor needs them)."""

import os
import shutil
from pathlib import Path

import dagster as dg

from sview_assets.config.settings import PROJECT_ROOT
from sview_assets.defs.names import AssetName
from sview_assets.demo.geography import CitySpec

NARROW_WIDTH = 16
"""The tests' VGG16 is narrowed 16x (``SVIEW_VGG16_WIDTH_DIVISOR``): the same layers and feature size, built in a
tenth of the time and run tens of times faster. ``test_vgg16.py`` tests the real network."""


def narrow_vgg16(seed: int = 0, **settings):
    """The tests' VGG16 resource: seeded random weights, narrowed ``NARROW_WIDTH`` times."""
    from sview_assets.defs.resources import Vgg16Resource

    return Vgg16Resource(weights_file="", random_seed=seed, width_divisor=NARROW_WIDTH, **settings)


def sleep_in_a_run(seconds: float) -> None:
    """Run a one-op job that sleeps, in this process, against $DAGSTER_HOME (tests kill it midway)."""

    @dg.op
    def sleep_op():
        import time

        time.sleep(seconds)

    @dg.job
    def sleepy_job():
        sleep_op()

    with dg.DagsterInstance.get() as instance:
        sleepy_job.execute_in_process(instance=instance)


def materialize_batch(settings, vgg16, batch: str):
    """Register ``batch`` in a fresh instance and materialize its manifest and features; return the result."""
    from sview_assets.definitions import build_city, city_assets, city_resources
    from sview_assets.defs.scope import CityScope

    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(CityScope(settings.city).image_batches.name, [batch])
    assets = city_assets(build_city(settings.city), settings.city, "image_manifest", "vgg16_features")
    return dg.materialize(assets, partition_key=batch, instance=instance, resources=city_resources(settings, vgg16))


def extract_batch_and_print_peak_rss(data_root: str, city: str, batch: str) -> None:
    """Materialize one batch's manifest and features in this process; print the peak RSS in MiB."""
    import resource

    from sview_assets.config.settings import SviewSettings

    settings = SviewSettings(data_root=data_root, city=city)
    assert materialize_batch(settings, narrow_vgg16(), batch).success
    print(f"peak_rss_mb={resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}")


def train_outcome_in_this_process(data_root: str, city: str, outcome: str, config_json: str) -> None:
    """Materialize ``ordinal_model[outcome]`` of a built city in this process (tests kill it between folds)."""
    import json

    from sview_assets.config.settings import SviewSettings
    from sview_assets.definitions import build_city, city_assets
    from sview_assets.defs.scope import CityScope

    scope = CityScope(city)
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(scope.outcomes.name, [outcome])
    settings = SviewSettings(data_root=data_root, city=city)
    run_config = {"ops": {scope.op_name("ordinal_model"): {"config": json.loads(config_json)}}}
    resources = {"storage": settings.storage()}
    assets = city_assets(build_city(city), city, "ordinal_model")
    assert dg.materialize(assets, partition_key=outcome, instance=instance, resources=resources, run_config=run_config).success


def labels_of_every_city_from_environment():
    """One job of every city's label assets, from the deployment the environment names and definitions built
    now (so ``$SVIEW_EXECUTOR`` is read now); Dask workers load the same job."""
    from sview_assets.definitions import build_definitions

    defs = build_definitions()
    keys = [key for key in defs.resolve_all_asset_keys() if key.path[-1] in ("postcode_locations", "lsoa_labels")]
    job = dg.define_asset_job("labels_of_every_city", selection=keys)
    return dg.Definitions.merge(defs, dg.Definitions(jobs=[job])).resolve_job_def(job.name)


def readme_example_queries() -> list[str]:
    """The statements of the README's "Example queries (run as written)" block, in order."""
    import re

    from sview_assets.config.settings import PROJECT_ROOT

    readme = (PROJECT_ROOT / "README.md").read_text()
    block = re.search(r"Example queries \(run as written\):\s*```sql\n(.*?)```", readme, re.S).group(1)
    statements = [re.sub(r"^--.*$", "", part, flags=re.M).strip() for part in block.split(";")]
    return [statement for statement in statements if statement]


def query_readme_until(data_root: str, city: str, stop_file: str) -> None:
    """Run the README's example queries in a loop until ``stop_file`` exists, on one long-lived connection
    as a person's shell would be; print a JSON summary: queries run, errors, and every count of
    ``location_predictions`` rows per outcome that was seen (a lost or doubled write shows there)."""
    import json
    import time
    from pathlib import Path

    from sview_assets.config.settings import SviewSettings
    from sview_assets.sql import connect

    queries, errors, counts = readme_example_queries(), [], set()
    loops = 0
    with connect(SviewSettings(data_root=data_root, city=city)) as connection:
        print("connected", flush=True)
        while not Path(stop_file).exists():
            for query in queries:
                try:
                    connection.execute(query).fetchall()
                except Exception as exc:
                    errors.append(f"{type(exc).__name__}: {exc}"[:300])
            rows = connection.execute("SELECT outcome, count(*) FROM location_predictions GROUP BY outcome ORDER BY outcome").fetchall()
            counts.add(json.dumps(rows))
            loops += 1
            time.sleep(0.1)
    print(json.dumps({"loops": loops, "queries": loops * len(queries), "errors": errors, "counts": sorted(counts)}), flush=True)


def acquire_in_this_process(data_root: str, city: str, locations_csv: str, endpoint: str, key: str) -> None:
    """Run the Street View acquisition of ``city`` against ``endpoint`` in this process (tests kill it midway)."""
    import pandas as pd

    from sview_assets.acquisition.client import StreetViewClient
    from sview_assets.acquisition.streetview import AcquisitionPaths, acquire
    from sview_assets.config.settings import SviewSettings
    from sview_assets.sources.city_options import StreetViewOptions

    options = StreetViewOptions(endpoint=endpoint, requests_per_second=1000, locations_per_batch=4)
    paths = AcquisitionPaths(SviewSettings(data_root=data_root, city=city).paths)
    acquire(pd.read_csv(locations_csv), paths, StreetViewClient(options, key), log=lambda _: None)


def compute_on_this_backend(inputs_npz: str, output_npz: str) -> None:
    """On whichever Keras backend this process runs: VGG16 fc6 (random weights, seed 0) of the given preprocessed images
    and of the given image files (through this backend's input pipeline), and five ordinal-network steps from seeded
    weights; saved for a test to compare with TensorFlow's."""
    import numpy as np

    from sview_assets.ml.backend import keras_backend
    from sview_assets.ml.features.extract import extract_features
    from sview_assets.ml.features.vgg16 import build_fc6_extractor
    from sview_assets.ml.inference import compiled_inference
    from sview_assets.ml.training.ordinal_network import OrdinalNetwork

    given = np.load(inputs_npz)
    model, _ = build_fc6_extractor(None, 0, width_divisor=NARROW_WIDTH)
    paths = [str(p).split("|") for p in given["paths"]]
    extracted = extract_features(model, list(range(len(paths))), paths, locations_per_batch=2)
    losses, scores = train_a_few_steps(OrdinalNetwork(int(given["x"].shape[-1]), 1e-3, 0.0), given["x"], given["y"])
    np.savez(
        output_npz,
        backend=keras_backend(),
        features=compiled_inference(model)(given["images"]),
        pipeline_features=extracted.features,
        losses=losses,
        scores=scores,
    )


def train_a_few_steps(network, x, y, steps: int = 5):
    """Losses of ``steps`` training steps from seeded initial weights, then the scores of ``x``."""
    import numpy as np

    from sview_assets.ml.inference import compiled_inference

    model = network.reset(x.reshape(-1, x.shape[-1]).mean(0), x.reshape(-1, x.shape[-1]).var(0) + 1e-6, seed=3)
    losses = [float(network.train_step(x, y)) for _ in range(steps)]
    return np.array(losses), compiled_inference(model)(x).reshape(-1)


WAIT_FILE_ENV = "SVIEW_TEST_WAIT_FILE"


def labels_job_from_environment():
    """The labels job of the code location that ``$SVIEW_DATA_ROOT``, ``$SVIEW_CITY`` and ``$SVIEW_EXECUTOR`` configure,
    built anew in every process that reconstructs it (the executor's step processes)."""
    import os

    from sview_assets.definitions import build_definitions

    return build_definitions().resolve_job_def(f"{os.environ['SVIEW_CITY']}__labels_job")


def labels_job_again_from_environment():
    """The same job under another name, for a test of another executor (Dagster keeps one reconstructed job per name and process)."""
    return labels_job_from_environment()


def a_step_that_waits_from_environment():
    """A job of one step that writes which Dask worker runs it into ``$SVIEW_TEST_WAIT_FILE``, then waits a minute
    unless that file's folder holds ``go`` (so a test can kill the worker mid-step, then re-run quickly)."""
    return _waiting_job()


def a_step_for_another_scheduler_from_environment():
    """The same job under another name: Dagster keeps a reconstructed job per process, with the executor (and
    scheduler address) read when it was first built, so a test of another address needs its own."""
    return _waiting_job()


def _waiting_job():
    import os
    import time
    from pathlib import Path

    from sview_assets.config.settings import WORKER_NAME_ENV
    from sview_assets.defs.executors import executor_from_env

    @dg.op
    def wait_on_a_worker() -> None:
        marker = Path(os.environ[WAIT_FILE_ENV])
        marker.write_text(os.environ.get(WORKER_NAME_ENV, "?"))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (marker.parent / "go").exists():
            time.sleep(0.2)

    @dg.job(executor_def=executor_from_env())
    def a_step_that_waits():
        wait_on_a_worker()

    return a_step_that_waits


def definitions_for_city(settings, vgg16=None):
    """A code location of ``settings``' city alone."""
    from sview_assets.config.cities import Deployment
    from sview_assets.definitions import build_definitions

    return build_definitions(settings.storage(), vgg16, Deployment((settings.city,)))


E2E_CITY = CitySpec(n_lsoas=20, n_locations=42, seed=3, batch_size=14, image_width=160, image_height=120)
ALL_ASSETS = tuple(name.value for name in AssetName if name not in (AssetName.STREETVIEW_IMAGES, AssetName.TRANSFER_METRICS, AssetName.TRANSFER_SUMMARY))
"""Every asset of a city that has not opted in to Street View (``test_run_plan.py`` checks this against its graph)."""
BY_BATCH = {"image_manifest", "vgg16_features"}
BY_OUTCOME = {"ordinal_model", "location_predictions", "lsoa_predictions", "model_metrics"}


def city_environment(settings, dagster_home: Path) -> dict:
    dagster_home.mkdir(parents=True, exist_ok=True)
    shutil.copy(PROJECT_ROOT / "instance" / "dagster.yaml", dagster_home / "dagster.yaml")
    return {**os.environ, "SVIEW_DATA_ROOT": settings.data_root, "SVIEW_CITY": settings.city, "DAGSTER_HOME": str(dagster_home)}


def materializations_by_run(instance, run_ids: set[str], city: str = "served") -> dict[tuple[str, str | None], int]:
    """(asset, partition) -> how many times the runs ``run_ids`` materialized the city's asset."""
    counts: dict[tuple[str, str | None], int] = {}
    for name in ALL_ASSETS:
        for record in instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=dg.AssetKey([city, name])), limit=10_000).records:
            if record.run_id in run_ids:
                key = (name, record.partition_key)
                counts[key] = counts.get(key, 0) + 1
    return counts


def expected_once(batches: list[str], outcomes: list[str], names=ALL_ASSETS) -> dict[tuple[str, str | None], int]:
    """Every asset of ``names`` once: per batch, per outcome, or once."""
    keys = []
    for name in names:
        partitions = batches if name in BY_BATCH else outcomes if name in BY_OUTCOME else [None]
        keys += [(name, p) for p in partitions]
    return {key: 1 for key in keys}
