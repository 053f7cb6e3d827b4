"""The ``tfdl`` command. Thin: parses, then calls the library. TensorFlow is imported only by the
commands that need it, so ``tfdl --help`` and ``tfdl apps`` answer fast.

Exit codes: 0 success; 2 a user error (one line naming the fix); 1 a bug (traceback).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from tfdl.errors import TfdlError

_STARTED = time.perf_counter()  # `tfdl train` ends with "done in XmYs" measured from here

cli = typer.Typer(
    name="tfdl",
    help="tfdl: train, evaluate, explain, tune, export and serve Keras models on your own data.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
models_cli = typer.Typer(help="List or remove exported SavedModel versions.", no_args_is_help=False)
cli.add_typer(models_cli, name="models")

AppArg = Annotated[str, typer.Argument(help="vision | text | tabular | timeseries | anomaly")]
RunOpt = Annotated[str, typer.Option("--run", help="run id, run folder or 'latest'")]
SetOpt = Annotated[list[str] | None, typer.Option("--set", help="override a config key: key.sub=value")]
ConfigOpt = Annotated[Path | None, typer.Option("--config", help="YAML run configuration")]
RunsDirOpt = Annotated[
    Path | None, typer.Option("--runs-dir", help="the runs folder (default: runs, or the config's runs_dir)")
]


def _runs_dir(runs_dir: Path | None) -> Path:
    from tfdl.runs import DEFAULT_RUNS_DIR

    return runs_dir if runs_dir is not None else Path(DEFAULT_RUNS_DIR)


def _runs_set(runs_dir: Path | None) -> list[str]:
    """--runs-dir as a config setting (a --set runs_dir=... given too still wins, like --data)."""
    return [f"runs_dir={runs_dir}"] if runs_dir is not None else []


def _quiet_tf() -> None:
    """Import TensorFlow with its C++ start-up chatter hidden (fd 2 redirected during the import)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if "tensorflow" in sys.modules:
        return
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import tensorflow  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(devnull)
        os.close(saved)


def _print_paths(paths) -> None:
    typer.echo("wrote:")
    for p in paths:
        typer.echo(f"  {p}")


def _config(app, config: Path | None, sets: list[str] | None, extra: list[str] | None = None):
    from tfdl import config as cfgmod
    from tfdl.pipeline import resolve_config

    raw = cfgmod.load_yaml(config) if config else {}
    return resolve_config(app, raw, [*(extra or []), *(sets or [])])


@cli.command("apps")
def apps_cmd() -> None:
    """List apps, their default data sets and models (does not import TensorFlow)."""
    from tfdl.app import available_apps, get_app

    for name in available_apps():
        app = get_app(name)
        models = ", ".join(f"{m}*" if m == app.default_model else m for m in app.models)
        typer.echo(f"{name:<11} {app.task:<15} {app.summary}")
        typer.echo(f"{'':<11} data: {app.default_data}")
        typer.echo(f"{'':<11} models: {models}   (* = default)")


@cli.command("train")
def train_cmd(
    app_name: AppArg,
    data: Annotated[str | None, typer.Option("--data", help="your data: a folder or a file")] = None,
    model: Annotated[str | None, typer.Option("--model", help="model name (see tfdl apps)")] = None,
    epochs: Annotated[int | None, typer.Option("--epochs", help="maximum epochs")] = None,
    config: ConfigOpt = None,
    sets: SetOpt = None,
    runs_dir: RunsDirOpt = None,
    no_export: Annotated[
        bool, typer.Option("--no-export", help="do not export a SavedModel version")
    ] = False,
) -> None:
    """Train, evaluate against the baseline, write the report and export a SavedModel version."""
    from tfdl.app import get_app

    app = get_app(app_name)
    if epochs is not None and epochs < 1:
        raise TfdlError(f"--epochs must be at least 1; got {epochs}")
    extra = [f"data.path={data}"] if data else []
    extra += [f"model.name={model}"] if model else []
    extra += [f"train.epochs={epochs}"] if epochs is not None else []
    cfg = _config(app, config, sets, [*extra, *_runs_set(runs_dir)])
    _quiet_tf()
    from tfdl.pipeline import train

    result = train(app, cfg, export=not no_export)
    m = result.metrics
    cmp = m.get("comparison", {})
    typer.echo(f"test: {json.dumps({k: v for k, v in m['test'].items() if not isinstance(v, (dict, list))})}")
    if cmp.get("sentence"):
        typer.echo(cmp["sentence"])
    _print_paths(result.files)
    typer.echo(f"done in {elapsed(time.perf_counter() - _STARTED)}")


