"""Connecting to Ray: a local cluster by default, or an existing one by address, with this project's code
shipped to the workers."""

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from backend.core.errors import MissingDependency

INSTALL = "pip install -e .[ray] (or scripts/setup.sh --dev, whose lock has it)"
LOCAL = "local"
"""The address that means: start a Ray cluster on this machine for the job, and stop it after."""


@dataclass(frozen=True)
class RayConfig:
    address: str = LOCAL
    """`local`, `auto` (the cluster this machine belongs to) or `ray://host:10001`."""
    workers: int | None = None
    """Local cluster only: how many tasks run at once (default: one per CPU core)."""
    shard_contexts: int = 256
    """Contexts per shard: the unit of work, of retry and of progress."""
    max_retries: int = 3
    """How many times Ray reruns a shard whose worker died."""
    checkpoint_seconds: float = 300.0
    """How often the driver saves the merged state of the finished shards (a rerun computes only the rest)."""


def import_ray() -> ModuleType:
    try:
        import ray
    except ImportError as err:
        raise MissingDependency(f"Running on Ray needs the optional extra: `{INSTALL}`.") from err
    return ray


@contextmanager
def connected(config: RayConfig) -> Iterator[ModuleType]:
    """Ray, initialised for `config`; a cluster started here is shut down on the way out."""
    ray = import_ray()
    if ray.is_initialized():
        yield ray
        return
    # Tasks that ask for no GPU see none (Ray's coming default; setting it also silences its warning).
    os.environ.setdefault("RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO", "0")
    local = config.address == LOCAL
    runtime_env: dict[str, object] = {"py_modules": [str(Path(__file__).resolve().parent.parent)]}
    if local:
        # Workers on this machine read the same data directory and catalog as the driver.
        runtime_env["env_vars"] = {name: value for name, value in os.environ.items() if name.startswith("ATLAS_")}
    ray.init(
        address=None if local else config.address,
        num_cpus=config.workers if local else None,
        runtime_env=runtime_env,
        include_dashboard=False,
        logging_level=logging.WARNING,
        log_to_driver=False,
    )
    try:
        yield ray
    finally:
        ray.shutdown()


def gpus_per_task(ray: ModuleType) -> int:
    """One GPU per task when the cluster has any, else none (the task runs on its worker's CPU)."""
    return 1 if ray.cluster_resources().get("GPU", 0) >= 1 else 0
