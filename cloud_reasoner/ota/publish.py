"""Publishing a perception model: the target's custom metadata a vehicle needs to trust what it runs.

Custom fields (TUF targets metadata, `custom`): the model's name and version, its input signature, and
its golden record (perception/golden.py: inputs rebuilt from a seed, the per-class pixel counts they must
give, a tolerance). The vehicle re-checks the golden record before the model may drive.
"""

from __future__ import annotations

from pathlib import Path

from cloud_reasoner.ota.repository import Keys, Repository, RepositoryError


def model_custom(model_path: Path, name: str, version: str | None) -> dict:
    from contracts.errors import ModelFileError
    from perception.golden import golden_record

    try:
        golden = golden_record(Path(model_path))
    except (ModelFileError, ValueError) as exc:
        raise RepositoryError(
            f"{model_path} is not a segmentation model the vehicle can check: {exc}"
        ) from None
    custom = {"model": name, "golden": golden, "input": golden["input"]}
    if version:
        custom["version"] = version
    return custom


def publish_model(
    repo: Repository, keys: Keys, model_path: Path, name: str, version: str | None = None
) -> dict:
    """Sign the model into the repository with its golden record; the target entry."""
    return repo.publish(model_path, name, keys, model_custom(model_path, name, version))