def elapsed(seconds: float) -> str:
    """``252.4`` -> ``"4m12s"``."""
    m, s = divmod(int(round(seconds)), 60)
    return f"{m}m{s:02d}s"


@cli.command("cv")
def cv_cmd(
    app_name: AppArg,
    folds: Annotated[int, typer.Option("--folds", help="number of folds (every example is tested once)")] = 5,
    data: Annotated[str | None, typer.Option("--data", help="your data: a folder or a file")] = None,
    model: Annotated[str | None, typer.Option("--model", help="model name (see tfdl apps)")] = None,
    metric: Annotated[str | None, typer.Option("--metric", help="metric to compare (default: headline)")] = (
        None
    ),
    config: ConfigOpt = None,
    sets: SetOpt = None,
    runs_dir: RunsDirOpt = None,
) -> None:
    """K-fold cross-validation: the model and every baseline on the same folds, mean +/- sd and the
    paired difference. Honest when one test split is too small to call a winner."""
    from tfdl import config as cfgmod
    from tfdl.app import get_app

    app = get_app(app_name)
    extra = [f"data.path={data}"] if data else []
    extra += [f"model.name={model}"] if model else []
    raw = cfgmod.load_yaml(config) if config else {}
    _quiet_tf()
    from tfdl.cv import cross_validate

    result = cross_validate(
        app, raw, [*extra, *_runs_set(runs_dir), *(sets or [])], folds=folds, metric=metric
    )
    typer.echo("\n".join(result.table()))
    typer.echo(result.verdict())
    _print_paths([result.summary_dir])


@cli.command("evaluate")
def evaluate_cmd(
    app_name: AppArg,
    run: RunOpt = "latest",
    model_dir: Annotated[
        Path | None, typer.Option("--model", help="an exported version saved_models/NAME/VERSION")
    ] = None,
    data: Annotated[str | None, typer.Option("--data", help="new labelled data (file or folder)")] = None,
    sets: SetOpt = None,
    runs_dir: RunsDirOpt = None,
) -> None:
    """Re-evaluate a finished run on its test split and rewrite its report; or, with --model and --data,
    score an exported version on new labelled data beside its model card and say if it dropped."""
    from tfdl.app import get_app
    from tfdl.runs import resolve_run

    app = get_app(app_name)
    if (model_dir is None) != (data is None):
        raise TfdlError("new-data evaluation needs both --model saved_models/NAME/VERSION and --data PATH")
    if model_dir is not None:
        _quiet_tf()
        from tfdl.evaluation.new_data import evaluate_new_data

        rec = evaluate_new_data(app, model_dir, data, [*_runs_set(runs_dir), *(sets or [])])
        typer.echo(json.dumps(rec["metrics"], default=str))
        typer.echo(rec["verdict"])
        _print_paths([rec["path"]])
        return
    run_dir = resolve_run(_runs_dir(runs_dir), app.name, run)
    _quiet_tf()
    from tfdl.pipeline import evaluate_run

    result = evaluate_run(app, run_dir)
    typer.echo(json.dumps(result.metrics["test"], default=str))
    _print_paths(result.files)


@cli.command("export")
def export_cmd(
    app_name: AppArg,
    run: RunOpt = "latest",
    fmt: Annotated[str, typer.Option("--format", help="savedmodel | tflite | onnx")] = "savedmodel",
    quantize: Annotated[str, typer.Option("--quantize", help="none|dynamic|float16|int8|all")] = "none",
    int8_io: Annotated[bool, typer.Option("--int8-io", help="integer inputs/outputs (int8 only)")] = False,
    runs_dir: RunsDirOpt = None,
) -> None:
    """Export a finished run as a new SavedModel version, as TFLite files or as an ONNX file."""
    from tfdl.app import get_app
    from tfdl.export.runner import FORMATS
    from tfdl.runs import resolve_run

    if fmt not in FORMATS:
        raise TfdlError(f"--format must be one of {', '.join(FORMATS)}; got '{fmt}'")
    app = get_app(app_name)
    run_dir = resolve_run(_runs_dir(runs_dir), app.name, run)
    _quiet_tf()
    from tfdl.export import runner

    paths = runner.export(app, run_dir, fmt=fmt, quantize=quantize, int8_io=int8_io)
    _print_paths(paths)


