"""The deployment files in deploy/ agree with the code they deploy.

Everything is checked statically (no Docker engine, no cluster, no network): commands are parsed
by callcue's own argument parser, settings are checked against what service/settings.py reads,
and ports and queue names are derived from the code rather than repeated here.
"""

from __future__ import annotations

import base64
import functools
import json
import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import redis
import uvicorn
import yaml
from rq import Queue

from emulator.config import DEFAULT_ISSUER
from service.cli import parser
from service.redis_health import WANTED
from service.settings import Settings
from service.web.app import routes

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
CALLCUE_IMAGE = "callcue"  # the image name in the k8s manifests (kustomization.yaml rewrites it)


# --- loading -------------------------------------------------------------------------------


def yaml_docs(path: Path) -> list[Any]:
    with path.open() as f:
        return [doc for doc in yaml.safe_load_all(f) if doc is not None]


@functools.cache
def kustomization() -> dict[str, Any]:
    doc: dict[str, Any] = yaml_docs(K8S / "kustomization.yaml")[0]
    return doc


@functools.cache
def k8s_objects() -> list[dict[str, Any]]:
    """What `kubectl apply -k deploy/k8s` applies, plus the example Secrets it expects to exist."""
    files = [*kustomization()["resources"], "secret.example.yaml"]
    return [doc for name in files for doc in yaml_docs(K8S / name)]


def k8s(kind: str, name: str) -> dict[str, Any]:
    found = [o for o in k8s_objects() if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name!r}, found {len(found)}"
    return found[0]


def container(deployment: str) -> dict[str, Any]:
    containers: list[dict[str, Any]] = k8s("Deployment", deployment)["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def k8s_env() -> dict[str, str]:
    """The environment web and worker pods get: the ConfigMap and the (example) Secret."""
    return {**k8s("ConfigMap", "callcue")["data"], **k8s("Secret", "callcue")["stringData"]}


def dotenv(path: Path) -> dict[str, str]:
    lines = (line.strip() for line in path.read_text().splitlines())
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


_INTERPOLATION = re.compile(r"\$\$|\$\{([^}]*)\}")


def interpolate(value: Any, env: Mapping[str, str]) -> Any:
    """Compose's variable substitution (${X}, ${X:-default}, ${X:?error}, $$) over a parsed document."""
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        parts = re.fullmatch(r"([A-Za-z_][A-Za-z0-9_]*)(?:(:-|:\?)(.*))?", match.group(1), re.S)
        assert parts, f"unsupported substitution {match.group(0)}"
        name, op, arg = parts.groups()
        if env.get(name):
            return env[name]
        if op == ":?":
            raise KeyError(f"compose needs {name}: {arg}")
        return arg if op == ":-" else ""

    return _INTERPOLATION.sub(substitute, value)


@functools.cache
def compose() -> dict[str, Any]:
    """deploy/compose.yaml as `docker compose --env-file deploy/emulator.env` sees it."""
    doc: dict[str, Any] = interpolate(yaml_docs(DEPLOY / "compose.yaml")[0], dotenv(DEPLOY / "emulator.env"))
    return doc


def compose_env(service: str) -> dict[str, str]:
    """A service's environment; a name without a value passes the env file's value through, if any."""
    env = compose()["services"][service].get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, None) for item in env)
    env_file = dotenv(DEPLOY / "emulator.env")
    return {k: env_file[k] if v is None else str(v) for k, v in env.items() if v is not None or k in env_file}


def compose_command(service: str) -> list[str]:
    command = compose()["services"][service]["command"]
    return shlex.split(command) if isinstance(command, str) else [str(arg) for arg in command]


@functools.cache
def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with continuation lines joined and comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for line in (DEPLOY / "Dockerfile").read_text().splitlines():
        if line.strip().startswith("#"):
            continue
        pending += line.rstrip()
        if pending.endswith("\\"):
            pending = pending[:-1] + " "
            continue
        if pending.strip():
            keyword, _, rest = pending.strip().partition(" ")
            instructions.append((keyword.upper(), rest.strip()))
        pending = ""
    return instructions


def dockerfile_args(keyword: str) -> list[str]:
    return [rest for kw, rest in dockerfile() if kw == keyword]


def dockerfile_cmd() -> list[str]:
    cmds = dockerfile_args("CMD")
    assert len(cmds) == 1
    cmd: list[str] = json.loads(cmds[0])  # exec form, so that callcue is PID 1 and gets SIGTERM
    return cmd


