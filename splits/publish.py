"""Publishing a dataset folder as a Hugging Face dataset repo, with ``huggingface_hub``."""

from __future__ import annotations

from pathlib import Path

from elsewhere.errors import ElsewhereError
from elsewhere.splits.dataset import read_manifest


def publish(folder: str | Path, repo_id: str, *, private: bool = False) -> str:
    """Upload ``folder`` to the dataset repo ``repo_id``; the token comes from the usual places."""
    from huggingface_hub import HfApi, get_token

    folder = Path(folder)
    manifest = read_manifest(folder)
    if manifest.get("labels") == "withheld":
        raise ElsewhereError(
            f"{folder} is a private variant (labels withheld); publish only public "
            f"variants — the hidden test set stays with the leaderboard"
        )
    if repo_id.count("/") != 1 or not all(repo_id.split("/")):
        raise ElsewhereError(f"bad --repo-id {repo_id!r}; give it as ORG/NAME")
    token = get_token()
    if token is None:
        raise ElsewhereError("no Hugging Face token found; set HF_TOKEN or run `hf auth login`")
    api = HfApi(token=token)
    api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
    commit = api.upload_folder(
        folder_path=str(folder),
        repo_id=repo_id,
        repo_type="dataset",
        commit_message=f"elsewhere dataset, seed {manifest['seed']}, size {manifest['size']}",
    )
    return str(commit.repo_url)
