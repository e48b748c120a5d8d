"""The graded classes (and chapter 7's graded functions) keep their published interfaces, exactly.

The same contract binds three places: the reference solutions in course_lib, the
solution cells of the nbgrader sources and the starter cells students receive.
"""
from __future__ import annotations

import ast
import importlib
import inspect
import json
import re
from pathlib import Path

import pytest

import course_lib

ROOT = Path(__file__).resolve().parents[2]

# class -> (assignment, notebook, {method: signature without self})
CONTRACT = {
    "GradientDescentOptimizer": ("01_gradient_descent", "gradient_descent.ipynb", {
        "__init__": "(params, lr=0.01, momentum=0.0, nesterov=False)",
        "step": "()",
        "zero_grad": "()",
    }),
    "AdamOptimizer": ("02_adam", "adam.ipynb", {
        "__init__": "(params, lr=0.001, betas=(0.9, 0.999), eps=1e-08)",
        "step": "()",
        "zero_grad": "()",
    }),
    "LRScheduler": ("03_lr_schedules", "lr_schedules.ipynb", {
        "__init__": "(base_lr, warmup_steps=0, total_steps=1000)",
        "step": "()",
        "step_decay": "(decay_rate=0.5, decay_steps=100)",
        "cosine_annealing": "(min_lr=0.0)",
        "warmup_cosine": "(min_lr=0.0)",
    }),
    "ProjectedGD": ("04_projected_gd", "projected_gd.ipynb", {
        "__init__": "(params, lr=0.01, constraint='none', threshold=0.0, box_min=None, box_max=None)",
        "soft_threshold": "(x, threshold)",
        "project_box": "(x, min_val, max_val)",
        "step": "()",
        "zero_grad": "()",
    }),
    "ClippingOptimizer": ("05_gradient_clipping", "gradient_clipping.ipynb", {
        "__init__": "(params, lr=0.01, clip_norm=None, clip_value=None, kl_penalty=0.0)",
        "compute_grad_norm": "()",
        "clip_by_norm": "()",
        "clip_by_value": "()",
        "step_with_constraint": "(reference_params=None)",
        "step": "()",
        "zero_grad": "()",
    }),
    "AdagradOptimizer": ("06_optimizer_zoo", "optimizer_zoo.ipynb", {
        "__init__": "(params, lr=0.01, eps=1e-10, initial_accumulator_value=0.0)",
        "step": "()",
        "zero_grad": "()",
    }),
    "RMSpropOptimizer": ("06_optimizer_zoo", "optimizer_zoo.ipynb", {
        "__init__": "(params, lr=0.01, alpha=0.99, eps=1e-08, momentum=0.0, centered=False)",
        "step": "()",
        "zero_grad": "()",
    }),
    "AdamWOptimizer": ("06_optimizer_zoo", "optimizer_zoo.ipynb", {
        "__init__": "(params, lr=0.001, betas=(0.9, 0.999), eps=1e-08, weight_decay=0.01)",
        "step": "()",
        "zero_grad": "()",
    }),
    "LionOptimizer": ("06_optimizer_zoo", "optimizer_zoo.ipynb", {
        "__init__": "(params, lr=0.0001, betas=(0.9, 0.99), weight_decay=0.0)",
        "step": "()",
        "zero_grad": "()",
    }),
    "LAMBOptimizer": ("06_optimizer_zoo", "optimizer_zoo.ipynb", {
        "__init__": "(params, lr=0.001, betas=(0.9, 0.999), eps=1e-06, weight_decay=0.0)",
        "step": "()",
        "zero_grad": "()",
    }),
    "ReduceLROnPlateau": ("07_schedule_zoo", "schedule_zoo.ipynb", {
        "__init__": "(lr, mode='min', factor=0.1, patience=10, threshold=0.0001, threshold_mode='rel', "
                    "cooldown=0, min_lr=0.0, eps=1e-08)",
        "step": "(metric)",
    }),
}

