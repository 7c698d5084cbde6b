"""Export torchvision's models with PyTorch's ONNX exporter and import them with perfsim: are
perfsim's parameters and MACs PyTorch's? A development check (issue 14), not part of the
test suite: it needs ``torch`` and ``torchvision``, which perfsim does not depend on.

    /path/to/python-with-torch scripts/check_torch_onnx.py [--models M ...]
        [--opsets 13 17] [--modes folded kept] [--dir DIR]

perfsim is imported from this checkout. For each model, opset and mode:

* **export** with the TorchScript exporter (``torch.onnx.export(..., dynamo=False)``) at batch
  1 and 224x224 (299x299 for ``inception_v3``; ``googlenet`` and ``inception_v3`` without
  their training-time auxiliary heads), random weights. Mode ``folded``:
  ``training=TrainingMode.EVAL, do_constant_folding=True`` (batch norms after convolutions
  folded into them); ``kept``: ``training=TrainingMode.PRESERVE`` on the model in eval mode
  and ``do_constant_folding=False`` (batch norms kept, nothing precomputed). Tensors over
  1 MB are written as external data, which is then deleted: perfsim reads only shapes.
* **import** with :func:`perfsim.io.onnx_import.load_onnx` (``allow_unsupported``, so that
  placeholders are counted rather than fatal).
* **reference parameters**: PyTorch's count (``model.parameters()``). The ``folded`` export
  holds other tensors than the model's parameters, so its reference is that count after the
  exporter's folding: a batch norm that follows a convolution becomes that convolution's bias
  (``-2C``, ``+C`` when it had none), and a relative-position bias table gathered by a
  constant index (Swin, MaxViT) becomes the gathered copy (``R x heads`` parameters become
  ``N^2 x heads``): perfsim can count only what the file holds.
* **reference MACs**: ``torch.utils.flop_counter.FlopCounterMode`` (every convolution and
  matrix product ATen runs: ``convolution``, ``mm``, ``addmm``, ``bmm``), halved, with
  nn.MultiheadAttention's fused fast path off and the math attention kernel (so that the
  attention's products are ATen ``bmm``; torchvision's 17.56 GFLOPs for ``vit_b_16``).

It prints one row per model, opset and mode (parameters and MACs, perfsim's against the
reference, and the placeholders) and exits 1 when any differ.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

NEW = ("shufflenet_v2_x1_0", "mnasnet1_0", "convnext_tiny", "vit_b_16", "swin_t", "maxvit_t")
"""The six models issue 14 found failing."""
BEFORE = ("alexnet", "vgg16", "resnet18", "resnet50", "resnext50_32x4d", "wide_resnet50_2",
          "densenet121", "googlenet", "inception_v3", "squeezenet1_0", "squeezenet1_1",
          "mobilenet_v2", "mobilenet_v3_small", "mobilenet_v3_large", "efficientnet_b0",
          "efficientnet_v2_s", "regnet_y_400mf")
"""The 17 that imported exactly before it."""
EXTRA = {"googlenet": {"aux_logits": False, "init_weights": False},
         "inception_v3": {"aux_logits": False, "init_weights": False}}


def build(name: str):
    import torch
    import torchvision

    model = torchvision.models.get_model(name, weights=None, **EXTRA.get(name, {})).eval()
    size = 299 if name == "inception_v3" else 224
    return model, torch.randn(1, 3, size, size)


def reference_macs(model, x) -> int:
    import torch
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.utils.flop_counter import FlopCounterMode

    torch.backends.mha.set_fastpath_enabled(False)
    with FlopCounterMode(display=False) as counter, torch.no_grad(), \
            sdpa_kernel(SDPBackend.MATH):
        model(x)
    return counter.get_total_flops() // 2


def folding(model, x) -> tuple[int, int]:
    """What the exporter's folding changes in the parameter count: ``(batch norms folded into
    the convolution before them, as a count change; gathered relative-position tables, as a
    count change)``. A batch norm folds when it reads a convolution's output and nothing else
    does (read from the traced graph, as the exporter reads it)."""
    import torch

    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        graph = torch.jit.trace(model, x).inlined_graph
    change = 0
    for node in graph.nodes():
        if node.kind() != "aten::batch_norm":
            continue
        value = node.inputsAt(0)
        conv = value.node()
        if conv.kind() not in ("aten::_convolution", "aten::conv2d") or len(value.uses()) != 1:
            continue
        channels = node.output().type().sizes()[1]
        has_bias = conv.inputsAt(2).type().kind() != "NoneType"
        change += -2 * channels + (0 if has_bias else channels)
    gathered = 0
    for m in model.modules():
        table = getattr(m, "relative_position_bias_table", None)
        index = getattr(m, "relative_position_index", None)
        if table is not None and index is not None:
            gathered += index.numel() * table.shape[-1] - table.numel()
    return change, gathered


def export(model, x, path: Path, opset: int, mode: str) -> int:
    """Export ``model`` to ``path``; returns the opset written: ``opset``, or the lowest the
    exporter writes the model at when it names one (``vit_b_16``'s scaled dot-product
    attention needs 14)."""
    import onnx
    import torch

    full = path.with_suffix(".full.onnx")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        training = (torch.onnx.TrainingMode.EVAL if mode == "folded"
                    else torch.onnx.TrainingMode.PRESERVE)
        try:
            _quietly(lambda: torch.onnx.export(
                model, (x,), str(full), opset_version=opset, dynamo=False, training=training,
                do_constant_folding=mode == "folded", input_names=["x"], output_names=["y"]))
        except Exception as err:
            found = re.search(r"added in version (\d+)", str(err))
            if found is None:
                raise
            return export(model, x, path, int(found.group(1)), mode)
    proto = onnx.load(str(full))
    data = path.name + ".data"
    onnx.save_model(proto, str(path), save_as_external_data=True,
                    all_tensors_to_one_file=True, location=data, size_threshold=1 << 20)
    full.unlink()
    (path.parent / data).unlink(missing_ok=True)
    return opset


def _quietly(run) -> None:
    """``run()`` with the process's stdout and stderr sent to /dev/null (the exporter prints
    the whole TorchScript graph when it fails)."""
    sys.stdout.flush()
    saved = os.dup(1), os.dup(2)
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 1)
        os.dup2(null, 2)
        run()
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, null):
            os.close(fd)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=[*NEW, *BEFORE])
    parser.add_argument("--opsets", nargs="+", type=int, default=[13, 17])
    parser.add_argument("--modes", nargs="+", default=["folded", "kept"],
                        choices=["folded", "kept"])
    parser.add_argument("--dir", type=Path, help="keep the exported files here")
    args = parser.parse_args(argv)

    from perfsim.io.onnx_import import load_onnx

    work = args.dir or Path(tempfile.mkdtemp(prefix="perfsim-torch-onnx-"))
    work.mkdir(parents=True, exist_ok=True)
    print("| model | opset | mode | params perfsim / reference | MACs perfsim / reference "
          "| placeholders | |")
    print("|---|---|---|---|---|---|---|")
    failed = 0
    for name in args.models:
        model, x = build(name)
        params = sum(p.numel() for p in model.parameters())
        macs = reference_macs(model, x)
        bn_change, gathered = folding(model, x)
        for opset in args.opsets:
            for mode in args.modes:
                path = work / f"{name}_op{opset}_{mode}.onnx"
                start = time.perf_counter()
                try:
                    written = export(model, x, path, opset, mode)
                    net = load_onnx(path, allow_unsupported=True)
                except Exception as err:  # report and go on: this is a survey
                    failed += 1
                    print(f"| {name} | {opset} | {mode} | | | | failed: "
                          f"{str(err).splitlines()[0][:300]} |", flush=True)
                    continue
                t = {"params": sum(layer.op.params(net.in_shapes(layer)) for layer in net.layers),
                     "macs": sum(layer.op.macs(net.in_shapes(layer)) for layer in net.layers)}
                want = params + (bn_change + gathered if mode == "folded" else 0)
                holders = [layer.op.onnx_op for layer in net.layers
                           if layer.op.kind == "placeholder"]
                ok = t["params"] == want and t["macs"] == macs and not holders
                failed += not ok
                note = "exact" if ok else "DIFFERS"
                if mode == "folded" and want != params:
                    note += (f" (PyTorch {params:,}: BN folding {bn_change:+,}, gathered "
                             f"tables {gathered:+,})")
                shown = opset if written == opset else f"{written} ({opset} not exportable)"
                print(f"| {name} | {shown} | {mode} | {t['params']:,} / {want:,} | "
                      f"{t['macs']:,} / {macs:,} | {len(holders)} "
                      f"{sorted(set(holders)) if holders else ''} | {note} "
                      f"({time.perf_counter() - start:.0f} s) |", flush=True)
                if args.dir is None:
                    os.unlink(path)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
