"""Cold start: each handler's import and initialisation in a fresh Python process, next to ``import boto3``.

Lambda's init imports ``functions/<name>/app.py``; the module validates its configuration and builds
its logger, metrics and app (AWS clients and ``requests`` wait for the first invocation). Here each
sample is one fresh interpreter running exactly that import, with the environment the template sets;
the import is timed inside the process (the interpreter's own start, ~15 ms, is reported apart).

The layer is staged as ``sam build`` ships it: the product's ``zoho_aep`` and its dependencies from
``layers/common/requirements.txt`` (taken from this virtualenv), without bytecode, because the
layer's build strips ``__pycache__`` and Lambda cannot write any under ``/opt``. boto3 keeps its
bytecode, as the runtime's does. The runs are interleaved so that noise on a shared machine hits
every target alike; the median of each is reported.
"""

from __future__ import annotations

import compileall
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from py_compile import PycInvalidationMode

HANDLERS = ("oauth_callback", "token_refresh", "adobe_provisioning", "zoho_export")
RUNTIME_PROVIDED = frozenset({"boto3", "botocore", "s3transfer"})  # the layer's build does not bundle them
CALLBACK_URL = "https://abc123.execute-api.us-east-1.amazonaws.com/oauth/callback"
_REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def lambda_env(function: str) -> dict[str, str]:
    """What the template's Globals and the function's own Environment set, plus Lambda's own variables."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",  # /opt and /var/task are read-only in Lambda
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_LAMBDA_FUNCTION_NAME": function,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "SECRET_PREFIX": "zoho-aep",
        "EVENT_BUS_NAME": "default",
        "ZOHO_SCOPES": "ZohoCRM.modules.READ,ZohoCRM.settings.READ,ZohoCRM.users.READ,ZohoCRM.org.READ",
        "SECRETS_KMS_KEY_ID": "",
        "ADOBE_IMS_URL": "https://ims-na1.adobelogin.com",
        "ADOBE_PLATFORM_URL": "https://platform.adobe.io",
        "POWERTOOLS_METRICS_NAMESPACE": "ZohoAep",
        "POWERTOOLS_SERVICE_NAME": function.replace("_", "-"),
    }
    if function == "oauth_callback":
        env["CALLBACK_URL"] = CALLBACK_URL
    if function == "token_refresh":
        queue = "https://sqs.us-east-1.amazonaws.com/123456789012/zoho-aep"
        env.update(
            {
                "REFRESH_WINDOW_MINUTES": "20",
                "REFRESH_CONCURRENCY": "8",
                "REFRESH_SCHEDULE_MINUTES": "10",
                "REFRESH_SHARD_SIZE": "1000",
                "REFRESH_SHARD_QUEUE_URL": f"{queue}-shards",
                "REFRESH_RESULT_QUEUE_URL": f"{queue}-results",
            }
        )
    if function == "zoho_export":
        env.update(
            {
                "EXPORT_BUCKET": "zoho-aep-export-123456789012",
                "EXPORT_MODULES": "Leads,Contacts,Accounts,Deals",
                "EXPORT_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/zoho-aep-export-units",
                "EXPORT_CALLBACK_URL": "https://abc123.execute-api.us-east-1.amazonaws.com/zoho/bulk-callback",
                "AEP_SOURCE_PATH": "auto",
            }
        )
    return env


def _closure(wanted: list[str], *, skip: frozenset[str] = frozenset()) -> list[metadata.Distribution]:
    """The installed distributions named and everything they require (extras aside), minus ``skip``."""
    seen: dict[str, metadata.Distribution] = {}
    while wanted:
        name = wanted.pop().lower().replace("_", "-")
        if name in seen or name in skip:
            continue
        dist = metadata.distribution(name)
        seen[name] = dist
        for requirement in dist.requires or ():
            if "extra ==" in requirement:
                continue
            match = _REQUIREMENT.match(requirement)
            if match:
                wanted.append(match.group(1))
    return list(seen.values())


def _copy_distributions(dists: list[metadata.Distribution], target: Path) -> None:
    for dist in dists:
        for file in dist.files or ():
            source = Path(str(dist.locate_file(file)))
            if "__pycache__" in file.parts or ".." in file.parts or not source.is_file():
                continue
            destination = target / file
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination)


def _fresh(target: Path) -> Path:
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    return target


def stage_runtime(target: Path) -> Path:
    """boto3 as the Lambda runtime has it: boto3, botocore and their requirements, with bytecode.

    Not this virtualenv's site-packages as such: it may hold extras the runtime lacks (awscrt makes
    ``import boto3`` much slower), so every target runs with ``python -S`` on staged paths only. The
    staged packages are links to the installed ones, bytecode included (pip compiles on install).
    """
    _fresh(target)
    for dist in _closure(["boto3"]):
        tops = {f.parts[0] for f in dist.files or () if len(f.parts) > 0 and f.parts[0] not in ("..", "__pycache__")}
        for top in sorted(tops):
            if top.endswith((".dist-info", ".egg-info")) or top == "bin":
                continue
            (target / top).symlink_to(Path(str(dist.locate_file(top))))
    return target


def stage_layer(product: Path, target: Path, *, bytecode: bool = False) -> Path:
    """Copy the layer's contents as ``sam build`` ships them into ``target``; returns ``target``."""
    requirements = (product / "layers" / "common" / "requirements.txt").read_text().splitlines()
    wanted = [m.group(1) for line in requirements if (m := _REQUIREMENT.match(line))]
    _copy_distributions(_closure(wanted, skip=RUNTIME_PROVIDED), _fresh(target))
    shutil.copytree(
        product / "layers" / "common" / "zoho_aep",
        target / "zoho_aep",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    if bytecode:
        # What a build with the runtime's interpreter could ship: bytecode that Lambda uses as is.
        compileall.compile_dir(target / "zoho_aep", quiet=1, invalidation_mode=PycInvalidationMode.UNCHECKED_HASH)
    return target


@dataclass
class Target:
    """One thing to time in a fresh interpreter."""

    key: str
    label: str
    code: str
    env: dict[str, str]

    def run_once(self) -> tuple[float, float]:
        """(milliseconds of the import itself, milliseconds of the whole process) for one fresh run."""
        timed = f"import time as _t\n_s = _t.perf_counter()\n{self.code}\nprint('BENCH', _t.perf_counter() - _s)"
        started = time.perf_counter()
        # -S: no site-packages, only the staged runtime and layer on PYTHONPATH (as in Lambda).
        done = subprocess.run(
            [sys.executable, "-S", "-c", timed], env=self.env, check=True, timeout=60, capture_output=True, text=True
        )
        process_ms = (time.perf_counter() - started) * 1000
        line = next(x for x in reversed(done.stdout.splitlines()) if x.startswith("BENCH "))
        return float(line.split()[1]) * 1000, process_ms


def handler_target(key: str, label: str, product: Path, layer: Path, runtime: Path, function: str) -> Target:
    env = lambda_env(function)
    env["PYTHONPATH"] = os.pathsep.join([str(layer), str(runtime)])  # Lambda: /opt/python before the runtime's
    code = f"import sys; sys.path.insert(0, {str(product / 'functions' / function)!r}); import app"
    return Target(key, label, code, env)


def bare_targets(runtime: Path) -> list[Target]:
    env = lambda_env("bare")
    env["PYTHONPATH"] = str(runtime)
    return [
        Target("python", "python -c pass (interpreter start)", "pass", env),
        Target("boto3", "python -c 'import boto3'", "import boto3", env),
    ]


def measure(targets: list[Target], runs: int, *, warm_up: bool = True) -> dict[str, dict[str, float | str | int]]:
    """Per target: median, min and max of the import's milliseconds, and the median process time."""
    imports: dict[str, list[float]] = {t.key: [] for t in targets}
    processes: dict[str, list[float]] = {t.key: [] for t in targets}
    for target in targets if warm_up else ():  # one unmeasured run each: the disk cache is warm for all
        target.run_once()
    for _ in range(runs):  # interleaved, so that noise hits every target alike
        for target in targets:
            import_ms, process_ms = target.run_once()
            imports[target.key].append(import_ms)
            processes[target.key].append(process_ms)
    return {
        t.key: {
            "label": t.label,
            "median_ms": round(statistics.median(imports[t.key]), 1),
            "min_ms": round(min(imports[t.key]), 1),
            "max_ms": round(max(imports[t.key]), 1),
            "process_median_ms": round(statistics.median(processes[t.key]), 1),
            "runs": runs,
        }
        for t in targets
    }