@cli.command("predict")
def predict_cmd(
    app_name: AppArg,
    input_path: Annotated[Path, typer.Option("--input", help="image(s), CSV rows, text lines or a window")],
    model_dir: Annotated[
        Path | None, typer.Option("--model", help="saved_models/NAME/VERSION (default: newest version)")
    ] = None,
    run: Annotated[str | None, typer.Option("--run", help="run id or 'latest' (its version)")] = None,
    model_root: Annotated[Path, typer.Option("--model-root")] = Path("saved_models"),
    runs_dir: RunsDirOpt = None,
) -> None:
    """Predict with an exported SavedModel version; prints one JSON answer per input."""
    from tfdl.app import get_app

    app = get_app(app_name)
    if run and model_dir:
        raise TfdlError("give either --run or --model, not both")
    version_dir = model_dir
    if run:
        from tfdl.export.tflite import find_run_version
        from tfdl.runs import resolve_run

        run_dir = resolve_run(_runs_dir(runs_dir), app.name, run)
        version_dir = find_run_version(model_root, app.name, run_dir.name)
        if version_dir is None:
            raise TfdlError(
                f"run {run_dir.name} has no exported version under {model_root}; "
                f"export it first: tfdl export {app.name} --run {run_dir.name}"
            )
    _quiet_tf()
    from tfdl.export.load import load_version, resolve_version

    version_dir = version_dir or resolve_version(model_root, app.name)
    served = load_version(version_dir)
    if app.codec is None:
        raise TfdlError(f"app {app.name} has no input reader for predict yet")
    x, context = app.codec.read(input_path, served.meta)
    out = served.predict(x)
    for row in out:
        typer.echo(json.dumps(app.codec.describe(row, served.meta, context), default=float))


@cli.command("explain")
def explain_cmd(
    app_name: AppArg,
    method: Annotated[str, typer.Option("--method", help="explainer name (per app)")],
    run: RunOpt = "latest",
    input_path: Annotated[
        str | None, typer.Option("--input", help="a file, or text for the text app")
    ] = None,
    target: Annotated[
        str | None, typer.Option("--class", help="explain this class instead of the predicted")
    ] = None,
    runs_dir: RunsDirOpt = None,
) -> None:
    """Explain a trained model's predictions (Grad-CAM, attention, SHAP, permutation importance...)."""
    from tfdl.app import get_app
    from tfdl.runs import resolve_run

    app = get_app(app_name)
    if method not in app.explainers:
        raise TfdlError(
            f"unknown method '{method}' for {app.name}; "
            f"choose one of: {', '.join(app.explainers) or '(none yet)'}"
        )
    run_dir = resolve_run(_runs_dir(runs_dir), app.name, run)
    _quiet_tf()
    from tfdl.pipeline import load_run

    cfg, model = load_run(app, run_dir)
    paths = app.explainers[method](model, cfg, run_dir, input_path=input_path, target=target)
    _print_paths(paths)


@cli.command("tune")
def tune_cmd(
    app_name: AppArg,
    tuner: Annotated[str, typer.Option("--tuner", help="random | hyperband | bayesian")] = "hyperband",
    max_trials: Annotated[int, typer.Option("--max-trials")] = 10,
    max_epochs: Annotated[int | None, typer.Option("--max-epochs")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="continue the last search of this app")] = False,
    retrain_best: Annotated[
        bool, typer.Option("--retrain-best", help="retrain the best on train+val, export")
    ] = False,
    distributed: Annotated[str | None, typer.Option("--distributed", help="chief | worker")] = None,
    oracle: Annotated[str | None, typer.Option("--oracle", help="HOST:PORT of the chief's oracle")] = None,
    directory: Annotated[
        Path | None, typer.Option("--directory", help="search folder (shared by workers)")
    ] = None,
    config: ConfigOpt = None,
    sets: SetOpt = None,
    runs_dir: RunsDirOpt = None,
) -> None:
    """Keras Tuner search over the app's model search space."""
    from tfdl.app import get_app

    app = get_app(app_name)
    cfg = _config(app, config, sets, _runs_set(runs_dir))
    _quiet_tf()
    from tfdl.tuning.runner import tune

    paths = tune(
        app,
        cfg,
        tuner=tuner,
        max_trials=max_trials,
        max_epochs=max_epochs,
        resume=resume,
        retrain_best=retrain_best,
        distributed=distributed,
        oracle=oracle,
        directory=directory,
    )
    _print_paths(paths)


