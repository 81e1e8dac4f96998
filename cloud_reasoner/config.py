"""Service configuration: defaults < TOML file < FLEETPILOT_CLOUD_* environment < command line.

    [server]
    listen = "127.0.0.1:50051"      # loopback by default; "0.0.0.0:50051" to serve a network
    state_dir = ""                  # "" = $XDG_STATE_HOME/fleetpilot/cloud (~/.local/state/...)
    max_message_bytes = 4194304     # larger requests are refused with RESOURCE_EXHAUSTED
    max_concurrent_rpcs = 256       # more RPCs at once (per worker) are refused with RESOURCE_EXHAUSTED
    workers = 1                     # processes sharing the port (SO_REUSEPORT); >1 only with [fleet]
                                    # enabled = false and no plugins (they keep state in the process)
    reflection = true               # server reflection, so grpcurl works without the .proto files
    shutdown_grace_s = 1.0          # NOT_SERVING this long before in-flight RPCs get cancelled
    log_file = ""                   # JSON lines; "" = stderr
    log_level = "info"
    plugins = []                    # "module:function" hooks adding more services (see server.py)

    [fleet]                         # the Fleet service (idle-time compute) on the same server
    enabled = true
    lease_ttl_s = 600.0             # a lease's deadline
    liveness_s = 0.0                # > 0: re-issue the leases of a vehicle silent this long (s)
    sweep_period_s = 1.0            # how often expired leases are looked for
    trust_after = 10                # consecutive valid results after which a vehicle is trusted
    spot_check = 0.1                # a trusted vehicle's job is still replicated this often
    seed = 0                        # of the spot checks
    blob_quota_bytes = 268435456    # per vehicle; more uploads are refused with RESOURCE_EXHAUSTED

    [tls]                           # TLS when cert_file and key_file are set
    cert_file = ""
    key_file = ""
    client_ca_file = ""             # set = mutual TLS: clients must present a cert signed by this CA

    [reasoner]
    backend = "deliberative"        # or "openai"
    fallback = "deliberative"       # answers when the primary backend fails; "" = fail with UNAVAILABLE
    timeout_s = 2.0                 # server-side budget per Reason call (the caller's deadline also applies)

    [openai]                        # any OpenAI-compatible chat-completions endpoint (xAI, vLLM, llama.cpp)
    base_url = "https://api.x.ai/v1"
    model = "grok-4"
    api_key = ""                    # better: FLEETPILOT_CLOUD_OPENAI_API_KEY in the environment
    temperature = 0.0

Environment: FLEETPILOT_CLOUD_<SECTION>_<KEY>, e.g. FLEETPILOT_CLOUD_SERVER_LISTEN=127.0.0.1:0,
FLEETPILOT_CLOUD_REASONER_BACKEND=openai, FLEETPILOT_CLOUD_FLEET_LEASE_TTL_S=60. Lists are comma-separated.
Fleet blobs (data shards, models) travel in one message: serve them with max_message_bytes above the
largest blob (the Fleet's own limit is 16 MiB).
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

ENV_PREFIX = "FLEETPILOT_CLOUD_"


class ConfigError(ValueError):
    """A configuration value is missing, unknown or of the wrong type."""


@dataclass(frozen=True)
class ServerConfig:
    listen: str = "127.0.0.1:50051"
    state_dir: str = ""
    max_message_bytes: int = 4 * 1024 * 1024
    max_concurrent_rpcs: int = 256
    workers: int = 1
    reflection: bool = True
    shutdown_grace_s: float = 1.0
    log_file: str = ""
    log_level: str = "info"
    plugins: tuple[str, ...] = ()


@dataclass(frozen=True)
class TlsConfig:
    cert_file: str = ""
    key_file: str = ""
    client_ca_file: str = ""

    @property
    def enabled(self) -> bool:
        return bool(self.cert_file and self.key_file)


@dataclass(frozen=True)
class ReasonerConfig:
    backend: str = "deliberative"
    fallback: str = "deliberative"
    timeout_s: float = 2.0


@dataclass(frozen=True)
class OpenAIConfig:
    base_url: str = "https://api.x.ai/v1"
    model: str = "grok-4"
    api_key: str = ""
    temperature: float = 0.0


@dataclass(frozen=True)
class FleetConfig:
    enabled: bool = True
    lease_ttl_s: float = 600.0
    liveness_s: float = 0.0
    sweep_period_s: float = 1.0
    trust_after: int = 10
    spot_check: float = 0.1
    seed: int = 0
    blob_quota_bytes: int = 256 * 1024 * 1024

    def __post_init__(self) -> None:
        if not (self.lease_ttl_s > 0 and self.sweep_period_s > 0 and self.liveness_s >= 0):
            raise ConfigError("[fleet] lease_ttl_s and sweep_period_s must be > 0, liveness_s >= 0")
        if not 0.0 <= self.spot_check <= 1.0 or self.trust_after < 0 or self.blob_quota_bytes < 0:
            raise ConfigError("[fleet] spot_check must be in [0, 1], trust_after and blob_quota_bytes >= 0")


@dataclass(frozen=True)
class CloudConfig:
    server: ServerConfig = field(default_factory=ServerConfig)
    tls: TlsConfig = field(default_factory=TlsConfig)
    reasoner: ReasonerConfig = field(default_factory=ReasonerConfig)
    openai: OpenAIConfig = field(default_factory=OpenAIConfig)
    fleet: FleetConfig = field(default_factory=FleetConfig)

    def state_path(self) -> Path:
        return resolve_state_dir(self.server.state_dir)

    def replace(self, section: str, **values) -> CloudConfig:
        """A copy with some keys of one section changed (values are type-checked like the file's)."""
        current = getattr(self, section)
        hints = {f.name: f.type for f in dataclasses.fields(current)}
        checked = {}
        for key, value in values.items():
            if key not in hints:
                raise ConfigError(f"unknown key [{section}] {key}")
            checked[key] = _coerce(f"[{section}] {key}", hints[key], value)
        return dataclasses.replace(self, **{section: dataclasses.replace(current, **checked)})


def resolve_state_dir(state_dir: str | os.PathLike | None) -> Path:
    if state_dir:
        return Path(state_dir).expanduser()
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "fleetpilot" / "cloud"


def _coerce(name: str, type_name: str, value):
    """Convert a TOML or environment value to the field's declared type; strings from the
    environment are parsed, TOML values must already have the right type."""
    from_env = isinstance(value, str) and type_name != "str"
    try:
        if type_name == "bool":
            if from_env:
                lowered = value.strip().lower()
                if lowered not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                    raise ValueError(value)
                return lowered in ("1", "true", "yes", "on")
            if not isinstance(value, bool):
                raise TypeError
            return value
        if type_name == "int":
            if isinstance(value, bool):
                raise TypeError
            return int(value) if from_env else _expect(value, int)
        if type_name == "float":
            if isinstance(value, bool):
                raise TypeError
            return float(value) if from_env else float(_expect(value, (int, float)))
        if type_name == "str":
            return _expect(value, str)
        if type_name == "tuple[str, ...]":
            if isinstance(value, str):
                return tuple(v.strip() for v in value.split(",") if v.strip())
            if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
                raise TypeError
            return tuple(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a {type_name}, got {value!r}") from None
    raise ConfigError(f"{name}: unsupported type {type_name}")


def _expect(value, types):
    if not isinstance(value, types):
        raise TypeError
    return value


def load_config(path: str | os.PathLike | None = None, env: Mapping[str, str] | None = None) -> CloudConfig:
    """Defaults, then the TOML file (if given), then FLEETPILOT_CLOUD_* variables from env."""
    env = os.environ if env is None else env
    raw: dict = {}
    if path is not None:
        try:
            raw = tomllib.loads(Path(path).read_text())
        except FileNotFoundError:
            raise ConfigError(f"config file not found: {path}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    config = CloudConfig()
    sections = {f.name for f in dataclasses.fields(config)}
    for section, values in raw.items():
        if section not in sections or not isinstance(values, dict):
            raise ConfigError(f"unknown config section [{section}] (valid: {', '.join(sorted(sections))})")
        config = config.replace(section, **values)
    for name, value in env.items():
        if not name.startswith(ENV_PREFIX):
            continue
        rest = name[len(ENV_PREFIX) :].lower()
        section = next((s for s in sections if rest.startswith(s + "_")), None)
        if section is None:
            raise ConfigError(
                f"environment variable {name}: unknown section (valid: {', '.join(sorted(sections))})"
            )
        config = config.replace(section, **{rest[len(section) + 1 :]: value})
    return config
