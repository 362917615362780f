"""Building a model from a researcher's code and weights, without ever unpickling anything.

A model is named by a factory spec ``path/to/file.py:function``: the file is imported as a module
and the function called, with ``num_classes`` and/or ``canvas`` if it takes them. Weights come only
from safetensors files, which hold raw tensors and cannot run code (``torch.load`` can). Every
problem a user can fix is a one-line ``ValueError`` saying what was wrong and what is expected.
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import sys
from collections.abc import Callable
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import nn

from elsewhere.errors import ElsewhereError
from elsewhere.files import atomic_path

WEIGHTS_SUFFIX = ".safetensors"
FACTORY_ARGUMENTS = ("num_classes", "canvas")
SHOWN_KEYS = 3


def one_line(error: BaseException) -> str:
    """An exception as ``Type: message`` on one line."""
    return f"{type(error).__name__}: {' '.join(str(error).split())}"


def _keys(keys) -> str:
    keys = sorted(keys)
    shown = ", ".join(keys[:SHOWN_KEYS])
    more = len(keys) - SHOWN_KEYS
    return shown + (f" and {more} more" if more > 0 else "")


def load_factory(spec: str) -> Callable[..., nn.Module]:
    """Import ``path/to/file.py`` of ``"path/to/file.py:function"`` and return its ``function``.

    The file's own folder is importable while it loads, so it may import its neighbours.
    """
    path_text, colon, name = spec.rpartition(":")
    if not colon or not path_text or not name:
        raise ElsewhereError(f"bad model spec {spec!r}; write it as path/to/file.py:function")
    path = Path(path_text)
    if not path.is_file():
        raise ElsewhereError(f"model file {path} does not exist; give the path of a .py file in FILE.py:FUNCTION")
    # A name unique to the file's location, so two model files never collide in sys.modules.
    module_name = "elsewhere_model_" + hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:16]
    module_spec = importlib.util.spec_from_file_location(module_name, path)
    if module_spec is None or module_spec.loader is None:
        raise ElsewhereError(f"cannot import {path} as a Python module; give a .py file")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[module_name] = module
    folder = str(path.resolve().parent)
    sys.path.insert(0, folder)
    try:
        module_spec.loader.exec_module(module)
    except BaseException as error:
        del sys.modules[module_name]
        if not isinstance(error, Exception):
            raise
        raise ElsewhereError(f"importing {path} failed with {one_line(error)}; fix the model file") from error
    finally:
        sys.path.remove(folder)
    if not hasattr(module, name):
        defined = sorted(
            k
            for k, v in vars(module).items()
            if callable(v) and not k.startswith("_") and getattr(v, "__module__", None) == module_name
        )
        listing = ", ".join(defined) if defined else "no public functions"
        raise ElsewhereError(f"{path} has no {name!r}; it defines {listing}")
    factory = getattr(module, name)
    if not callable(factory):
        raise ElsewhereError(
            f"{name!r} in {path} is not callable (it is of type {type(factory).__name__}); "
            f"name a function that returns a torch.nn.Module"
        )
    return factory


def build_model(spec: str, *, num_classes: int, canvas: int) -> nn.Module:
    """Call the factory of ``spec`` with whichever of ``num_classes`` and ``canvas`` it accepts."""
    factory = load_factory(spec)
    offered = {"num_classes": num_classes, "canvas": canvas}
    try:
        parameters = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        parameters = {}
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    kwargs = {k: v for k, v in offered.items() if takes_any or k in parameters}
    try:
        model = factory(**kwargs)
    except Exception as error:
        raise ElsewhereError(
            f"the model factory {spec} failed with {one_line(error)}; it may take "
            f"keyword arguments {' and '.join(FACTORY_ARGUMENTS)} and must return a "
            f"torch.nn.Module"
        ) from error
    if not isinstance(model, nn.Module):
        raise ElsewhereError(
            f"the model factory {spec} returned a {type(model).__name__}; it must return a torch.nn.Module"
        )
    return model


def load_weights(model: nn.Module, path: str | Path) -> None:
    """Load a safetensors file into ``model``; every key and shape must match exactly."""
    path = Path(path)
    if path.suffix != WEIGHTS_SUFFIX:
        raise ElsewhereError(
            f"weights file {path} is not {WEIGHTS_SUFFIX}; only safetensors weights are "
            f"accepted (convert with safetensors.torch.save_file(model.state_dict(), ...))"
        )
    if not path.is_file():
        raise ElsewhereError(f"weights file {path} does not exist")
    try:
        # One handle for the tensors and the record, so that both come from the same file.
        with safe_open(str(path), framework="pt") as handle:
            recorded = handle.metadata() or {}
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}
    except (SafetensorError, OSError, ValueError, RuntimeError) as error:
        raise ElsewhereError(f"weights file {path} is not a readable safetensors file ({one_line(error)})") from error
    expected = model.state_dict()
    missing = expected.keys() - tensors.keys()
    unexpected = tensors.keys() - expected.keys()
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing ({_keys(missing)})")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected ({_keys(unexpected)})")
    mismatched = sorted(k for k in expected.keys() & tensors.keys() if expected[k].shape != tensors[k].shape)
    if mismatched:
        shown = ", ".join(
            f"{k} {tuple(tensors[k].shape)} vs {tuple(expected[k].shape)}" for k in mismatched[:SHOWN_KEYS]
        )
        more = f" and {len(mismatched) - SHOWN_KEYS} more" if len(mismatched) > SHOWN_KEYS else ""
        problems.append(f"{len(mismatched)} of another shape ({shown}{more})")
    if problems:
        raise ElsewhereError(
            f"weights file {path} does not fit the model: keys {'; '.join(problems)}; "
            f"save the weights of this very architecture"
        )
    _check_identity(model, recorded, path)
    model.load_state_dict(tensors, strict=True)


def _identity(model: nn.Module) -> dict[str, str]:
    """The registry name and revision a model of ``create_model`` carries; nothing for other models."""
    name = getattr(model, "architecture", None)
    if not isinstance(name, str):
        return {}
    return {"architecture": name, "revision": str(getattr(model, "architecture_revision", 1))}


def _check_identity(model: nn.Module, recorded: dict[str, str], path: Path) -> None:
    """Refuse a file saved from another registry architecture, or from another revision of this one.

    Their keys can fit exactly (the Red-Green paddings; ``vit-tiny`` before its standardisation),
    so the keys alone would load them silently. A file without the record (a researcher's own) is
    judged by its keys alone; one recorded before revisions were (``architecture`` only) counts as
    revision 1. The record is a stranger's text, so it is shown quoted and cut short.
    """
    expected = _identity(model)
    if not expected or "architecture" not in recorded:
        return
    name, revision = recorded["architecture"], recorded.get("revision", "1")
    if name != expected["architecture"]:
        raise ElsewhereError(
            f"weights file {path} holds {name!r:.80} weights, not {expected['architecture']}; "
            f"load it into the architecture that saved it"
        )
    if revision != expected["revision"]:
        raise ElsewhereError(
            f"weights file {path} holds {name!r} revision {revision!r:.20} weights (a file that records no "
            f"revision counts as 1), and this version of elsewhere builds revision {expected['revision']}, which "
            "computes differently with the same keys; train it again"
        )


def save_weights(model: nn.Module, path: str | Path) -> None:
    """Write ``model``'s state dict to a safetensors file; the file appears only when complete."""
    path = Path(path)
    if path.suffix != WEIGHTS_SUFFIX:
        raise ElsewhereError(f"weights file {path} must end in {WEIGHTS_SUFFIX}")
    # Own, contiguous CPU copies: safetensors refuses tensors that share memory or are strided.
    tensors = {k: v.detach().cpu().clone(memory_format=torch.contiguous_format) for k, v in model.state_dict().items()}
    metadata = {"format": "pt", **_identity(model)}
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as temporary:
        save_file(tensors, str(temporary), metadata=metadata)


def count_parameters(model: nn.Module) -> int:
    """The number of parameters of ``model`` (shared ones counted once)."""
    return sum(p.numel() for p in model.parameters())