@cli.command("runs")
def runs_cmd(
    args: Annotated[
        list[str] | None, typer.Argument(help="[APP] to list runs, or: diff RUN_A RUN_B", show_default=False)
    ] = None,
    runs_dir: RunsDirOpt = None,
) -> None:
    """List finished runs (model, data fingerprint, headline metric, best baseline, seconds), or
    `tfdl runs diff A B`: what changed in config and metrics between two runs. No TensorFlow, no MLflow."""
    from tfdl.runs import diff_lines, diff_runs, find_run, list_runs, runs_table

    runs_dir = _runs_dir(runs_dir)
    args = args or []
    if args and args[0] == "diff":
        if len(args) != 3:
            raise TfdlError("usage: tfdl runs diff RUN_A RUN_B (run ids from `tfdl runs`, or run folders)")
        typer.echo("\n".join(diff_lines(diff_runs(find_run(runs_dir, args[1]), find_run(runs_dir, args[2])))))
        return
    if len(args) > 1:
        raise TfdlError("usage: tfdl runs [APP] | tfdl runs diff RUN_A RUN_B")
    app = args[0] if args else None
    if app is not None:
        from tfdl.app import get_app

        get_app(app)  # an unknown app name is a one-line error naming the apps
    rows = list_runs(runs_dir, app)
    if not rows:
        typer.echo(f"no finished runs under {runs_dir / app if app else runs_dir}")
        return
    typer.echo("\n".join(runs_table(rows)))


