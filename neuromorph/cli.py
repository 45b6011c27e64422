"""Command line: ``neuromorph train CARD --out RUN.h5 [--profile NAME]``,
``neuromorph train RUN.h5 --continue --iterations N`` (N: the new total), ``neuromorph plot RUN.h5``,
``neuromorph profiles [--rules]``, ``neuromorph check CARD --profile NAME``,
``neuromorph export RUN.h5 --nir NET.nir [--chip-image IMAGE.h5]`` and
``neuromorph theory compare CARD --out THEORY.h5``,
``neuromorph sweep SWEEP.toml --out DIR [--scheduler tcp://HOST:PORT]``, ``neuromorph sweep-report DIR``,
``neuromorph bias STUDY.toml --out DIR`` and ``neuromorph --version``.

Every command that reads a card takes ``--set KEY=VALUE`` (repeatable). Any :class:`NeuromorphError`
(and any OS error) becomes one line on stderr and exit code 1, never a traceback; usage errors
(an unknown option, a malformed ``--set``) exit 2 with the subcommand's own usage. Ctrl-C exits 130 and leaves a
resumable file: running the same command again resumes.
"""

from __future__ import annotations

import argparse
import sys
import tomllib
from pathlib import Path

from neuromorph import __version__
from neuromorph.backends.registry import BACKENDS
from neuromorph.errors import ConfigError, NeuromorphError


def _parse_set(items: list[str]) -> dict[str, object]:
    overrides: dict[str, object] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set expects KEY=VALUE (e.g. train.iterations=10), got {item!r}")
        try:
            overrides[key] = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            overrides[key] = raw
    return overrides


def _train(args: argparse.Namespace) -> int:
    from neuromorph.config import load_card
    from neuromorph.experiment import train

    if args.continue_run:
        return _continue(args)
    if args.out is None:
        raise ConfigError("train needs --out RUN.h5 (or --continue to continue the run file given)")
    overrides = _card_overrides(args)
    if args.iterations is not None:
        overrides["train.iterations"] = args.iterations
    if args.seed is not None:
        overrides["train.seed"] = args.seed
    spec = load_card(args.card, overrides)
    if spec.hardware is not None:
        from neuromorph.hardware.setup import check_run

        print(check_run(spec).format())  # train() rejects at setup with the first problem as one line
    result = train(spec, out=args.out, progress=not args.no_progress, force=args.force, backend=args.backend,
                   target=_target(args))
    loss = result.curves["loss"]
    note = f" (resumed at iteration {result.resumed_from})" if result.resumed_from else ""
    if result.writer:  # under mpirun, rank 0 speaks for all
        print(f"{args.out}: {result.iterations} iterations{note}, loss {loss[0]:.4g} -> {loss[-1]:.4g}")
    return 0


def _continue(args: argparse.Namespace) -> int:
    """``neuromorph train RUN.h5 --continue --iterations N``: N is the new total of iterations."""
    from neuromorph.config import apply_overrides, resolve
    from neuromorph.experiment import train
    from neuromorph.storage import read_run
    from neuromorph.storage.checkpoint import stored_card

    if args.iterations is None:
        raise ConfigError("--continue needs --iterations N: the new total of iterations (at least those the run "
                          "holds)")
    run_file = args.card
    card = stored_card(read_run(run_file), run_file)  # a missing, corrupt or foreign file: one line
    overrides = {**_card_overrides(args), "train.iterations": args.iterations}
    if args.seed is not None:
        overrides["train.seed"] = args.seed
    spec = resolve(apply_overrides(card, overrides, str(run_file)), str(run_file))
    out = args.out if args.out is not None else run_file
    result = train(spec, out=out, resume=run_file, progress=not args.no_progress, force=args.force,
                   backend=args.backend, target=_target(args))
    loss = result.curves["loss"]
    if result.writer:  # under mpirun, rank 0 speaks for all
        print(f"{out}: {result.iterations} iterations (continued from iteration {result.resumed_from}), "
              f"loss {loss[0]:.4g} -> {loss[-1]:.4g}")
    return 0