# graded module-level function -> (assignment, notebook, signature)
FUNCTIONS = {
    "exponential_decay": ("07_schedule_zoo", "schedule_zoo.ipynb", "(step, base_lr, gamma)"),
    "polynomial_decay": ("07_schedule_zoo", "schedule_zoo.ipynb",
                         "(step, base_lr, total_steps, power=1.0, end_lr=0.0)"),
    "cosine_with_restarts": ("07_schedule_zoo", "schedule_zoo.ipynb",
                             "(step, base_lr, first_cycle_steps, cycle_mult=1, min_lr=0.0)"),
    "cyclic": ("07_schedule_zoo", "schedule_zoo.ipynb",
               "(step, base_lr, max_lr, step_size_up, mode='triangular', gamma=1.0)"),
    "one_cycle": ("07_schedule_zoo", "schedule_zoo.ipynb",
                  "(step, max_lr, total_steps, pct_start=0.3, div_factor=25.0, final_div_factor=10000.0, "
                  "anneal_strategy='cos')"),
    "with_warmup": ("07_schedule_zoo", "schedule_zoo.ipynb", "(schedule, warmup_steps, start_factor=0.0)"),
    "lr_range_test": ("08_lr_finder", "lr_finder.ipynb",
                      "(model, loss_fn, batches, optimizer, start_lr=1e-07, end_lr=10.0, num_steps=100, "
                      "smooth_factor=0.05, diverge_threshold=5.0)"),
    "suggest_lr": ("08_lr_finder", "lr_finder.ipynb", "(lrs, losses, skip_start=10, skip_end=5)"),
    "filter_normalized_direction": ("09_loss_landscapes", "loss_landscapes.ipynb", "(model, generator)"),
    "loss_along_line": ("09_loss_landscapes", "loss_landscapes.ipynb",
                        "(model, loss_fn, inputs, targets, start, end, alphas)"),
    "loss_surface": ("09_loss_landscapes", "loss_landscapes.ipynb",
                     "(model, loss_fn, inputs, targets, direction1, direction2, alphas, betas)"),
    "train_step": ("10_training_loop", "training_loop.ipynb", "(model, loss_fn, micro_batches, optimizer, max_norm=None)"),
    "adaptive_clip_grad_": ("10_training_loop", "training_loop.ipynb", "(parameters, clip_factor=0.01, eps=0.001)"),
    "param_groups": ("10_training_loop", "training_loop.ipynb", "(model, lr, weight_decay, layer_decay=1.0)"),
    "fit": ("10_training_loop", "training_loop.ipynb",
            "(model, train_set, val_set, *, epochs, batch_size, peak_lr, warmup_fraction=0.1, weight_decay=0.01, "
            "max_norm=1.0, accumulation_steps=1, seed=0)"),
}
#: where the reference of each graded function's chapter lives
FUNCTION_HOMES = {"07_schedule_zoo": "course_lib.schedule_zoo", "08_lr_finder": "course_lib.lr_finder",
                  "09_loss_landscapes": "course_lib.landscapes", "10_training_loop": "course_lib.training_loop"}


def _plain(sig: inspect.Signature) -> str:
    """A signature without annotations or self, e.g. "(params, lr=0.01)"."""
    params = [p.replace(annotation=inspect.Parameter.empty) for p in sig.parameters.values()
              if p.name != "self"]
    required = [p for p in params if p.default is inspect.Parameter.empty]
    assert params[: len(required)] == required
    return str(sig.replace(parameters=params, return_annotation=inspect.Signature.empty))


def _strip_extras(sig: str, contract: str) -> str:
    """Extra keyword arguments are allowed only after the contract's, with defaults."""
    inner, want = sig[1:-1], contract[1:-1]
    assert inner.startswith(want), f"{sig} does not start with the contract {contract}"
    extra = inner[len(want):]
    assert all("=" in part for part in extra.split(",") if part.strip()), f"extra arguments without defaults: {extra}"
    return contract


