"""``neuromorph export``: the subcommand behind :func:`neuromorph.cli.main` (the CLI layer).

It reads a run, rebuilds its network and chip arithmetic, and calls :mod:`neuromorph.export` for each
requested format. The brian2-loihi port's comparison spikes are simulated here with the torch
backend (:func:`loihi1_reference_spikes`): the export package reads runs and never runs a backend.
"""

from __future__ import annotations

import argparse

from neuromorph.errors import ConfigError

__all__ = ["export_command", "loihi1_reference_spikes"]


def stored_run(path, with_checkpoint: bool):
    """``(record, spec, params)`` of a run file; a damaged one (no TOML card, missing or misshapen
    parameters) is a StorageError naming what is wrong."""
    import torch

    from neuromorph.config import resolve
    from neuromorph.network import Parameters, parameter_shapes
    from neuromorph.storage import read_run
    from neuromorph.storage.checkpoint import check_params, stored_card

    record = read_run(path, with_checkpoint=with_checkpoint)
    spec = resolve(stored_card(record, path), str(path), check_memory_on_load=False)
    shapes = parameter_shapes(spec.network)
    check_params(record, {k: v for k, v in shapes.items() if k != "threshold" or k in record.params}, path)
    params = Parameters(**{k: torch.from_numpy(record.params[k]) for k in Parameters._fields if k in record.params})
    return record, spec, params


def export_command(args: argparse.Namespace) -> int:
    """``neuromorph export RUN.h5 [--nir NET.nir] [--chip-image IMAGE.h5] [--brian2-loihi DIR] [--loihi2-rules F]``."""
    chip_needed = args.chip_image is not None or args.brian2_loihi is not None or args.loihi2_rules is not None
    if args.nir is None and not chip_needed and args.loihi2_rules is None:
        raise ConfigError("export needs --nir NET.nir, --chip-image IMAGE.h5, --brian2-loihi DIR and/or "
                          "--loihi2-rules RULES.txt")
    record, spec, params = stored_run(args.run, chip_needed)
    if args.nir is not None:
        from neuromorph.export import to_nir, write_nir

        extra = {"source": str(args.run)}
        if "profile" in record.attrs:  # the graph is the float model; the chip's numerics are in --chip-image
            extra.update(trained_under_profile=record.attrs["profile"],
                         hardware_mode=record.attrs.get("hardware_mode", ""),
                         hardware_note="weights are the run's (on the profile's grid in on_chip mode); the membrane "
                                       "equations are neuromorph's float LIF, not the profile's integer arithmetic")
        print(write_nir(args.nir, to_nir(spec.network, params, extra)))
    if args.chip_image is not None or args.brian2_loihi is not None:
        from neuromorph.export.chip_image import chip_image, write_chip_image

        chip = _run_chip(args, spec, record, "brian2-loihi" if args.brian2_loihi is not None else "a chip image")
        image = chip_image(spec.network, params, chip, spec.hardware.profile)
        if args.chip_image is not None:
            print(write_chip_image(args.chip_image, image, source=str(args.run)))
        if args.brian2_loihi is not None:
            _export_brian2_loihi(args, spec, record, image, chip)
    if args.loihi2_rules is not None:
        import numpy as np

        from neuromorph.errors import ExportError
        from neuromorph.export.loihi_rule import run_rule_strings

        if spec.hardware is None or "lr_on_chip" not in record.attrs:
            raise ExportError(f"{args.run} did not learn on a chip; rule strings need an on-chip run "
                              "(neuromorph train CARD --profile loihi2 --out RUN.h5)")
        chip = _run_chip(args, spec, record, "rule strings")
        signal = record.rule_state.get("learning_signal")
        lines = run_rule_strings(spec, chip.grids.steps, float(record.attrs["lr_on_chip"]),
                                 float(np.abs(signal).max()) if signal is not None else 0.0, chip.profile)
        tmp = args.loihi2_rules.with_name(args.loihi2_rules.name + ".tmp")
        tmp.write_text("\n".join(lines) + "\n")
        tmp.replace(args.loihi2_rules)
        print(args.loihi2_rules)
    return 0


def _export_brian2_loihi(args: argparse.Namespace, spec, record, image, chip) -> None:
    """Write the brian2-loihi port with neuromorph's own spikes for the run's last inputs to compare against."""
    from neuromorph.export import brian2_loihi as b2l

    data = b2l.to_brian2_loihi(spec.network, image)
    inputs = record.last.get("inputs")
    if inputs is None:
        raise ConfigError(f"{args.run} stores no inputs of its last iteration; brian2-loihi needs spike inputs")
    b2l.check_inputs(inputs, spec.network.n_in)
    expected = loihi1_reference_spikes(spec.network, image, chip, inputs)
    out = b2l.write_brian2_loihi(args.brian2_loihi, data, inputs, expected, source=str(args.run))
    print(f"{out / 'run.py'} ({out / 'network.npz'}: {expected.shape[0]} trial(s), {expected.shape[1]} steps, "
          f"{int(expected.sum())} neuromorph spikes)")


def loihi1_reference_spikes(network, image, chip, inputs):
    """neuromorph's own ``loihi1`` simulation of a chip image on ``inputs`` (T, B, n_in): spikes (B, T, n_rec).

    The torch backend (float64, the profile's integer membrane) runs the image's weights
    (:func:`neuromorph.export.brian2_loihi.image_parameters`). It lives here, above the export package,
    because export reads runs and never runs a backend; the port only stores these spikes.
    """
    import numpy as np
    import torch

    from neuromorph.backends.torch.simulate import lower, simulate
    from neuromorph.export.brian2_loihi import image_parameters

    low = lower(network, torch.float64, chip=chip)
    rec = simulate(low, image_parameters(image, network), torch.as_tensor(np.asarray(inputs), dtype=torch.float64))
    return rec.z.numpy().transpose(1, 0, 2).astype(np.uint8)


def _run_chip(args: argparse.Namespace, spec, record, what: str):
    """The run's chip arithmetic with the weight grids it used (fixed on chip), or ExportError."""
    from neuromorph.errors import ExportError
    from neuromorph.hardware.setup import prepare

    if spec.hardware is None:
        profile = "loihi1 --mode offline" if what == "brian2-loihi" else "loihi2"
        raise ExportError(f"{args.run} was trained without a hardware profile; {what} needs one "
                          f"(neuromorph train CARD --profile {profile} --out RUN.h5)")
    chip = prepare(spec).numerics
    if what == "brian2-loihi" and (chip is None or chip.profile.id != "loihi1"):
        raise ExportError(f"brian2-loihi emulates Loihi 1; {args.run} was trained under profile "
                          f"{spec.hardware.profile!r}: retrain with --profile loihi1 (--mode offline for e-prop)")
    if chip is not None and record.checkpoint is not None:
        from neuromorph.storage.checkpoint import load_checkpoint

        chip.restore_grids(load_checkpoint(record.checkpoint, args.run))
    return chip
