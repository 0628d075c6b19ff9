"""Size: what ``sam build`` produces for the layer and each function, unzipped (boto3 is not bundled)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

BUILD_TIMEOUT_SECONDS = 900


def sam_build(root: Path) -> tuple[bool, str]:
    """Run ``sam build`` as the Makefile's ``build`` target does; (succeeded, last lines of output)."""
    bin_dir = Path(sys.executable).parent
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
        "SAM_CLI_TELEMETRY": "0",
    }
    done = subprocess.run(
        [str(bin_dir / "sam"), "build", "--parallel"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT_SECONDS,
    )
    tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-5:])
    return done.returncode == 0, tail


def tree_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def measure(build_dir: Path) -> dict[str, Any]:
    """Bytes per built artifact (each function, the layer) and the layer's largest packages."""
    if not build_dir.is_dir():
        return {"built": False}
    parts = {d.name: tree_bytes(d) for d in sorted(build_dir.iterdir()) if d.is_dir()}
    layer = next((build_dir / name / "python" for name in parts if (build_dir / name / "python").is_dir()), None)
    top: list[tuple[str, int]] = []
    if layer is not None:
        top = sorted(((p.name, tree_bytes(p) if p.is_dir() else p.stat().st_size) for p in layer.iterdir()),
                     key=lambda item: -item[1])[:8]  # fmt: skip
    return {"built": True, "parts": parts, "total": sum(parts.values()), "layer_top": top}