def _verdict(passed: bool, failure: str) -> int:
    """A verification's exit code; a failed one says so in one line on stderr (like a rejected check)."""
    if passed:
        return 0
    print(f"neuromorph: error: {failure}", file=sys.stderr)
    return EXIT_ERROR


def _card_overrides(args: argparse.Namespace) -> dict[str, object]:
    overrides = _parse_set(args.set)
    if getattr(args, "profile", None) is not None:
        overrides["hardware.profile"] = args.profile
    if getattr(args, "mode", None) is not None:
        overrides["hardware.mode"] = args.mode
    return overrides


def _profiles(args: argparse.Namespace) -> int:
    from neuromorph.hardware.table import profiles_table, rule_profile_markdown

    print(profiles_table())
    if args.rules:
        from neuromorph.config import load_card

        print()
        print(rule_profile_markdown(load_card, str(args.root)))
    return 0


def _check(args: argparse.Namespace) -> int:
    from neuromorph.config import load_card
    from neuromorph.hardware.setup import check_run

    report = check_run(load_card(args.card, _card_overrides(args)))
    print(report.format())
    if not report.ok:
        print(f"neuromorph: error: {report.rejections[0].message}", file=sys.stderr)
        return 1
    return 0


def _plot(args: argparse.Namespace) -> int:
    from neuromorph.plots import plot_run

    for path in plot_run(args.run):
        print(path)
    return 0


def _export(args: argparse.Namespace) -> int:
    from neuromorph.cli_export import export_command

    return export_command(args)


def _theory_compare(args: argparse.Namespace) -> int:
    from neuromorph.theory_compare.card import load_compare_card
    from neuromorph.theory_compare.run import format_table, run_compare

    result = run_compare(load_compare_card(args.card, _parse_set(args.set)), args.out, progress=not args.no_progress)
    print(format_table(result))
    print(f"wrote {args.out}")
    return _verdict(result.passed, "some checks of the comparison fail (the table above)")


def _sweep(args: argparse.Namespace) -> int:
    from neuromorph.sweep import run_sweep

    results = run_sweep(args.sweep, args.out, scheduler=args.scheduler, n_workers=args.workers, serial=args.serial,
                        progress=not args.no_progress, force=args.force, overrides=_parse_set(args.set))
    skipped = sum(1 for r in results.values() if r.get("skipped"))
    print(f"{args.out}: {len(results)} runs ({skipped} already done), {len(results.failed)} failed")
    if results.failed:  # one line; each run's error and traceback are in its record
        first = results.failed[0]
        print(f"neuromorph: error: {len(results.failed)} of {len(results)} runs failed: {', '.join(results.failed)} "
              f"(first: {_one_line(results[first].get('error'))}; records: {args.out / 'runs'}/ID.json)",
              file=sys.stderr)
        return EXIT_ERROR
    return 0


def _sweep_report(args: argparse.Namespace) -> int:
    from neuromorph.sweep import sweep_report

    for path in sweep_report(args.dir):
        print(path)
    return 0


def _bias(args: argparse.Namespace) -> int:
    from neuromorph.bias.run import run_study
    from neuromorph.bias.study import load_study

    study = load_study(args.card, _parse_set(args.set))
    result = run_study(study, args.out, progress=not args.no_progress, force=args.force)
    print(result.table)
    for path in [result.path, *result.figures]:
        print(f"wrote {path}")
    return 0


def _contrastive_train(args: argparse.Namespace) -> int:
    from neuromorph.contrastive.card import load_contrastive_card
    from neuromorph.contrastive.run import format_table, run_contrastive

    card = load_contrastive_card(args.card, _parse_set(args.set))
    result = run_contrastive(card, args.out, progress=not args.no_progress,
                             backend=args.backend, target=_target(args), force=args.force)
    print(format_table(result))
    for path in [result.out, *result.figures]:
        print(f"wrote {path}")
    return _verdict(result.passed, "a local scheme is not within the card's tolerance of classical (the table above)")


