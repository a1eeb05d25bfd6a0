"""Shared fixtures: the sample volumes (scripts/fetch-sample-data.sh) and the CLI binary."""

import os
import pathlib

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
DATA = REPO / "data"


def sample(name: str) -> pathlib.Path:
    path = DATA / name
    if not path.exists():
        pytest.fail(f"{path} is missing: run `bash scripts/fetch-sample-data.sh` first")
    return path


@pytest.fixture(scope="session")
def lung1() -> pathlib.Path:
    """The chest CT (int16, LPS, anisotropic spacing)."""
    return sample("lung1_image.nrrd")


@pytest.fixture(scope="session")
def ch2() -> pathlib.Path:
    """The MNI 'colin27' T1 MRI (NIfTI, RAS)."""
    return sample("ch2.nii.gz")


@pytest.fixture(scope="session")
def gradvol_cli() -> pathlib.Path:
    """The `gradvol` binary `cargo test` built (or GRADVOL_BIN)."""
    named = os.environ.get("GRADVOL_BIN")
    candidates = [pathlib.Path(named)] if named else [
        REPO / "target" / "debug" / "gradvol",
        REPO / "target" / "release" / "gradvol",
    ]
    for path in candidates:
        if path.exists():
            return path
    pytest.fail("no gradvol binary: run `cargo build` (or set GRADVOL_BIN)")


@pytest.fixture(scope="session")
def lung1_cli_gradient(lung1, gradvol_cli, tmp_path_factory):
    """`gradvol gradient` of the chest CT on the CPU, run once: the |grad f| file, the printed
    summary and the --stats file."""
    import json
    import subprocess

    folder = tmp_path_factory.mktemp("cli-gradient")
    out, stats = folder / "g.nrrd", folder / "stats.json"
    run = subprocess.run(
        [str(gradvol_cli), "gradient", str(lung1), "-o", str(out), "--device", "cpu", "--stats", str(stats)],
        capture_output=True,
        text=True,
        check=True,
    )
    summary = json.loads(run.stdout.strip().splitlines()[-1])
    return out, summary, json.loads(stats.read_text())["stats"]
