"""Publishing a dataset folder as a versioned Hugging Face dataset repo, in one commit.

A publish is planned before anything is sent: every file of the folder is added, and every file of
the repo that the folder does not hold is deleted *in the same commit*, so shards of an earlier,
larger generation can never linger beside the new ones (a ``train-*`` glob would read both). The
commit is then tagged with the dataset's version (:func:`dataset_tag`), so
``load_dataset(repo, config, revision=TAG)`` reads exactly this generation for ever.

``huggingface_hub`` 2.x removed ``upload_large_folder`` (its release notes send callers to
``upload_folder``); a large folder goes up as one ``create_commit``, whose files are uploaded
(content-addressed, unchanged files skipped) before the commit is made, so the commit stays atomic.

Every network or Hub failure is one line (an :class:`ElsewhereError`), never a transport traceback.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from elsewhere.errors import ElsewhereError
from elsewhere.splits.dataset import read_manifest

# Files the Hub manages itself; never deleted by a publish.
HUB_FILES = frozenset({".gitattributes"})


@dataclass(frozen=True)
class Plan:
    """What one publish commits: files to add (repo path → local path) and repo paths to delete."""

    repo_id: str
    tag: str
    additions: dict[str, Path]
    deletions: tuple[str, ...]

    def lines(self) -> list[str]:
        """The commit operations, one line each, deletions first (as the commit applies them)."""
        lines = [f"delete {path}" for path in self.deletions]
        lines += [f"add {path} ({local.stat().st_size} bytes)" for path, local in sorted(self.additions.items())]
        lines.append(f"tag {self.tag}")
        return lines


def dataset_tag(manifest: dict) -> str:
    """The version tag of a generation: generator version, size, seed and a digest of every shard.

    Two folders get the same tag only if they hold the same shards (same seed, size, protocols
    and protocol versions), so a tag names one generation, byte for byte.
    """
    fingerprints = sorted(f"{name} {entry['fingerprint']}" for name, entry in manifest["protocols"].items())
    digest = hashlib.sha256("\n".join(fingerprints).encode()).hexdigest()[:10]
    version = manifest.get("generator", {}).get("version", "0")
    return f"v{version}-{manifest['size']}-seed{manifest['seed']}-{digest}"


def local_files(folder: Path) -> dict[str, Path]:
    """Every file of the dataset folder by its repo path (POSIX), hidden files and folders left out."""
    files = {}
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if path.is_file() and not any(part.startswith(".") for part in relative.parts):
            files[relative.as_posix()] = path
    return files


def plan_publish(folder: str | Path, repo_id: str, remote_files: Iterable[str]) -> Plan:
    """The commit that makes repo ``repo_id``, now holding ``remote_files``, hold exactly ``folder``."""
    folder = Path(folder)
    # A private variant publishes too: its shards hold only ids and images, so that entrants can
    # predict them; its labels file never lies inside the folder.
    manifest = read_manifest(folder)
    check_repo_id(repo_id)
    additions = local_files(folder)
    deletions = tuple(sorted(p for p in set(remote_files) if p not in additions and p not in HUB_FILES))
    return Plan(repo_id=repo_id, tag=dataset_tag(manifest), additions=additions, deletions=deletions)


def check_repo_id(repo_id: str) -> None:
    """Refuse anything but ``ORG/NAME`` with the Hub's own validator."""
    from huggingface_hub.utils import validate_repo_id

    try:
        if repo_id.count("/") != 1:
            raise ValueError
        validate_repo_id(repo_id)
    except ValueError:
        raise ElsewhereError(f"bad repo id {repo_id!r}; give it as ORG/NAME (letters, digits, - _ .)") from None


def files_at(place: str | Path) -> list[str]:
    """Repo paths listed by ``place``: a folder standing in for the repo, or a file with one path a line."""
    place = Path(place)
    if place.is_dir():
        return sorted(local_files(place))
    if place.is_file():
        return sorted({line.strip() for line in place.read_text().splitlines() if line.strip()})
    raise ElsewhereError(f"{place} does not exist; give a folder standing in for the repo or a file of repo paths")


def publish(
    folder: str | Path,
    repo_id: str,
    *,
    private: bool = False,
    dry_run: bool = False,
    remote: str | Path | None = None,
) -> tuple[Plan, str | None]:
    """Publish ``folder`` to the dataset repo ``repo_id`` in one tagged commit.

    Args:
        private: make the repo private (on creation, or by changing an existing repo's setting).
        dry_run: plan only; nothing is sent. The plan is against ``remote`` when given, else against
            the repo's current files (read from the Hub).
        remote: a folder or a listing standing in for the repo's files (offline planning).

    Returns:
        The plan and, unless ``dry_run``, the URL of the commit.
    """
    if remote is not None:
        return plan_publish(folder, repo_id, files_at(remote)), None
    plan_publish(folder, repo_id, ())  # every local check first, before the network
    try:
        return _publish_online(folder, repo_id, private=private, dry_run=dry_run)
    except ElsewhereError:
        raise
    except Exception as error:
        if _is_network_error(error):
            raise ElsewhereError(f"publishing to {repo_id} failed: {_one_line(error)}; nothing was committed") from None
        raise


def _publish_online(folder, repo_id: str, *, private: bool, dry_run: bool) -> tuple[Plan, str | None]:
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi, get_token
    from huggingface_hub.errors import RepositoryNotFoundError

    token = get_token()
    if token is None and not dry_run:
        raise ElsewhereError("no Hugging Face token found; set HF_TOKEN or log in with `hf auth login`")
    api = HfApi(token=token)
    try:
        info = api.repo_info(repo_id, repo_type="dataset")
        remote, tags = api.list_repo_files(repo_id, repo_type="dataset"), _tags(api, repo_id)
    except RepositoryNotFoundError:
        info, remote, tags = None, [], set()
    plan = plan_publish(folder, repo_id, remote)
    if dry_run:
        return plan, None
    if plan.tag in tags:
        raise ElsewhereError(
            f"{repo_id} already has the tag {plan.tag}: this generation is published; "
            "regenerate (another seed, size or version) to publish new data"
        )
    if info is None:
        api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
    elif private and not info.private:
        try:
            api.update_repo_settings(repo_id, repo_type="dataset", private=True)
        except Exception as error:
            raise ElsewhereError(
                f"{repo_id} exists and is public, and it could not be made private ({_one_line(error)}); "
                "change its visibility in its settings on the Hub, or publish without making it private"
            ) from None
    operations = [CommitOperationDelete(path_in_repo=p) for p in plan.deletions]
    operations += [CommitOperationAdd(path_in_repo=p, path_or_fileobj=str(f)) for p, f in plan.additions.items()]
    manifest = read_manifest(folder)
    commit = api.create_commit(
        repo_id,
        operations,
        repo_type="dataset",
        commit_message=f"elsewhere dataset {plan.tag}",
        commit_description=f"seed {manifest['seed']}, size {manifest['size']}; "
        f"{len(plan.additions)} files, {len(plan.deletions)} stale files deleted",
    )
    api.create_tag(repo_id, tag=plan.tag, revision=commit.oid, repo_type="dataset")
    return plan, str(commit.commit_url)


def _tags(api, repo_id: str) -> set[str]:
    return {ref.name for ref in api.list_repo_refs(repo_id, repo_type="dataset").tags}


def _is_network_error(error: BaseException) -> bool:
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled
    from huggingface_hub.utils import httpx

    return isinstance(error, (HfHubHTTPError, OfflineModeIsEnabled, httpx.HTTPError, OSError))


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return text if len(text) <= 300 else text[:297] + "..."