@pytest.mark.parametrize("name", sorted(CONTRACT))
def test_reference_class_keeps_the_contract(name):
    cls = getattr(course_lib, name)
    for method, contract in CONTRACT[name][2].items():
        sig = _plain(inspect.signature(getattr(cls, method)))
        assert _strip_extras(sig, contract) == contract


def _class_cell(path: Path, name: str) -> ast.ClassDef:
    nb = json.loads(path.read_text())
    for cell in nb["cells"]:
        source = "".join(cell["source"])
        if cell["cell_type"] == "code" and source.lstrip().startswith(f"class {name}"):
            meta = cell["metadata"].get("nbgrader", {})
            assert meta.get("solution"), f"the cell defining {name} in {path} must be a solution cell"
            tree = ast.parse(source)
            return next(node for node in tree.body if isinstance(node, ast.ClassDef))
    raise AssertionError(f"{path} has no code cell starting with 'class {name}'")


def _ast_signature(fn: ast.FunctionDef) -> str:
    args = fn.args.args[1:]
    defaults = [None] * (len(args) - len(fn.args.defaults)) + list(fn.args.defaults)
    parts = [a.arg if d is None else f"{a.arg}={ast.literal_eval(d)!r}" for a, d in zip(args, defaults)]
    return "(" + ", ".join(parts) + ")"


@pytest.mark.parametrize("folder", ["solutions", "notebooks"])
@pytest.mark.parametrize("name", sorted(CONTRACT))
def test_notebook_class_cell_keeps_the_contract(folder, name):
    assignment, notebook, methods = CONTRACT[name]
    path = ROOT / folder / assignment / notebook
    if not path.exists():
        pytest.fail(f"{path.relative_to(ROOT)} is missing")
    cls = _class_cell(path, name)
    found = {node.name: node for node in cls.body if isinstance(node, ast.FunctionDef)}
    for method, contract in methods.items():
        assert method in found, f"{name}.{method} is missing from {folder}/{assignment}/{notebook}"
        assert _strip_extras(_ast_signature(found[method]), contract) == contract
        assert ast.get_docstring(found[method]) or method == "zero_grad", f"{name}.{method} needs a docstring"


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_reference_function_keeps_the_contract(name):
    home = importlib.import_module(FUNCTION_HOMES[FUNCTIONS[name][0]])
    assert _plain(inspect.signature(getattr(home, name))) == FUNCTIONS[name][2]


@pytest.mark.parametrize("folder", ["solutions", "notebooks"])
@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_notebook_function_cell_keeps_the_contract(folder, name):
    assignment, notebook, contract = FUNCTIONS[name]
    path = ROOT / folder / assignment / notebook
    if not path.exists():
        pytest.fail(f"{path.relative_to(ROOT)} is missing")
    nb = json.loads(path.read_text())
    cells = [c for c in nb["cells"] if c["cell_type"] == "code"
             and re.match(rf"((import |from ).*\n|\s*\n)*def {name}\(", "".join(c["source"]))]
    assert len(cells) == 1, f"{path} needs exactly one code cell starting with 'def {name}(' (after its imports)"
    assert cells[0]["metadata"].get("nbgrader", {}).get("solution"), f"the cell defining {name} must be a solution cell"
    tree = ast.parse("".join(cells[0]["source"]))
    function = next(node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == name)
    args, defaults = function.args.args, function.args.defaults
    padded = [None] * (len(args) - len(defaults)) + list(defaults)
    parts = [a.arg if d is None else f"{a.arg}={ast.literal_eval(d)!r}" for a, d in zip(args, padded)]
    if function.args.kwonlyargs:
        parts.append("*")
        parts += [a.arg if d is None else f"{a.arg}={ast.literal_eval(d)!r}"
                  for a, d in zip(function.args.kwonlyargs, function.args.kw_defaults)]
    signature = "(" + ", ".join(parts) + ")"
    assert signature == contract
    assert ast.get_docstring(function), f"{name} needs a docstring"
