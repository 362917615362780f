"""The ``elsewhere`` command: thin argument parsing over the library, one subcommand per job.

Every user error (ElsewhereError, OSError) becomes one line on stderr and exit status 2; any other
exception is a bug and keeps its traceback. ELSEWHERE_DEBUG=1 shows the traceback of user errors too.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import socket
import sys
from collections.abc import Callable, Iterator, Sequence
from importlib.metadata import PackageNotFoundError, version

from elsewhere.errors import ElsewhereError
from elsewhere.extras import optional_dependencies
from elsewhere.splits.names import EVALUATED_SPLITS

EXIT_USAGE = 2
EXIT_BROKEN_PIPE = 128 + 13  # as a process ended by SIGPIPE

Command = Callable[[argparse.Namespace], int | None]


def _generate(args: argparse.Namespace) -> None:
    from elsewhere.api import generate

    manifest = generate(
        args.out,
        protocols=args.protocols,
        size=args.size,
        seed=args.seed,
        workers=args.workers,
        canvas=args.canvas,
        private=args.private,
        secret_file=args.secret_file,
        labels=args.labels,
        overwrite=args.overwrite,
        progress=not args.quiet,
        engine=args.engine,
        address=args.address,
    )
    rows = sum(s["rows"] for p in manifest["protocols"].values() for s in p["splits"].values())
    print(f"wrote {_count(rows, 'image')} in {_count(len(manifest['protocols']), 'protocol')} to {args.out}")


def _protocols(args: argparse.Namespace) -> None:
    from elsewhere.splits.controls import mark, panel_rows, verdict
    from elsewhere.splits.registry import get_protocol, protocol_names

    protocols = [get_protocol(name) for name in protocol_names()]
    if args.json:
        listing = []
        for p in protocols:
            entry = {
                k: v
                for k, v in p.to_dict().items()
                if k in ("name", "version", "description", "family", "held_out", "control")
            }
            entry["splits"] = {split: {size: p.split_size(split, size) for size in p.sizes} for split in p.split_names}
            found = verdict(p, panel_rows())
            entry["headroom"] = found.status
            # What the verdict rests on: each panel network's seed-mean accuracies and its number of seeds.
            entry["panel"] = {"id": found.id, "ood": found.ood, "seeds": found.seeds, "missing": list(found.missing)}
            listing.append(entry)
        print(json.dumps(listing, indent=2))
        return
    width = max(len(p.name) for p in protocols)
    for p in protocols:
        label = mark(p)
        print(f"{p.name:<{width}}  v{p.version}  {', '.join(p.held_out)}{f' ({label})' if label else ''}: {p.title}")


def _publish(args: argparse.Namespace) -> None:
    from elsewhere.splits.publish import publish

    if args.against is not None and not args.dry_run:
        raise ElsewhereError("--against plans against a stand-in for the repo; use it with --dry-run")
    plan, url = publish(args.folder, args.repo_id, private=args.private_repo, dry_run=args.dry_run, remote=args.against)
    if url is None:
        print("\n".join(plan.lines()))
        return
    print(f"published {args.folder} to {url}, tagged {plan.tag} ({_count(len(plan.deletions), 'stale file')} deleted)")
    print(f'load it with load_dataset("{args.repo_id}", "<protocol>", revision="{plan.tag}")')


def _export(args: argparse.Namespace) -> None:
    from elsewhere.evaluation.export import export_to_model_card
    from elsewhere.evaluation.results import load_results

    count = export_to_model_card(load_results(args.results), args.model_card, dataset_repo=args.dataset_repo)
    print(f"{args.model_card}: {_count(count, 'model-index entry')} added or updated")


def _space(args: argparse.Namespace) -> None:
    from elsewhere.leaderboard.space import write_space

    entries = write_space(
        args.folder, data=args.data, baselines=args.baselines, results_repo=args.results_repo, title=args.title
    )
    print(f"wrote the Space {args.folder}: {', '.join(entries)}")
    print(f"try it: cd {args.folder} && python app.py; publish it as a Gradio Space repo")


def _score(args: argparse.Namespace) -> None:
    from elsewhere.api import score
    from elsewhere.evaluation.results import write_results

    results = score(args.data, args.protocol, args.predictions, model_name=args.model_name)
    write_results(results, args.out)
    _summarise(results, args.out)


def _evaluate(args: argparse.Namespace) -> None:
    from elsewhere.api import evaluate
    from elsewhere.evaluation.results import write_results

    results = evaluate(
        args.data,
        args.protocol,
        args.model,
        weights=args.weights,
        device=args.device,
        batch_size=args.batch_size,
        model_name=args.model_name,
        save_predictions=args.save_predictions,
        mean=args.mean,
        std=args.std,
        pixel_cache=args.pixel_cache,
        progress=not args.quiet,
    )
    write_results(results, args.out)
    _summarise(results, args.out)


def _train(args: argparse.Namespace) -> None:
    from elsewhere.evaluation.harness import train_baseline

    results = train_baseline(
        args.data,
        args.protocol,
        args.arch,
        args.out,
        epochs=args.epochs,
        seed=args.seed,
        device=args.device,
        pretrained=args.pretrained,
        progress=not args.quiet,
    )
    _summarise(results, f"{args.out}/results.json")


def _report(args: argparse.Namespace) -> None:
    from elsewhere.evaluation.report import write_report
    from elsewhere.evaluation.results import load_results

    for path in write_report(load_results(args.results), args.out):
        print(path)


def _compare(args: argparse.Namespace) -> None:
    from elsewhere.evaluation.compare import compare_results
    from elsewhere.evaluation.results import load_results

    comparison = compare_results(load_results(args.a), load_results(args.b), split=args.split)
    if args.json:
        print(json.dumps(comparison, indent=2))
        return
    d, (name_a, name_b) = comparison["difference"], comparison["models"]
    print(
        f"{comparison['split']}, {_count(comparison['n'], 'paired item')}: A ({name_a}) {comparison['accuracy_a']:.4f}, "
        f"B ({name_b}) {comparison['accuracy_b']:.4f}; A − B {d['value']:+.4f} "
        f"({comparison['confidence']:.0%} CI {d['ci'][0]:+.4f} to {d['ci'][1]:+.4f}), "
        f"McNemar p = {comparison['p_value']:.3g}"
    )


def _submit(args: argparse.Namespace) -> None:
    from elsewhere.leaderboard.submissions import submit_file

    entry = submit_file(
        data=args.data,
        predictions=args.predictions,
        protocol=args.protocol,
        model_name=args.model_name,
        db=args.db,
        labels=args.labels,
        submitter=args.submitter,
        link=args.link,
        notes=args.notes,
        parameters=args.parameters,
        family=args.family,
        verified=args.verified,
    )
    print(
        f"stored entry #{entry.id}: {entry.model_name} on {entry.protocol}, "
        f"out-of-location accuracy {entry.ood_accuracy:.4f}"
    )


def _leaderboard(args: argparse.Namespace) -> None:
    _refuse_busy_port(args.host, args.port)
    from elsewhere.leaderboard.app import launch

    if args.baselines:
        from elsewhere.leaderboard import settings
        from elsewhere.leaderboard.baselines import seed_baselines
        from elsewhere.leaderboard.store import Store
        from elsewhere.leaderboard.submissions import Truths

        store = Store(args.db if args.db is not None else settings.database_path())
        for line in seed_baselines(store, Truths(args.data, args.labels), args.baselines):
            print(line)
    launch(args.db, args.data, host=args.host, port=args.port, labels=args.labels)


def _refuse_busy_port(host: str, port: int) -> None:
    """Fail in one line, before anything starts, when the server could not listen on ``host:port``."""
    other_host = "give an address of this machine with --host, e.g. 127.0.0.1 or 0.0.0.0"
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as error:
        raise ElsewhereError(f"cannot serve on {host}:{port} ({error.strerror}); {other_host}") from None
    with socket.socket(family, kind, proto) as probe:
        # As a server binds: a port left in TIME_WAIT by a stopped server is free, a listening one is not.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as error:
            hint = other_host if error.errno == errno.EADDRNOTAVAIL else "choose another port with --port"
            raise ElsewhereError(f"cannot serve on {host}:{port} ({error.strerror or error}); {hint}") from None


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _summarise(results: dict, path) -> None:
    from elsewhere.evaluation.metrics import further_splits

    metrics = results["metrics"]
    ood, iid = metrics["ood_accuracy"], metrics["id_accuracy"]
    # A protocol's further test splits (red-green's test_moved), each with its interval.
    further = "".join(
        f"; {split} {metrics['accuracy'][split]['value']:.4f} "
        f"[{metrics['accuracy'][split]['ci'][0]:.4f}, {metrics['accuracy'][split]['ci'][1]:.4f}]"
        for split in further_splits(metrics)
    )
    print(
        f"{results['protocol']['name']}: out-of-location accuracy {ood['value']:.4f} "
        f"[{ood['ci'][0]:.4f}, {ood['ci'][1]:.4f}]; in-distribution {iid['value']:.4f}{further}; "
        f"results in {path}"
    )


class _Choices:
    """The allowed values of an option, read only when argparse checks a value or prints help.

    Building the parser then imports nothing heavy: the architectures and devices live in modules
    that import torch, which ``elsewhere score`` never needs. An option with these choices needs a
    ``metavar``, or argparse reads them while adding it.
    """

    def __init__(self, load: Callable[[], Sequence[str]]):
        self._load = load

    def __contains__(self, value: object) -> bool:
        return value in self._load()

    def __iter__(self) -> Iterator[str]:
        return iter(self._load())


def _sizes() -> Sequence[str]:
    from elsewhere.splits.protocol import SIZES

    return SIZES


def _architectures() -> Sequence[str]:
    from elsewhere.evaluation.architectures import list_architectures

    return list_architectures()


class _Architectures(_Choices):
    """The names ``--help`` lists (the registry's, then the library backbones' forms); every name is
    checked by :func:`_architecture` instead, which answers an unknown one with a "did you mean"."""

    def __init__(self):
        super().__init__(lambda: (*_architectures(), "timm:NAME", "torchvision:NAME"))

    def __contains__(self, value: object) -> bool:
        return True


def _architecture(name: str) -> str:
    """A registered architecture or a library backbone name; argparse shows a refusal as one usage line."""
    from elsewhere.evaluation.architectures import get_builder

    try:
        get_builder(name)
    except ElsewhereError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return name


def _devices() -> Sequence[str]:
    from elsewhere.evaluation.runner import DEVICES

    return DEVICES


def _device_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--device",
        default="auto",
        choices=_Choices(_devices),
        metavar="DEVICE",
        help="%(choices)s (default: auto, CUDA when present, else CPU)",
    )


def _rgb(text: str) -> tuple[float, float, float]:
    """``R,G,B`` as three numbers; argparse shows the error as a one-line usage error."""
    try:
        values = tuple(float(part) for part in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 3:
        raise argparse.ArgumentTypeError(f"got {text!r}; give three numbers R,G,B, e.g. 0.485,0.456,0.406")
    return values


def _port(text: str) -> int:
    port = int(text) if text.strip().isdigit() else 0
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"got {text!r}; give a whole number from 1 to 65535")
    return port


def _package_version() -> str:
    try:
        return version("elsewhere")
    except PackageNotFoundError:
        return "(not installed)"


MODEL_CONTRACT = """\
the model contract:
  FILE.py:FACTORY   a function returning a torch.nn.Module; it is called with the keyword
                    arguments num_classes and/or canvas when it takes them
  input             float32 N×3×H×W, RGB in [0, 1], H = W = the protocol's canvas; with
                    --mean/--std (or the model's attributes input_mean and input_std, three
                    numbers each) normalised per channel as (x − mean) / std
  output            logits N×C, C = the protocol's number of classes, in the order of the
                    dataset's label names; finite
  weights           safetensors only (never unpickled), every key and shape matching
