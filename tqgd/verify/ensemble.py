"""Merge exported lesion verifiers into one ONNX file that scores the mean (or minimum) of their probabilities.

Verifier trainings differ from seed to seed about as much as recipe changes do; a merge combines several seeds in one
file, though neither the mean nor the minimum of three seeds beat the best single seed when measured (BENCHMARKS.md,
"Verifier training seeds, and merging them"); the shipped verifier is the minimum of two networks trained on
different sets, which met one more of issue 12's targets than the first alone ("Dense training patients, and the min
merge"). One file keeps ``tqgd detect --verifier`` and the runtime unchanged:
the merged graph outputs the logit of the combined probability, which ``LesionVerifier.probabilities`` turns back
into that probability.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

#: Probabilities are clipped to [EPS, 1 - EPS] before the logit, so a combination of saturated members stays finite.
EPS = 1e-6
#: How members' probabilities combine: the ONNX operator of each choice.
COMBINE = {"mean": "Mean", "min": "Min"}
#: Record fields every member must share: the patch geometry and scalar inputs the runtime checks, and the threshold.
SHARED = ("patch", "scalars", "threshold")


def _record(model, path: Path) -> dict:
    meta = {entry.key: entry.value for entry in model.metadata_props}
    if "tqgd_verifier" not in meta:
        raise ValueError(f"{path}: not a tqgd lesion verifier (no tqgd_verifier record); export it with "
                         "tools/train_verifier.py")
    return json.loads(meta["tqgd_verifier"])


def _inputs(model) -> list[tuple[str, list]]:
    """Each graph input's name and dims (a symbolic batch dimension as its name)."""
    return [(value.name, [dim.dim_param or dim.dim_value for dim in value.type.tensor_type.shape.dim])
            for value in model.graph.input]


def _member_nodes(model, index: int) -> tuple[list, list, str]:
    """Member ``index``'s nodes and initializers, renamed apart but reading the shared ``patch`` and ``scalars``
    inputs, plus a Sigmoid node; returns (nodes, initializers, name of its probability (batch,))."""
    from onnx import compose, helper

    prefix = f"m{index}_"
    graph = compose.add_prefix(model, prefix).graph
    shared = {prefix + value.name: value.name for value in model.graph.input}
    nodes = []
    for node in graph.node:
        node.input[:] = [shared.get(name, name) for name in node.input]
        nodes.append(node)
    probability = f"{prefix}probability"
    nodes.append(helper.make_node("Sigmoid", [graph.output[0].name], [probability]))
    return nodes, list(graph.initializer), probability


def merge_verifiers(paths: list[str | Path], out: str | Path, combine: str = "mean") -> Path:
    """Write one verifier at ``out`` whose logit is that of the members' ``combine`` ("mean", or "min": a component
    kept only when every member keeps it) probability; its record is the first member's, with ``recipe.seed`` the
    list of the members' seeds, ``training_data`` each distinct member's joined by " + ", and without its
    ``counts``, plus ``members`` (file, sha256_16, seed, final loss, training data of each) and ``combine``. Needs
    the ``onnx`` package."""
    import numpy as np
    import onnx
    from onnx import helper, numpy_helper

    from tqgd.io import atomic_path

    paths = [Path(p) for p in paths]
    if combine not in COMBINE:
        raise ValueError(f"combine must be one of {sorted(COMBINE)}, got {combine!r}")
    if len(paths) < 2:
        raise ValueError(f"merging needs two or more verifiers, got {len(paths)}")
    models, records = [], []
    for path in paths:
        if not path.is_file():
            raise FileNotFoundError(f"{path}: verifier not found")
        models.append(onnx.load(str(path)))
        records.append(_record(models[-1], path))
        found = {key: records[-1].get(key) for key in SHARED} | {"inputs": _inputs(models[-1])}
        wanted = {key: records[0].get(key) for key in SHARED} | {"inputs": _inputs(models[0])}
        for key, value in found.items():
            if value != wanted[key]:
                raise ValueError(f"{path}: {key} {value} differs from {paths[0]}'s {wanted[key]}; only verifiers "
                                 "of one recipe can be merged")
    nodes, initializers, probabilities = [], [], []
    for index, model in enumerate(models):
        member_nodes, member_initializers, probability = _member_nodes(model, index)
        nodes += member_nodes
        initializers += member_initializers
        probabilities.append(probability)
    initializers += [numpy_helper.from_array(np.array(EPS, np.float32), "eps"),
                     numpy_helper.from_array(np.array(1 - EPS, np.float32), "one_minus_eps"),
                     numpy_helper.from_array(np.array(1, np.float32), "one")]
    output = models[0].graph.output[0]
    nodes += [helper.make_node(COMBINE[combine], probabilities, ["combined"]),
              helper.make_node("Clip", ["combined", "eps", "one_minus_eps"], ["clipped"]),
              helper.make_node("Sub", ["one", "clipped"], ["complement"]),
              helper.make_node("Div", ["clipped", "complement"], ["odds"]),
              helper.make_node("Log", ["odds"], [output.name])]
    graph = helper.make_graph(nodes, f"tqgd_verifier_{combine}", list(models[0].graph.input), [output], initializers)
    merged = helper.make_model(graph, opset_imports=list(models[0].opset_import), ir_version=models[0].ir_version)
    onnx.checker.check_model(merged)
    members = [{"file": path.name, "sha256_16": hashlib.sha256(path.read_bytes()).hexdigest()[:16],
                "seed": record.get("recipe", {}).get("seed"), "final_loss": record.get("counts", {}).get("final_loss"),
                "training_data": record.get("training_data")}
               for path, record in zip(paths, records, strict=True)]
    entry = merged.metadata_props.add()
    shared = {key: value for key, value in records[0].items() if key != "counts"}  # per member: in ``members``
    shared["recipe"] = {**records[0].get("recipe", {}), "seed": [member["seed"] for member in members]}
    shared["training_data"] = " + ".join(dict.fromkeys(str(record.get("training_data")) for record in records))
    entry.key, entry.value = "tqgd_verifier", json.dumps({**shared, "members": members, "combine": combine})
    out = Path(out)
    with atomic_path(out) as tmp:
        onnx.save(merged, str(tmp))
    return out