def procfile() -> dict[str, list[str]]:
    lines = (ROOT / "Procfile").read_text().splitlines()
    return {name.strip(): shlex.split(cmd) for name, _, cmd in (line.partition(":") for line in lines if line.strip())}


def redis_conf(path: Path) -> dict[str, str]:
    conf: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            directive, _, value = line.strip().partition(" ")
            conf[directive.lower()] = value.strip()
    return conf


# --- what the code accepts -----------------------------------------------------------------


class _RecordingEnv(Mapping[str, str]):
    """An empty environment that records every name looked up in it."""

    def __init__(self) -> None:
        self.names: set[str] = set()

    def __getitem__(self, key: str) -> str:
        self.names.add(key)
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


@functools.cache
def settings_names() -> frozenset[str]:
    """Every variable Settings.from_env reads (it reads them all, whatever is set)."""
    env = _RecordingEnv()
    Settings.from_env(env)
    assert "CALLCUE_REDIS_URL" in env.names and "PORT" in env.names  # the recorder works
    return frozenset(env.names)


def check_callcue_command(argv: list[str]) -> None:
    assert argv[0] == "callcue", f"not a callcue command: {argv}"
    if argv[1:2] == ["emulator"]:
        # `callcue emulator ...` is handed to emulator.cli before callcue's parser sees the rest.
        assert parser().parse_args(["emulator"]).command == "emulator"
        return
    try:
        parser().parse_args(argv[1:])
    except SystemExit:
        pytest.fail(f"`callcue` rejects {shlex.join(argv)}")