@cli.command("serve")
def serve_cmd(
    model_root: Annotated[Path, typer.Option("--model-root")] = Path("saved_models"),
    host: Annotated[
        str, typer.Option("--host", help="0.0.0.0 exposes the server: an explicit choice")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port")] = 8501,
    max_batch: Annotated[int, typer.Option("--max-batch", help="micro-batch size limit")] = 32,
    batch_wait_ms: Annotated[
        float, typer.Option("--batch-wait-ms", help="longest wait to fill a batch (adapts to load)")
    ] = 5.0,
    backend: Annotated[
        str, typer.Option("--backend", help="savedmodel | tflite (checked .tflite files where exported)")
    ] = "savedmodel",
    grpc_port: Annotated[
        int | None, typer.Option("--grpc-port", help="also serve TF Serving's gRPC API on this port (8500)")
    ] = None,
    workers: Annotated[int, typer.Option("--workers", help="server processes behind the one port")] = 1,
    log_requests: Annotated[
        Path | None,
        typer.Option("--log-requests", help="keep a summarised sample of requests here (for tfdl monitor)"),
    ] = None,
    log_max_mb: Annotated[
        float, typer.Option("--log-max-mb", help="size cap of the request log folder (rotated files)")
    ] = 50.0,
) -> None:
    """Serve every model under --model-root with TensorFlow Serving's REST API (and gRPC API)."""
    _quiet_tf()
    from tfdl.serving.server import serve

    serve(
        model_root=model_root,
        host=host,
        port=port,
        max_batch=max_batch,
        batch_wait_ms=batch_wait_ms,
        backend=backend,
        grpc_port=grpc_port,
        workers=workers,
        log_requests=log_requests,
        log_max_mb=log_max_mb,
    )


@cli.command("monitor")
def monitor_cmd(
    requests: Annotated[Path, typer.Option("--requests", help="the folder given to serve --log-requests")],
    model_root: Annotated[Path, typer.Option("--model-root")] = Path("saved_models"),
    out: Annotated[Path, typer.Option("--out", help="where the report goes")] = Path("reports/monitor"),
    model: Annotated[str | None, typer.Option("--model", help="only this model")] = None,
    fail_on_drift: Annotated[
        bool, typer.Option("--fail-on-drift", help="exit 3 when a model drifted (for cron / CI alerts)")
    ] = False,
) -> None:
    """Compare logged requests with each version's reference profile; write a drift report with plots."""
    from tfdl.monitoring.monitor import monitor, summary_line

    results, report = monitor(model_root, requests, out, model)
    for r in results:
        typer.echo(summary_line(r))
    typer.echo(f"report: {report}")
    if fail_on_drift and any(r.alarm for r in results):
        raise typer.Exit(3)


@cli.command("bench", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def bench_cmd(
    ctx: typer.Context,
    what: Annotated[str | None, typer.Argument(help="a benchmark of benchmarks/; none: list them")] = None,
) -> None:
    """Run a benchmark script of benchmarks/ (more arguments go on to it); results are appended to
    BENCHMARKS.md with the machine they ran on. Without WHAT, list the benchmarks."""
    from tfdl.bench import benchmarks, run

    if what is None:
        for name, (path, summary) in benchmarks().items():
            typer.echo(f"{name:<16} {summary}  ({path.name})")
        return
    rc = run(what, ctx.args)
    if rc:
        raise typer.Exit(rc)


# --- tfdl study (issue 16) -------------------------------------------------------------------------------
@cli.command("study")
def study_cmd(
    name: Annotated[str, typer.Argument(help="a study name, or 'list' (see `tfdl study list`)")],
    app_name: Annotated[str | None, typer.Option("--app", help="app (default: the study's first)")] = None,
    data: Annotated[str | None, typer.Option("--data", help="your data: a folder or a file")] = None,
    budget: Annotated[
        float | None, typer.Option("--budget", help="seconds for all the variants (default: the study's)")
    ] = None,
    sets: SetOpt = None,
    runs_dir: Annotated[Path, typer.Option("--runs-dir", help="writes RUNS_DIR/studies/")] = Path("runs"),
    variants: Annotated[
        list[str] | None,
        typer.Option("--variant", help="run only this variant (its name or slug; repeat for more)"),
    ] = None,
) -> None:
    """Run a lesson's experiment: seeded variants on one split, overlaid figures, a table and a reading in
    runs/studies/NAME-TIME/ (study.md, *.png, study.json). A killed study resumes when run again."""
    from tfdl.studies.catalog import list_lines

    if name == "list":
        typer.echo("\n".join(list_lines()))
        return
    from tfdl.studies.runner import plan

    plan(name, app_name, data, budget, sets, variants)  # user errors before TensorFlow is imported
    _quiet_tf()
    from tfdl.studies.runner import run_study

    result = run_study(
        name, app_name=app_name, data=data, budget=budget, sets=sets, runs_dir=runs_dir, variants=variants
    )
    typer.echo(result.reading)
    _print_paths(result.files)
    typer.echo(f"done in {elapsed(time.perf_counter() - _STARTED)}")


# --- end tfdl study --------------------------------------------------------------------------------------


@models_cli.callback(invoke_without_command=True)
def models_list(
    ctx: typer.Context, model_root: Annotated[Path, typer.Option("--model-root")] = Path("saved_models")
) -> None:
    """List exported models: name, version, date, headline metric."""
    if ctx.invoked_subcommand:
        return
    from tfdl.export.registry import list_models

    rows = list_models(model_root)
    if not rows:
        typer.echo(f"no exported models under {model_root}")
    for r in rows:
        typer.echo(
            f"{r['name']:<14} v{r['version']:<4} {r['created_at']:<21} {r['model']:<12} {r['headline']}"
        )


@models_cli.command("rm")
def models_rm(
    name: str, version: int, model_root: Annotated[Path, typer.Option("--model-root")] = Path("saved_models")
) -> None:
    """Remove one exported version."""
    from tfdl.export.registry import remove_version

    typer.echo(f"removed {remove_version(model_root, name, version)}")


def main(argv: list[str] | None = None) -> int:
    """Entry point: TfdlError -> one line on stderr and exit code 2; other exceptions stay tracebacks."""
    try:
        rc = cli(args=argv, standalone_mode=False)  # a typer.Exit(code) comes back as the return value
    except TfdlError as err:
        typer.echo(f"error: {err}", err=True)
        return err.exit_code
    except typer.Exit as e:
        return e.exit_code
    except typer.Abort:
        typer.echo("aborted", err=True)
        return 130
    except Exception as exc:  # usage errors (bad option, missing argument) are user errors
        kinds = {c.__name__ for c in type(exc).__mro__}
        if "UsageError" in kinds:
            cmd = exc.ctx.command_path if getattr(exc, "ctx", None) else "tfdl"
            typer.echo(f"error: {exc.format_message()} (see `{cmd} --help`)", err=True)
            return 2
        if "ClickException" in kinds:
            exc.show()
            return exc.exit_code
        raise
    return rc if isinstance(rc, int) else 0


if __name__ == "__main__":
    sys.exit(main())
