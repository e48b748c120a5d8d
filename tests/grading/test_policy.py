"""Unit tests of the static policy scan."""

from __future__ import annotations

import pytest

from course_lib.checks.policy import scan
from grading.grading_helpers import ALL_FIXTURES, checks_for, fixture_id, unit_of

from course_lib.checks.chapters import REGISTRY

FORBIDDEN = {
    "import torch.optim": "import torch.optim\n",
    "import torch.optim as o": "import torch.optim as o\n",
    "from torch import optim": "from torch import optim\n",
    "from torch.optim import SGD": "from torch.optim import SGD\n",
    "torch.optim.SGD attribute": "import torch\nx = torch.optim.SGD\n",
    "optim.SGD attribute": "def f():\n    return optim.SGD\n",
    "lr_scheduler import": "from torch.optim.lr_scheduler import StepLR\n",
    "lr_scheduler attribute": "import torch\ns = torch.optim.lr_scheduler\n",
    "clip_grad_norm_": "import torch\ndef f(p):\n    torch.nn.utils.clip_grad_norm_(p, 1.0)\n",
    "clip_grad_value_ import": "from torch.nn.utils import clip_grad_value_\n",
    "clip_grad_norm": "import torch.nn.utils as u\nu.clip_grad_norm(1)\n",
    "course_lib import": "import course_lib\n",
    "course_lib from": "from course_lib.adam import AdamOptimizer\n",
    "__import__": "m = __import__('torch')\n",
    "importlib": "import importlib\n",
    "exec": "exec('x = 1')\n",
    "eval": "y = eval('1')\n",
    "compile": "c = compile('1', 'f', 'eval')\n",
    "sys.modules": "import sys\nm = sys.modules['torch']\n",
    "from sys import modules": "from sys import modules\n",
    "builtins": "import builtins\n",
    "__builtins__": "b = __builtins__\n",
    "ctypes": "import ctypes\n",
    "gc": "import gc\n",
    "inspect": "from inspect import getsource\n",
    "subprocess": "import subprocess\n",
    "os.system": "import os\nos.system('true')\n",
    "patch torch.allclose": "import torch\ntorch.allclose = lambda *a, **k: True\n",
    "patch in a method": "import torch\nclass A:\n    def step(self):\n        torch.allclose = None\n",
    "patch np.testing": "import numpy as np\nclass A:\n    def step(self):\n        np.testing.assert_allclose = None\n",
    "augmented patch": "import math\nmath.pi += 1\n",
    "delete attribute": "import torch\ndel torch.allclose\n",
    "setattr on module": "import torch\nsetattr(torch, 'allclose', None)\n",
    "getattr optim": "import torch\no = getattr(torch, 'optim')\n",
    "patch a global object": "CONFIG = object()\nclass A:\n    def step(self):\n        CONFIG.value = 1\n",
    "patch via dict": "import torch\ntorch.__dict__['allclose'] = None\n",
}


@pytest.mark.parametrize("case", sorted(FORBIDDEN))
def test_forbidden_uses_are_reported(case: str) -> None:
    violations = scan(FORBIDDEN[case], "Thing")
    assert violations, case
    assert all(v.startswith("Thing, line ") for v in violations)


ALLOWED = {
    "in-place update": "import torch\nclass A:\n    def step(self):\n        for p in self.params:\n"
                       "            p.data -= 0.1 * p.grad\n            p.grad = None\n",
    "self attributes": "class A:\n    def __init__(self):\n        self.m = [1]\n        self.m[0] = 2\n        setattr(self, 'x', 1)\n",
    "local objects": "import torch\ndef f():\n    x = torch.zeros(3)\n    x.data = torch.ones(3)\n    return x\n",
    "module-level local tensor": "import torch\nx = torch.zeros(3)\nx.requires_grad = True\n",
    "student helpers named like torch's": "def clip_grad_norm(grads):\n    return 1.0\n\nclass A:\n"
                                          "    def clip_grad_norm_(self):\n        return self.clip_grad_norm_()\n\n"
                                          "y = clip_grad_norm([])\n",
    "variables named gc and inspect": "def f(g):\n    gc = g.clamp(-1, 1)\n    inspect = gc\n    return inspect\n",
    "model.eval and torch.compile attributes": "def f(model):\n    model.eval()\n",
    "magics are ignored": "%matplotlib inline\nimport torch\n",
    "syntax errors yield nothing": "def f(:\n",
}


@pytest.mark.parametrize("case", sorted(ALLOWED))
def test_ordinary_code_is_allowed(case: str) -> None:
    assert scan(ALLOWED[case], "Thing") == []


@pytest.mark.parametrize("path", ALL_FIXTURES, ids=fixture_id)
def test_fixtures_pass_the_scan(path) -> None:
    [forbidden] = {REGISTRY[c].forbidden for c in checks_for(unit_of(path))}
    assert scan(path.read_text(), unit_of(path), forbidden) == []


def test_a_training_loop_may_use_torch_optim_but_not_someone_elses_agc() -> None:
    forbidden = REGISTRY["training_loop.agc_units"].forbidden
    tools = "import torch\n\ndef fit(m):\n    return torch.optim.AdamW(m.parameters()), torch.nn.utils.clip_grad_norm_\n"
    assert scan(tools, "fit", forbidden) == []
    assert scan(tools, "fit") != []  # an optimizer exercise forbids them
    [message] = scan("from timm.utils.agc import adaptive_clip_grad\n", "adaptive_clip_grad_", forbidden)
    assert "timm.utils.agc, someone else's implementation" in message
    assert scan("import timm.utils.agc\n", "adaptive_clip_grad_", forbidden) != []
    assert scan("import course_lib\n", "fit", forbidden) != []


def test_messages_name_the_line_and_the_reason() -> None:
    [message] = scan("import torch\n\n\nfrom torch.optim import Adam\n", "AdamOptimizer")
    assert message.startswith("AdamOptimizer, line 4: `from torch.optim import Adam`")
    assert "PyTorch implementation of the exercise" in message