def web_config(argv: list[str], env: Mapping[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The uvicorn configuration (host, port, ...) of `argv`, a `callcue web` command, in exactly `env`.

    The real command runs, with uvicorn replaced by a recorder of its configuration.
    """
    seen: dict[str, Any] = {}

    class Config:
        def __init__(self, app: object, **kwargs: Any) -> None:
            seen.update(kwargs)

    class Server:
        def __init__(self, config: Config) -> None:
            pass

        def run(self) -> None:
            pass

    for name in list(os.environ):
        if name.startswith("CALLCUE_") or name in ("PORT", "REDIS_URL"):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(uvicorn, "Config", Config)
    monkeypatch.setattr(uvicorn, "Server", Server)
    args = parser().parse_args(argv[1:])
    assert args.command == "web"
    args.func(args)
    return seen


def web_port(argv: list[str], env: Mapping[str, str], monkeypatch: pytest.MonkeyPatch) -> int:
    """The port the web process listens on, on every interface (a container's loopback is useless)."""
    config = web_config(argv, env, monkeypatch)
    assert config["host"] == "0.0.0.0", f"{shlex.join(argv)} listens on {config['host']} only"
    port: int = config["port"]
    return port


# --- every file ----------------------------------------------------------------------------


@pytest.mark.parametrize("path", sorted(DEPLOY.rglob("*.yaml")), ids=lambda p: str(p.relative_to(DEPLOY)))
def test_yaml_parses(path: Path) -> None:
    docs = yaml_docs(path)
    assert docs and all(isinstance(doc, dict) for doc in docs)
    if path.parent == K8S:
        for doc in docs:
            assert {"apiVersion", "kind"} <= doc.keys()
            assert doc["kind"] == "Kustomization" or doc["metadata"]["name"]


def test_kustomization_lists_every_manifest_but_the_secret_example() -> None:
    present = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    examples = {name for name in present if name.endswith(".example.yaml")}
    assert examples == {"secret.example.yaml"}
    listed = kustomization()["resources"]
    assert len(listed) == len(set(listed))
    assert set(listed) == present - examples  # placeholders must never be applied
    for generator in kustomization()["configMapGenerator"]:
        assert all((K8S / name).is_file() for name in generator["files"])


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kustomize_builds() -> None:
    # Offline: kustomize only reads files. It catches what a YAML parser cannot (generator
    # files outside the directory, bad patches, duplicate resources).
    result = subprocess.run(["kubectl", "kustomize", str(K8S)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    kinds = {doc["kind"] for doc in yaml.safe_load_all(result.stdout) if doc}
    assert {"Deployment", "Service", "HorizontalPodAutoscaler", "ScaledObject", "StatefulSet"} <= kinds


# --- commands ------------------------------------------------------------------------------


def callcue_commands() -> list[tuple[str, list[str]]]:
    found = [(f"Procfile {name}", argv) for name, argv in procfile().items()]
    found.append(("Dockerfile CMD", dockerfile_cmd()))
    web_image = compose()["services"]["web"]["image"]
    for name, service in compose()["services"].items():
        if service.get("image") == web_image:
            found.append((f"compose {name}", compose_command(name)))
    for obj in k8s_objects():
        if obj["kind"] == "Deployment":
            for c in obj["spec"]["template"]["spec"]["containers"]:
                if c["image"] == CALLCUE_IMAGE:
                    # Without `command` the image's CMD runs, with `args` replacing it if given.
                    argv = [*c["command"], *c.get("args", [])] if "command" in c else c.get("args", dockerfile_cmd())
                    found.append((f"k8s {obj['metadata']['name']}", argv))
    return found


@pytest.mark.parametrize(("source", "argv"), callcue_commands(), ids=[s for s, _ in callcue_commands()])
def test_command_is_a_real_callcue_command(source: str, argv: list[str]) -> None:
    check_callcue_command(argv)


def test_every_process_has_a_command() -> None:
    sources = {source for source, _ in callcue_commands()}
    assert {"Procfile web", "Procfile worker", "Dockerfile CMD"} <= sources
    assert {"compose web", "compose worker", "compose emulator"} <= sources
    assert {"k8s callcue-web", "k8s callcue-worker"} <= sources


# --- settings ------------------------------------------------------------------------------


def test_every_callcue_variable_named_in_deploy_is_read_by_settings() -> None:
    # Raw text, comments and README included: a misspelt or invented name fails here.
    unknown = {
        f"{path.relative_to(DEPLOY)}: {name}"
        for path in DEPLOY.rglob("*")
        if path.is_file()
        for name in re.findall(r"\bCALLCUE_[A-Z0-9_]*[A-Z0-9]\b", path.read_text())
        if name not in settings_names()
    }
    assert not unknown


def test_environment_maps_hold_only_settings() -> None:
    for env in (k8s_env(), compose_env("web"), compose_env("worker")):
        assert set(env) <= settings_names()
    assert compose_env("web") == compose_env("worker")  # both processes share one configuration


def test_k8s_configuration_passes_the_production_check() -> None:
    config = k8s("ConfigMap", "callcue")["data"]
    # Kubernetes accepts only strings in a ConfigMap (a bare 8000 or a date-like version is not).
    assert all(isinstance(value, str) for value in config.values())
    settings = Settings.from_env(k8s_env())  # raises if a production requirement is missing
    assert settings.production
    secrets = {"CALLCUE_API_KEYS", "CALLCUE_CALLBACK_SECRETS", "CALLCUE_ACS_CONNECTION_STRING", "CALLCUE_REDIS_URL"}
    assert secrets <= k8s("Secret", "callcue")["stringData"].keys()
    assert not secrets & config.keys()


def test_compose_with_the_emulator_points_callcue_at_it() -> None:
    settings = Settings.from_env(compose_env("web"))
    assert settings.acs is not None
    emulator = compose_command("emulator")

    def option(name: str) -> str:
        return emulator[emulator.index(name) + 1]

    assert settings.acs.host == f"emulator:{option('--port')}"
    # The emulator verifies signatures with its key: it must be the connection string's.
    key = option("--access-key")
    assert key == settings.acs.access_key and base64.b64decode(key, validate=True)
    # GA callbacks: signed by the emulator, for the audience and issuer callcue checks.
    assert settings.acs_resource_id == option("--resource-id")
    assert "--issuer" not in emulator and settings.acs_jwt_issuer == DEFAULT_ISSUER
    assert urlsplit(settings.acs_jwks_url).netloc == settings.acs.host
    ga = re.search(r"^# *(CALLCUE_ACS_API_VERSION)=(.+)$", (DEPLOY / "emulator.env").read_text(), re.M)
    assert ga, "emulator.env shows how to switch to the GA dialect"
    assert Settings.from_env({**compose_env("web"), ga[1]: ga[2]}).jwt_required
    # The emulator posts callbacks to the web service, on the compose network.
    callback = urlsplit(settings.callback_url)
    assert callback.hostname == "web" and callback.port == settings.port
    redis_url = urlsplit(settings.redis_url or "")
    assert redis_url.hostname == "redis" and redis_url.password == dotenv(DEPLOY / "emulator.env")["REDIS_PASSWORD"]
    assert compose()["services"]["emulator"]["profiles"] == ["emulator"]


# --- ports and probes ----------------------------------------------------------------------


def test_procfile_web_listens_on_the_platform_port(monkeypatch: pytest.MonkeyPatch) -> None:
    assert web_port(procfile()["web"], {"PORT": "5123"}, monkeypatch) == 5123


def test_dockerfile_exposes_the_port_the_web_command_uses(monkeypatch: pytest.MonkeyPatch) -> None:
    assert dockerfile_args("EXPOSE") == [str(web_port(dockerfile_cmd(), {}, monkeypatch))]


def test_compose_web_ports_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    port = web_port(compose_command("web"), compose_env("web"), monkeypatch)
    web = compose()["services"]["web"]
    assert [str(p).rsplit(":", 1)[-1] for p in web["ports"]] == [str(port)]
    assert f"127.0.0.1:{port}/healthz" in " ".join(web["healthcheck"]["test"])


def test_k8s_web_ports_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    web = container("callcue-web")
    port = web_port(web["command"], k8s_env(), monkeypatch)
    ports = {p["name"]: p["containerPort"] for p in web["ports"]}
    assert list(ports.values()) == [port]
    service_ports = k8s("Service", "callcue-web")["spec"]["ports"]
    assert [ports.get(p["targetPort"], p["targetPort"]) for p in service_ports] == [port]
    for probe in ("readinessProbe", "livenessProbe"):
        assert ports.get(web[probe]["httpGet"]["port"]) == port
    annotations = k8s("Deployment", "callcue-web")["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == str(port)


def test_probes_use_the_health_routes() -> None:
    paths = {route.path for route in routes()}
    web = container("callcue-web")
    # Readiness follows Redis; liveness must not, or a Redis outage restarts every pod.
    assert web["readinessProbe"]["httpGet"]["path"] == "/readyz" in paths
    assert web["livenessProbe"]["httpGet"]["path"] == "/healthz" in paths
    assert "/healthz" in dockerfile_args("HEALTHCHECK")[0]


# --- Kubernetes ----------------------------------------------------------------------------


def test_keda_watches_the_rq_queue_callcue_uses() -> None:
    queue_name = Settings.from_env(k8s_env()).queue_name
    scaled = k8s("ScaledObject", "callcue-worker")["spec"]
    assert scaled["scaleTargetRef"]["name"] == "callcue-worker"
    assert scaled["minReplicaCount"] >= 1  # the pumps that feed the queue run in the workers
    [trigger] = scaled["triggers"]
    # Queue.key is RQ's own name for the list of pending job ids (no connection is made).
    assert trigger["metadata"]["listName"] == Queue(queue_name, connection=redis.Redis()).key
    # KEDA reaches the same Redis, database included, as callcue.
    url = urlsplit(k8s_env()["CALLCUE_REDIS_URL"])
    assert trigger["metadata"]["databaseIndex"] == url.path.strip("/")
    auth = k8s("TriggerAuthentication", trigger["authenticationRef"]["name"])["spec"]["secretTargetRef"]
    params = {ref["parameter"]: k8s("Secret", ref["name"])["stringData"][ref["key"]] for ref in auth}
    assert params == {"address": f"{url.hostname}:{url.port}", "password": url.password}


def test_k8s_references_resolve() -> None:
    for name in ("callcue-web", "callcue-worker"):
        env_from = container(name)["envFrom"]
        assert [k8s("ConfigMap", e["configMapRef"]["name"]) for e in env_from if "configMapRef" in e]
        assert [k8s("Secret", e["secretRef"]["name"]) for e in env_from if "secretRef" in e]
    assert k8s("HorizontalPodAutoscaler", "callcue-web")["spec"]["scaleTargetRef"]["name"] == "callcue-web"
    assert k8s("HorizontalPodAutoscaler", "callcue-web")["spec"]["minReplicas"] >= 2
    pod_labels = {
        o["metadata"]["name"]: o["spec"]["template"]["metadata"]["labels"]
        for o in k8s_objects()
        if o["kind"] in ("Deployment", "StatefulSet")
    }

    def selects(selector: Mapping[str, str]) -> list[str]:
        return [name for name, labels in pod_labels.items() if selector.items() <= labels.items()]

    assert selects(k8s("Service", "callcue-web")["spec"]["selector"]) == ["callcue-web"]
    assert selects(k8s("Service", "redis")["spec"]["selector"]) == ["redis"]
    for name in ("callcue-web", "callcue-worker"):
        assert selects(k8s("PodDisruptionBudget", name)["spec"]["selector"]["matchLabels"]) == [name]


def test_callcue_pods_are_locked_down_and_sized() -> None:
    for name in ("callcue-web", "callcue-worker"):
        pod = k8s("Deployment", name)["spec"]["template"]["spec"]
        c = container(name)
        assert c["image"] == CALLCUE_IMAGE
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert c["securityContext"]["readOnlyRootFilesystem"] is True
        assert c["securityContext"]["allowPrivilegeEscalation"] is False
        assert {"cpu", "memory"} <= c["resources"]["requests"].keys()
        assert "memory" in c["resources"]["limits"]
        assert "replicas" not in k8s("Deployment", name)["spec"]  # owned by the HPA / KEDA


def test_grace_periods_cover_the_shutdowns(monkeypatch: pytest.MonkeyPatch) -> None:
    web = k8s("Deployment", "callcue-web")["spec"]["template"]["spec"]
    pre_stop = int(container("callcue-web")["lifecycle"]["preStop"]["exec"]["command"][-1])
    drain = web_config(container("callcue-web")["command"], k8s_env(), monkeypatch)["timeout_graceful_shutdown"]
    # preStop runs first, then SIGTERM and uvicorn's drain of in-flight requests.
    assert web["terminationGracePeriodSeconds"] > pre_stop + drain
    assert int(compose()["services"]["web"]["stop_grace_period"].removesuffix("s")) > drain
    worker = k8s("Deployment", "callcue-worker")["spec"]["template"]["spec"]
    assert worker["terminationGracePeriodSeconds"] >= 30  # RQ's warm shutdown finishes the job


def test_k8s_redis_uses_the_production_config() -> None:
    assert (K8S / "redis.conf").read_bytes() == (DEPLOY / "redis.conf").read_bytes()
    [generator] = kustomization()["configMapGenerator"]
    pod = k8s("StatefulSet", "redis")["spec"]["template"]["spec"]
    [volume] = [v for v in pod["volumes"] if "configMap" in v]
    assert volume["configMap"]["name"] == generator["name"]
    [c] = pod["containers"]
    [mount] = [m for m in c["volumeMounts"] if m["name"] == volume["name"]]
    assert f"{mount['mountPath']}/{generator['files'][0]}" == c["args"][1]
    env = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in c["env"]}
    assert k8s("Secret", env["REDIS_PASSWORD"]["name"])["stringData"][env["REDIS_PASSWORD"]["key"]]


# --- Redis, compose, Dockerfile ------------------------------------------------------------


def test_redis_conf_keeps_every_write() -> None:
    conf = redis_conf(DEPLOY / "redis.conf")
    # What callcue checks at start in production (appendonly yes, noeviction), and the fsync policy.
    assert {name: conf.get(name) for name in WANTED} == WANTED
    assert conf["appendonly"] == "yes" and conf["maxmemory-policy"] == "noeviction"
    assert conf["appendfsync"] == "everysec"
    assert conf["protected-mode"] == "yes"
    assert "rename-command" not in conf  # callcue reads the settings above with CONFIG GET


def test_compose_redis_runs_the_config_file() -> None:
    service = compose()["services"]["redis"]
    mounts = {m.split(":")[1]: m.split(":")[0] for m in service["volumes"]}
    assert mounts[compose_command("redis")[1]] == "./redis.conf"  # relative to deploy/
    assert service["healthcheck"]["test"][-2:] == ["redis-cli", "ping"]


def test_compose_services_start_in_order_and_scale() -> None:
    services = compose()["services"]
    for name in ("web", "worker"):
        assert services[name]["depends_on"]["redis"]["condition"] == "service_healthy"
    worker = services["worker"]
    assert "ports" not in worker and "container_name" not in worker  # `--scale worker=N`
    assert worker["healthcheck"] == {"disable": True}  # it serves no /healthz


def test_dockerfile_is_multi_stage_non_root_and_checked() -> None:
    assert len(dockerfile_args("FROM")) >= 2
    [user] = dockerfile_args("USER")
    assert user.split(":")[0] not in ("root", "0")
    [healthcheck] = dockerfile_args("HEALTHCHECK")
    assert "python" in healthcheck and "curl" not in healthcheck  # the slim image has no curl
    env = dict(item.split("=", 1) for rest in dockerfile_args("ENV") for item in shlex.split(rest))
    assert env["PYTHONUNBUFFERED"] == "1"


def test_dockerfile_copies_only_what_exists_and_is_not_ignored() -> None:
    ignore = {line.strip().rstrip("/") for line in (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()}
    sources = [
        source for rest in dockerfile_args("COPY") if not rest.startswith("--from") for source in shlex.split(rest)[:-1]
    ]
    assert sources
    # The ignore file is an allowlist: `*`, then `!path` for each thing the image needs.
    assert [s for s in sources if f"!{s.rstrip('/')}" not in ignore] == [], "excluded by the ignore file"
    assert [s for s in sources if not (ROOT / s).exists()] == [], "not in the repository"