def _contrastive_kappa(args: argparse.Namespace) -> int:
    from neuromorph.contrastive.run import format_kappa, run_kappa

    run = run_kappa(args.out, runs=args.runs, t_run=args.t_run, seed=args.seed, progress=not args.no_progress)
    print(format_kappa(run))
    for path in [run.out, *run.figures]:
        print(f"wrote {path}")
    return _verdict(run.passed, "a measured kappa is not within tolerance of its prediction (the table above)")


def _contrastive_check(args: argparse.Namespace) -> int:
    from neuromorph.contrastive.card import load_contrastive_card
    from neuromorph.contrastive.check import check_profile

    report = check_profile(load_contrastive_card(args.card, _parse_set(args.set)), args.profile,
                           classical=args.classical)
    print(report.format())
    if not report.ok:
        print(f"neuromorph: error: {report.rejections[0].message}", file=sys.stderr)
        return 1
    return 0


#: a model card argument: a path, or a shipped card's name (neuromorph.data.find_file)
CARD_HELP = "model card: a TOML file, or a shipped card's name (models/eprop_sine.toml, eprop_sine)"


DESCRIPTION = """\
Train spiking and rate networks with local learning rules (e-prop, RFLO, BPTT, bias-only, temporally
local contrastive learning), check and train them under a neuromorphic chip's arithmetic and locality,
export them (NIR, chip images, Loihi rule strings) and compare local learning with its analytic theory.
Every command that reads a card takes --set KEY=VALUE overrides. Exit codes: 0 success, 1 an error
(one line on stderr) or a rejected check, 2 a usage error, 130 interrupted (run it again to resume)."""

EPILOG = """\
commands (`neuromorph COMMAND --help` for each one's options):
  train          neuromorph train models/eprop_sine.toml --out runs/sine.h5 --set train.iterations=100
  plot           neuromorph plot runs/sine.h5
  profiles       neuromorph profiles --rules
  check          neuromorph check models/eprop_sine_chip.toml --profile loihi2
  export         neuromorph export runs/l2.h5 --nir runs/l2.nir --chip-image runs/l2_image.h5
  bias           neuromorph bias models/bias_vdp.toml --out runs/bias_vdp
  theory         neuromorph theory compare models/linear_teacher.toml --out runs/theory.h5
  sweep          neuromorph sweep sweeps/gain_smoke.toml --out runs/gain_smoke --set sweep.iterations=20
  sweep-report   neuromorph sweep-report runs/gain_smoke
  contrastive    neuromorph contrastive train models/cl_xor.toml --out runs/cl_xor.h5
                 neuromorph contrastive check models/cl_xor.toml --profile brainscales2

A card is a TOML file or a shipped card's name (eprop_sine); docs/cards.md describes every key."""

#: ``--set``'s help (every command that reads a card)
SET_HELP = "override any card key (repeatable; VALUE is TOML: 10, 0.5, \"sgd\", [\"bias\"])"


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose subcommands report their own unknown options (with their own usage, exit 2),
    instead of leaving them to the top-level parser, which would print the top-level usage."""

    def parse_known_args(self, args=None, namespace=None):
        namespace, extras = super().parse_known_args(args, namespace)
        if extras and self._subparsers is None and self.prog != "neuromorph":  # a leaf subcommand
            self.error(f"unrecognized arguments: {' '.join(extras)}")
        return namespace, extras


def _set_item(item: str) -> str:
    """argparse's check of one ``--set`` (a malformed one is a usage error, exit 2; a bad value, exit 1)."""
    key, sep, _ = item.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE (e.g. train.iterations=10), got {item!r}")
    return item


