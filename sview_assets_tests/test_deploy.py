"""deploy/ checked offline: the Helm values and the Dockerfile agree with the code location, and the code
location loads with the Kubernetes executor they select and the GPU placement of the feature step."""

import json
import re

import dagster as dg
import pytest
import yaml

from sview_assets.config.settings import PROJECT_ROOT, Storage
from sview_assets.definitions import build_definitions
from sview_assets.defs.executors import GPU_NODE_SELECTOR_ENV, K8S_CONFIG_TAG, feature_step_tags

VALUES = yaml.safe_load((PROJECT_ROOT / "deploy" / "helm" / "values.yaml").read_text())
CODE_LOCATION_MODULE = yaml.safe_load((PROJECT_ROOT / "workspace.yaml").read_text())["load_from"][0]["python_package"]["package_name"]


def deployment_env() -> dict[str, str]:
    (deployment,) = VALUES["dagster-user-deployments"]["deployments"]
    return {item["name"]: item["value"] for item in deployment["env"]}


def test_the_user_deployment_serves_the_code_location_with_the_data_volume_where_the_settings_say():
    (deployment,) = VALUES["dagster-user-deployments"]["deployments"]
    assert deployment["dagsterApiGrpcArgs"] == ["--module-name", CODE_LOCATION_MODULE]
    mounts = {m["name"]: m["mountPath"] for m in deployment["volumeMounts"]}
    claims = {v["name"]: v["persistentVolumeClaim"]["claimName"] for v in deployment["volumes"]}
    assert mounts == {"sview-data": deployment_env()["SVIEW_DATA_ROOT"]} and set(claims) == set(mounts)


def test_runs_and_steps_get_the_same_variables_and_volume_as_the_code_location():
    launcher = VALUES["runLauncher"]
    assert launcher["type"] == "K8sRunLauncher"
    config = launcher["config"]["k8sRunLauncher"]
    assert dict(item.split("=", 1) for item in config["envVars"]) == deployment_env()
    (deployment,) = VALUES["dagster-user-deployments"]["deployments"]
    assert config["volumes"] == deployment["volumes"] and config["volumeMounts"] == deployment["volumeMounts"]


def test_the_dockerfile_copies_what_exists_and_serves_the_same_module():
    dockerfile = (PROJECT_ROOT / "deploy" / "Dockerfile").read_text()
    copied = [path for line in re.findall(r"^COPY (.+)$", dockerfile, re.M) for path in line.split()[:-1]]
    assert copied and all((PROJECT_ROOT / path).exists() for path in copied), copied
    command = json.loads(re.search(r"^CMD (.+)$", dockerfile, re.M).group(1))
    assert command[command.index("--module-name") + 1] == CODE_LOCATION_MODULE


def test_the_code_location_loads_with_the_k8s_executor_and_puts_the_feature_step_on_a_gpu_node(tmp_path, monkeypatch):
    from dagster_k8s.job import get_user_defined_k8s_config

    for name, value in deployment_env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("SVIEW_DATA_ROOT", str(tmp_path))
    defs = build_definitions(Storage(data_root=str(tmp_path)))
    job = defs.resolve_implicit_global_asset_job_def()
    assert job.executor_def.name == "k8s"
    assert dg.validate_run_config(job, {}) is not None
    features = next(a for a in defs.assets if a.key.path[-1] == "vgg16_features")
    # dagster-k8s validates the tag against its schema here, as the executor does for the step's pod.
    config = get_user_defined_k8s_config(features.op.tags)
    assert config.pod_spec_config["node_selector"] == json.loads(deployment_env()[GPU_NODE_SELECTOR_ENV])
    assert config.container_config["resources"]["limits"] == {"nvidia.com/gpu": "1"}
    training = next(a for a in defs.assets if a.key.path[-1] == "ordinal_model")
    assert K8S_CONFIG_TAG not in training.op.tags


def test_without_a_gpu_node_selector_the_feature_step_asks_for_no_gpu_and_a_bad_one_is_explained(monkeypatch):
    monkeypatch.delenv(GPU_NODE_SELECTOR_ENV, raising=False)
    assert feature_step_tags() == {}
    monkeypatch.setenv(GPU_NODE_SELECTOR_ENV, "gpu=true")
    with pytest.raises(ValueError, match=f"{GPU_NODE_SELECTOR_ENV} is not JSON"):
        feature_step_tags()
    monkeypatch.setenv(GPU_NODE_SELECTOR_ENV, '{"gpu": true}')
    with pytest.raises(ValueError, match="label names to label values"):
        feature_step_tags()