A model that breaks the contract is refused in one line before anything is scored."""

PREDICTIONS_FORMAT = f"""\
the predictions file (CSV, Parquet, or JSON lines in .jsonl/.json), one row per item of the
protocol's {", ".join(EVALUATED_SPLITS)} splits and any further test_* split it has (red-green's
test_moved), no other rows and no other columns:
  id              the item's id, exactly as in the dataset
  prediction      the predicted class: its index 0..C−1 or its name
  probabilities   optional: C probabilities summing to 1 (in CSV a JSON list, "[0.9, 0.1, ...]")
for example (CSV):
  id,prediction
  location-halves/test_id/0000000,5
  location-halves/test_ood/0000000,kite"""


def _data_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", required=True, help="dataset folder or Hub repo id")
    p.add_argument("--protocol", required=True)


def _add_generate(commands) -> None:
    p = commands.add_parser("generate", help="write the benchmark dataset folder")
    p.add_argument("--out", required=True, help="dataset folder to create (empty or new)")
    p.add_argument("--protocols", default=None, help="comma-separated protocols (default: all)")
    p.add_argument(
        "--size", default="small", choices=_Choices(_sizes), metavar="SIZE", help="%(choices)s (default: small)"
    )
    p.add_argument("--seed", type=int, default=0, help="whole number (default: 0)")
    p.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    p.add_argument(
        "--engine", default="local", choices=("local", "ray"), help="local processes or Ray tasks (default: local)"
    )
    p.add_argument("--address", default=None, help="with --engine ray: the cluster's address (default: start Ray here)")
    p.add_argument("--canvas", type=int, default=None, help="override every protocol's canvas side")
    p.add_argument(
        "--private",
        action="store_true",
        help="hidden test set: seed from ELSEWHERE_SECRET or --secret-file, labels withheld",
    )
    p.add_argument("--secret-file", default=None, help="file holding the operator secret")
    p.add_argument("--labels", default=None, help="with --private: where to write the labels file")
    p.add_argument("--overwrite", action="store_true", help="replace an existing elsewhere dataset")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=_generate)


def _add_protocols(commands) -> None:
    p = commands.add_parser("protocols", help="list the protocols of the suite")
    p.add_argument("--json", action="store_true", help="machine-readable listing")
    p.set_defaults(run=_protocols)


def _add_publish(commands) -> None:
    p = commands.add_parser("publish", help="upload a dataset folder to the Hugging Face Hub")
    p.add_argument("folder")
    p.add_argument("--repo-id", required=True, help="ORG/NAME of the dataset repo")
    p.add_argument(
        "--private-repo", action="store_true", help="make the repo private (a new one, or an existing public one)"
    )
    p.add_argument("--dry-run", action="store_true", help="print the commit's operations; send nothing")
    p.add_argument(
        "--against",
        default=None,
        metavar="PATH",
        help="with --dry-run: plan against this folder (or file of repo paths) instead of the repo on the Hub",
    )
    p.set_defaults(run=_publish)


def _add_score(commands) -> None:
    p = commands.add_parser(
        "score",
        help="score a predictions file",
        description="Score a predictions file against a protocol's labels; write the results JSON.",
        epilog=PREDICTIONS_FORMAT,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _data_arguments(p)
    p.add_argument("--predictions", required=True, help="CSV, Parquet or JSONL: id, prediction[, probabilities]")
    p.add_argument("--model-name", default=None, help="name recorded in the results (default: file name)")
    p.add_argument("--out", required=True, help="results JSON to write")
    p.set_defaults(run=_score)


def _add_evaluate(commands) -> None:
    p = commands.add_parser(
        "evaluate",
        help="run a torch model over a protocol's test splits",
        description="Run a torch model over a protocol's evaluated splits and score its predictions.",
        epilog=MODEL_CONTRACT,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _data_arguments(p)
    p.add_argument("--model", required=True, help="FILE.py:FACTORY building a torch.nn.Module")
    p.add_argument("--weights", default=None, help="weights in .safetensors (never unpickled)")
    p.add_argument("--out", required=True, help="results JSON to write")
    p.add_argument("--save-predictions", default=None, help="also write the predictions here")
    _device_argument(p)
    p.add_argument("--mean", type=_rgb, default=None, metavar="R,G,B", help="input mean per channel, on [0, 1]")
    p.add_argument("--std", type=_rgb, default=None, metavar="R,G,B", help="input std per channel, on [0, 1]")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--model-name", default=None)
    p.add_argument(
        "--pixel-cache",
        default=None,
        metavar="DIR",
        help="keep each split's decoded images here: later evaluations of the same data read them instead of "
        "decoding (uint8, 12 kB per 64×64 image)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=_evaluate)


def _add_train(commands) -> None:
    p = commands.add_parser("train", help="train a reference baseline")
    _data_arguments(p)
    p.add_argument(
        "--arch",
        required=True,
        type=_architecture,
        choices=_Architectures(),
        metavar="ARCH",
        help="one of %(choices)s (a timm or torchvision model by its library's name, e.g. timm:resnet18)",
    )
    p.add_argument(
        "--pretrained",
        action="store_true",
        help="a timm:/torchvision: backbone starts from its published weights (downloaded unless cached); "
        "the run is labelled ARCH+pretrained, its own row in the baseline table",
    )
    p.add_argument("--out", required=True, help="run folder: model.safetensors, predictions.parquet, results.json")
    p.add_argument("--epochs", type=int, default=None, help="default: the architecture's own")
    p.add_argument("--seed", type=int, default=0)
    _device_argument(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=_train)


def _add_report(commands) -> None:
    p = commands.add_parser("report", help="draw maps and curves of a results file")
    p.add_argument("results")
    p.add_argument("--out", default=".", help="folder for the PNG files (default: here)")
    p.set_defaults(run=_report)


def _add_compare(commands) -> None:
    p = commands.add_parser("compare", help="paired test of two results on the same items")
    p.add_argument("a")
    p.add_argument("b")
    p.add_argument("--split", default="test_ood")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=_compare)


def _add_submit(commands) -> None:
    p = commands.add_parser(
        "submit",
        help="score predictions and store them on the leaderboard",
        epilog=PREDICTIONS_FORMAT,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--data", required=True, help="dataset folder or Hub repo id holding the labels")
    p.add_argument("--predictions", required=True)
    p.add_argument("--protocol", required=True)
    p.add_argument("--model-name", required=True)
    p.add_argument("--db", default=None, help="SQLite store (default: $ELSEWHERE_DB or the cache)")
    p.add_argument("--labels", default=None, help="labels file of a private variant")
    p.add_argument("--submitter", default=None, help="default: your user name")
    p.add_argument("--link", default=None)
    p.add_argument("--notes", default=None)
    p.add_argument("--parameters", type=int, default=None)
    p.add_argument("--family", default="other", help="e.g. cnn, mlp, resnet, other")
    p.add_argument(
        "--verified", action="store_true", help="an operator-run entry (baselines); needs $ELSEWHERE_OPERATOR_KEY"
    )
    p.set_defaults(run=_submit)


def _add_leaderboard(commands) -> None:
    p = commands.add_parser("leaderboard", help="serve the leaderboard app")
    p.add_argument("--db", default=None, help="SQLite store (default: $ELSEWHERE_DB or the cache)")
    p.add_argument("--data", required=True, help="dataset folder or Hub repo id it scores against")
    p.add_argument("--labels", default=None, help="labels file of a private variant")
    p.add_argument(
        "--host",
        default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
        help="address to listen on (default: $GRADIO_SERVER_NAME or 127.0.0.1)",
    )
    p.add_argument(
        "--port",
        type=_port,
        default=os.environ.get("GRADIO_SERVER_PORT", "7860"),
        help="default: $GRADIO_SERVER_PORT or 7860",
    )
    p.add_argument(
        "--baselines", default=None, help="runs folder of `elsewhere train` (RUNS/<protocol>/<arch>) to store first"
    )
    p.set_defaults(run=_leaderboard)


def _add_export(commands) -> None:
    p = commands.add_parser(
        "export",
        help="write a results file into a model card's model-index",
        description="Add or update the model-index entries of RESULTS in a model card (created if missing).",
    )
    p.add_argument("results", help="results JSON of score, evaluate or train")
    p.add_argument("--model-card", required=True, help="the model card's README.md")
    p.add_argument(
        "--dataset-repo", default=None, help="Hub dataset repo the data was published as (results scored on a folder)"
    )
    p.set_defaults(run=_export)


def _round(args: argparse.Namespace) -> None:
    from elsewhere.api import read_secret
    from elsewhere.leaderboard import rounds, settings
    from elsewhere.leaderboard.store import Store

    store = Store(args.db if args.db is not None else settings.database_path())
    if args.action in ("open", "close"):
        if args.data is None or args.labels is None:
            raise ElsewhereError(f"round {args.action} needs --data and --labels: the round's dataset and labels file")
        store.check_operator(settings.operator_key())
        secret = read_secret(args.secret_file)
    if args.action == "open":
        record = rounds.open_round(store, args.data, args.labels, secret)
        print(f"opened round {record['id']}: commitment sha256 {record['commitment']}")
    elif args.action == "close":
        from elsewhere.leaderboard.submissions import Truths

        record = rounds.close_round(store, Truths(args.data, args.labels), secret)
        print(f"closed round {record['id']}: {record['entries']} entries scored on the final part; secret revealed")
        for place, entry in enumerate(record["ranking"], 1):
            print(f"{place:3d}. entry #{entry['id']}  final out-of-location accuracy {entry['ood_accuracy']:.4f}")
    elif args.action == "verify":
        closed = [r["id"] for r in store.rounds() if r["closed"] is not None]
        for round_id in [args.round] if args.round is not None else closed:
            for line in rounds.verify_round(store, round_id):
                print(line)
    else:
        records = rounds.status(store)
        if args.json:
            print(json.dumps(records, indent=2))
            return
        for r in records:
            state = f"closed {r['closed']}, secret {r['secret']}" if r["closed"] else "open"
            entries = f"{r['entries']} entries"
            print(f"round {r['id']}: opened {r['opened']}, {state}; commitment {r['commitment']}; {entries}")
        if not records:
            print("no evaluation rounds yet")


def _add_round(commands) -> None:
    p = commands.add_parser(
        "round",
        help="evaluation rounds of a hidden test set: open, close, status, verify",
        description="Open a round on a private dataset (publishes SHA-256 of its secret), close it (scores the "
        "final part, reveals the secret), list rounds, or verify a closed round from its revealed secret. "
        "open and close are operator actions: they need $ELSEWHERE_OPERATOR_KEY and the secret "
        "($ELSEWHERE_SECRET or --secret-file).",
    )
    p.add_argument("action", choices=("open", "close", "status", "verify"))
    p.add_argument("--db", default=None, help="SQLite store (default: $ELSEWHERE_DB or the cache)")
    p.add_argument("--data", default=None, help="open/close: the round's private dataset folder or Hub repo id")
    p.add_argument("--labels", default=None, help="open/close: the round's labels file")
    p.add_argument("--secret-file", default=None, help="open/close: file holding the round's secret")
    p.add_argument("--round", type=int, default=None, help="verify: the round (default: every closed round)")
    p.add_argument("--json", action="store_true", help="status: as JSON")
    p.set_defaults(run=_round)


def _sweep(args: argparse.Namespace) -> None:
    from elsewhere.evaluation.sweep import TABLE, Settings, parse_names, parse_seeds, plan_sweep, run_sweep
    from elsewhere.splits.engines import Engine

    runs = plan_sweep(parse_names(args.archs), parse_names(args.protocols), parse_seeds(args.seeds))
    engine = Engine(args.engine, args.workers, args.address)
    settings = Settings(args.data, args.epochs, args.device)
    rows = run_sweep(args.runs, runs, settings, engine, gpus_per_run=args.gpus_per_run)
    print(f"{_count(len(rows), 'run')} of {len(runs)} finished; table in {os.path.join(args.runs, TABLE)}")


def _add_sweep(commands) -> None:
    p = commands.add_parser("sweep", help="train the grid of architectures × protocols × seeds (resumable)")
    p.add_argument("--data", required=True, help="dataset folder (shared by all workers) or Hub repo id")
    p.add_argument("--runs", required=True, help="folder of the runs and of the table baselines.json")
    p.add_argument(
        "--archs",
        required=True,
        help="comma-separated architectures: names of `elsewhere train --arch`, and timm:NAME or torchvision:NAME "
        "(NAME+pretrained to fine-tune from published weights)",
    )
    p.add_argument("--protocols", required=True, help="comma-separated protocols")
    p.add_argument("--seeds", default="0", help="comma-separated seeds (default: 0)")
    p.add_argument("--epochs", type=int, default=None, help="default: each architecture's own")
    _device_argument(p)
    p.add_argument(
        "--engine", default="local", choices=("local", "ray"), help="local processes or Ray tasks (default: local)"
    )
    p.add_argument("--address", default=None, help="with --engine ray: the cluster's address (default: start Ray here)")
    p.add_argument("--workers", type=int, default=1, help="local engine: runs at once (default: 1)")
    p.add_argument("--gpus-per-run", type=float, default=1, help="ray engine: GPUs each run holds, if any (default: 1)")
    p.set_defaults(run=_sweep)


def _add_space(commands) -> None:
    p = commands.add_parser(
        "space",
        help="write the leaderboard as a Hugging Face Space folder",
        description="Write a ready Gradio Space: app.py, pinned requirements, README metadata, the package and data.",
    )
    p.add_argument("folder", help="Space folder to create (empty or new)")
    p.add_argument("--data", required=True, help="dataset folder (copied in) or Hub repo id it scores against")
    p.add_argument("--baselines", default=None, help="runs folder of `elsewhere train` to seed the board with")
    p.add_argument("--results-repo", default=None, help="ORG/NAME of the results dataset to export to and restore from")
    p.add_argument("--title", default="elsewhere leaderboard")
    p.set_defaults(run=_space)


PARSERS = [
    _add_generate,
    _add_protocols,
    _add_publish,
    _add_score,
    _add_evaluate,
    _add_train,
    _add_report,
    _add_compare,
    _add_submit,
    _add_leaderboard,
    _add_export,
    _add_space,
    _add_round,
    _add_sweep,
]


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line, like every other error of the command."""

    def error(self, message: str):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="elsewhere", description="Can your network recognise it elsewhere?")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_package_version()}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for add in PARSERS:
        add(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        # Choices such as the architectures are read from modules that need the torch extra.
        with optional_dependencies():
            args = build_parser().parse_args(argv)
    except ElsewhereError as error:
        print(f"elsewhere: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    try:
        with optional_dependencies():
            status = args.run(args)
        sys.stdout.flush()
    except KeyboardInterrupt:
        print("elsewhere: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader stopped early (`elsewhere protocols | head`): end quietly, as a SIGPIPE would,
        # and keep Python from failing again on flushing stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except (ElsewhereError, OSError) as error:
        if os.environ.get("ELSEWHERE_DEBUG"):
            raise
        message = " ".join(str(error).split()) or type(error).__name__
        print(f"elsewhere {args.command}: error: {message}", file=sys.stderr)
        return EXIT_USAGE
    return int(status or 0)


if __name__ == "__main__":
    sys.exit(main())