def _set_option(p: argparse.ArgumentParser, help: str = SET_HELP) -> None:
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", type=_set_item, help=help)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="neuromorph", description=DESCRIPTION, epilog=EPILOG,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("train", help="train a model card and write one HDF5 run file (or continue a run file)")
    p.add_argument("card", type=Path, help=CARD_HELP + "; with --continue: the run file to continue")
    p.add_argument("--out", type=Path, help="output HDF5 file, e.g. runs/sine.h5 (with --continue: default the run "
                   "file itself)")
    p.add_argument("--continue", dest="continue_run", action="store_true",
                   help="continue the run file CARD (finished or interrupted) to --iterations N in total, with its "
                        "optimiser, generators and curves; the card may change in train.iterations only")
    p.add_argument("--iterations", type=int, help="override train.iterations (with --continue: the new total)")
    p.add_argument("--seed", type=int, help="override train.seed")
    _set_option(p)
    p.add_argument("--profile", help="train under a hardware profile (id or .toml path; see `neuromorph profiles`)")
    p.add_argument("--mode", choices=("on_chip", "offline"), help="with --profile: learn on chip (default) or "
                   "train on the host and deploy quantised")
    p.add_argument("--force", action="store_true", help="overwrite an output file of another card")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    _backend_options(p)
    p.set_defaults(func=_train)
    p = sub.add_parser("profiles", help="list the hardware profiles and their key limits")
    p.add_argument("--rules", action="store_true", help="also the rule x profile table of docs/hardware.md "
                   "(Markdown; reads the cards in models/)")
    p.add_argument("--root", type=Path, default=Path("."), help="with --rules: the directory holding models/ "
                   "(default: the working directory; the shipped cards where it has none)")
    p.set_defaults(func=_profiles)
    p = sub.add_parser("check", help="what a profile quantises and rejects for a model card (exit 1 on a rejection)")
    p.add_argument("card", type=Path, help=CARD_HELP)
    p.add_argument("--profile", required=True, help="profile id or .toml path (see `neuromorph profiles`)")
    p.add_argument("--mode", choices=("on_chip", "offline"), help="on_chip (default): learning runs on the chip")
    _set_option(p)
    p.set_defaults(func=_check)
    p = sub.add_parser("plot", help="write PNG figures next to a run file")
    p.add_argument("run", type=Path, help="a run file written by `neuromorph train`")
    p.set_defaults(func=_plot)
    p = sub.add_parser("export", help="write a trained run as a NIR graph and/or a quantised chip image (HDF5)")
    p.add_argument("run", type=Path, help="a run file written by `neuromorph train`")
    p.add_argument("--nir", type=Path, metavar="NET.nir", help="write the network as a NIR graph (LIF networks)")
    p.add_argument("--chip-image", type=Path, metavar="IMAGE.h5",
                   help="write integer weights, exponents and formats (runs trained with --profile)")
    p.add_argument("--brian2-loihi", type=Path, metavar="DIR",
                   help="write DIR/run.py + DIR/network.npz: the network in the brian2-loihi Loihi-1 emulator "
                        "(runs trained with --profile loihi1)")
    p.add_argument("--loihi2-rules", type=Path, metavar="RULES.txt",
                   help="write the run's learning rule as Loihi sum-of-products strings (on-chip e-prop runs)")
    p.set_defaults(func=_export)
    p = sub.add_parser("bias", help="a bias-learning study (multitask digits, gain sweep, Lorenz): runs, summary, figures")
    p.add_argument("card", type=Path, help="study card with a [bias_study] table, e.g. models/bias_vdp.toml")
    p.add_argument("--out", type=Path, required=True, help="output directory (runs/, summary.h5, PNG figures)")
    _set_option(p)
    p.add_argument("--force", action="store_true", help="retrain runs whose files hold another card")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(func=_bias)
    theory = sub.add_parser("theory", help="the analytic theory of local learning in linear RNNs")
    tsub = theory.add_subparsers(dest="theory_command", required=True)
    p = tsub.add_parser("compare", help="discrete learning beside the per-mode ODEs: table, HDF5 and figures")
    p.add_argument("card", type=Path, help="comparison card (TOML), e.g. models/linear_teacher.toml")
    p.add_argument("--out", type=Path, required=True, help="output HDF5 file; figures go next to it")
    _set_option(p)
    p.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    p.set_defaults(func=_theory_compare)
    p = sub.add_parser("sweep", help="run a grid of training runs (gain x lr x seed x rule) on dask.distributed")
    p.add_argument("sweep", type=Path, help="sweep file (TOML), e.g. sweeps/gain_smoke.toml")
    p.add_argument("--out", type=Path, required=True, help="output directory: one HDF5 + JSON per run")
    p.add_argument("--scheduler", help="address of a running dask scheduler (tcp://HOST:PORT); "
                   "default: a LocalCluster on this machine")
    p.add_argument("--workers", type=int, help="LocalCluster worker processes (default: CPU count)")
    p.add_argument("--serial", action="store_true", help="run in this process, without dask")
    _set_option(p, help="sweep.KEY edits the sweep file (sweep.iterations=20, sweep.grid.seed=[0]); any other key "
                        "is set in every run's card, last (network.n_rec=16)")
    p.add_argument("--force", action="store_true", help="reuse a directory of another sweep file (redo changed runs)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(func=_sweep)
    p = sub.add_parser("sweep-report", help="figures of a sweep directory: loss per gain, Lyapunov exponents, flossing")
    p.add_argument("dir", type=Path, help="a directory written by `neuromorph sweep`")
    p.set_defaults(func=_sweep_report)
    cl = sub.add_parser("contrastive", help="temporally local contrastive learning (EP, CHL, spiking; flexible phases)")
    csub = cl.add_subparsers(dest="contrastive_command", required=True)
    p = csub.add_parser("train", help="train a card classically and temporally locally (periodic and random phases)")
    p.add_argument("card", type=Path, help="contrastive model card (TOML), e.g. models/cl_xor.toml")
    p.add_argument("--out", type=Path, required=True, help="output HDF5 file; figures go next to it (an "
                   "interrupted run into the same file resumes)")
    _set_option(p)
    p.add_argument("--force", action="store_true", help="overwrite an output file of another card or backend")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    _backend_options(p)
    p.set_defaults(func=_contrastive_train)
    p = csub.add_parser("kappa", help="the transient shrinkage kappa, measured vs predicted (docs/theory.md)")
    p.add_argument("--out", type=Path, required=True, help="output HDF5 file; the figure goes next to it")
    p.add_argument("--runs", type=int, default=1000, help="independent runs per case (default 1000)")
    p.add_argument("--t-run", type=float, default=100.0, help="simulated time per run (default 100)")
    p.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(func=_contrastive_kappa)
    p = csub.add_parser("check", help="can the card's rule learn on a chip? (exit 1 on a rejection)")
    p.add_argument("card", type=Path, help="contrastive model card (TOML)")
    p.add_argument("--profile", required=True, help="profile id or .toml path (see `neuromorph profiles`)")
    p.add_argument("--classical", action="store_true", help="check the two-phase reference (stored states)")
    _set_option(p)
    p.set_defaults(func=_contrastive_check)
    return parser


def _backend_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backend", choices=sorted(BACKENDS), default="torch",
                   help="simulate with torch (default; batched, fast), brian2 (the same equations and rule) or "
                        "nest (NEST 3.10's e-prop models; docs/nest.md)")
    p.add_argument("--target", choices=("numpy", "cython", "cpp_standalone"), default="numpy",
                   help="with --backend brian2: brian2's code-generation target (default numpy)")
    p.add_argument("--nest-threads", type=int, default=1, metavar="N",
                   help="with --backend nest: NEST's threads per process (under mpirun -np P: P x N virtual "
                        "processes; default 1)")


def _target(args: argparse.Namespace) -> str:
    """The registry's backend option: brian2's target, or NEST's thread count."""
    return str(args.nest_threads) if args.backend == "nest" else args.target


#: Exit codes: a package error (bad input, failed run, storage), argparse's usage error, Ctrl-C.
EXIT_ERROR, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130


def _one_line(text: str) -> str:
    """``text`` on one line (a multi-line message joined with ' | ')."""
    return " | ".join(part.strip() for part in str(text).splitlines() if part.strip())


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except NeuromorphError as exc:
        print(f"neuromorph: error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_ERROR
    except OSError as exc:  # an unwritable output path, a full disk: one line, no traceback
        print(f"neuromorph: error: {_one_line(exc.strerror or exc)}: {exc.filename or ''}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("neuromorph: interrupted; run the same command again to resume", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
