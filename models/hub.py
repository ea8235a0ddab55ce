"""Where a checkpoint name points: a local directory, or a Hugging Face hub repo id fetched with
`huggingface_hub.snapshot_download` (not run in the tests: no network). Every way this fails is one
FileNotFoundError / ValueError naming the name and what to do (`models.errors` prints it as one line)."""

from __future__ import annotations

import os

EXAMPLE_HUB_ID = "state-spaces/mamba2-130m"


def _looks_like_path(name: str) -> bool:
    """A name no hub repo id can be ('/abs', './rel', '~', 'a/b/c', 'C:\\x'): only a missing directory."""
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    if name.startswith((".", "~", os.sep)) or (os.altsep and os.altsep in name) or name.count("/") > 1:
        return True
    try:
        validate_repo_id(name)
    except HFValidationError:
        return True
    return False


def resolve_dir(name_or_path, *, allow_patterns: list[str] | None = None, holds: str = "config.json and the weights",
                revision=None, cache_dir=None, token=None, local_files_only=False, subfolder="",
                force_download=False) -> str:
    """The local directory of ``name_or_path``: itself if it is a directory, else the snapshot of that hub
    repo id (only the files matching ``allow_patterns``, under ``subfolder``). ``subfolder`` and
    ``revision`` have transformers' meaning; a ``revision`` other than None / "main" needs a hub repo.
    ``holds``: what the directory should hold, for the errors."""
    path = os.fspath(name_or_path)
    subfolder = (subfolder or "").strip("/")
    if os.path.isdir(path):
        if revision not in (None, "main"):
            raise ValueError(f"revision={revision!r} applies to hub repos, but {path} is a local directory "
                             "(which has no revisions); drop revision or check out that revision yourself")
        directory = os.path.join(path, subfolder) if subfolder else path
        if not os.path.isdir(directory):
            raise FileNotFoundError(f"subfolder={subfolder!r}: {directory} is not a directory")
        return directory
    if os.path.exists(path):
        raise ValueError(f"{path} is a file; pass the directory that holds {holds}")
    if _looks_like_path(path):
        raise FileNotFoundError(f"{path}: no such directory (and not a hub repo id like {EXAMPLE_HUB_ID!r}); "
                                f"pass the directory that holds {holds}")
    from huggingface_hub import constants, snapshot_download
    from huggingface_hub.errors import (GatedRepoError, LocalEntryNotFoundError, RepositoryNotFoundError,
                                        RevisionNotFoundError)

    prefix = subfolder + "/" if subfolder else ""
    try:
        root = snapshot_download(repo_id=path, revision=revision, cache_dir=cache_dir, token=token,
                                 local_files_only=local_files_only, force_download=bool(force_download),
                                 allow_patterns=[prefix + p for p in allow_patterns] if allow_patterns else None)
    except LocalEntryNotFoundError:
        why = ("HF_HUB_OFFLINE=1" if constants.HF_HUB_OFFLINE else
               "local_files_only=True" if local_files_only else "no connection")
        raise FileNotFoundError(
            f"{path!r} is not a local directory, and the Hugging Face hub is unreachable ({why}) with no cached "
            f"copy of it; pass the local directory that holds {holds}, or fetch it once with network access") from None
    except GatedRepoError:
        raise FileNotFoundError(f"{path!r} is not a local directory, and hub repo {path} is gated; accept its "
                                "terms on huggingface.co and log in (hf auth login)") from None
    except RepositoryNotFoundError:
        raise FileNotFoundError(f"{path!r} is neither a local directory nor a hub repo you can access; check the "
                                "path (or the repo id, and log in for a private repo)") from None
    except RevisionNotFoundError:
        raise FileNotFoundError(f"hub repo {path} has no revision {revision!r}; pass an existing branch, tag or "
                                "commit") from None
    except OSError as err:  # other HTTP / disk failures: keep their own words
        raise FileNotFoundError(f"{path!r} is not a local directory, and fetching it from the Hugging Face hub "
                                f"failed ({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}); "
                                f"pass the local directory that holds {holds}") from err
    return os.path.join(root, subfolder) if subfolder else root
