"""Two-dimensional test problems with gradients and known minima.

A :class:`Problem` bundles a differentiable function
$f : \\mathbb{R}^2 \\to \\mathbb{R}$ with what a demo needs around it: the known
global minimiser(s), the minimum value, a starting point, a plotting window and
whether its contours read better on a log scale.

Every ``f`` takes a tensor of shape ``(..., 2)`` and returns shape ``(...)``:
the same function evaluates one point (shape ``(2,)``, giving a scalar) or a
whole plotting grid (shape ``(ny, nx, 2)``). Gradients come from torch
autograd, so each formula is written once.

Sources of the non-convex functions: Rosenbrock (1960), Himmelblau (1972),
Beale (1958), Rastrigin (1974), the six-hump camel and Styblinski-Tang (1990)
functions from the global-optimisation benchmark literature, and a rippled
bowl $\\sin(r^2)/(r^2+1) + r^2/10$ used in the optimizers material.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "Problem",
    "quadratic",
    "quadratic_matrix",
    "ill_conditioned_quadratic",
    "rosenbrock",
    "himmelblau",
    "beale",
    "rastrigin",
    "saddle",
    "six_hump_camel",
    "styblinski_tang",
    "ripple",
    "ALL_PROBLEMS",
    "get_problem",
]

Point = tuple[float, float]


def _as_tensor(x: Tensor | np.ndarray | Sequence[float]) -> Tensor:
    """Return ``x`` as a floating tensor (float64 unless it already is floating)."""
    if isinstance(x, Tensor):
        return x if x.is_floating_point() else x.to(torch.float64)
    return torch.as_tensor(np.asarray(x, dtype=np.float64))


@dataclass(frozen=True)
class Problem:
    """A 2-D objective with its known minima and plotting hints.

    Attributes:
        name: short name, used as plot title and key in :data:`ALL_PROBLEMS`.
        f: the objective; maps a tensor of shape ``(..., 2)`` to shape ``(...)``
            and is differentiable with torch autograd.
        minima: the known global minimiser(s) $x^\\star$.
        min_value: $f(x^\\star)$.
        x0: a starting point that makes a good demo.
        bounds: ``((x_min, x_max), (y_min, y_max))``, the window for contour plots.
        log_levels: draw contours of $f - f^\\star$ on a log scale.
        formula: the objective in LaTeX, for titles and notebook prose.
    """

    name: str
    f: Callable[[Tensor], Tensor] = field(repr=False)
    minima: tuple[Point, ...]
    min_value: float
    x0: Point
    bounds: tuple[Point, Point]
    log_levels: bool = False
    formula: str = ""

    def value(self, x: Tensor | np.ndarray | Sequence[float]) -> Tensor:
        """Evaluate $f$ at ``x`` (shape ``(..., 2)``); returns shape ``(...)``."""
        return self.f(_as_tensor(x))

    def grad(self, x: Tensor | np.ndarray | Sequence[float]) -> Tensor:
        """Return $\\nabla f(x)$ by autograd, with the same shape as ``x``.

        Works for one point or a batch of points: since the points are
        independent, the gradient of $\\sum_i f(x_i)$ with respect to $x_i$ is
        $\\nabla f(x_i)$.
        """
        point = _as_tensor(x).detach().clone().requires_grad_(True)
        (gradient,) = torch.autograd.grad(self.f(point).sum(), point)
        return gradient

    def distance_to_minimum(self, x: Tensor | np.ndarray | Sequence[float]) -> float:
        """Distance $\\min_k \\lVert x - x^\\star_k \\rVert_2$ to the nearest known minimiser."""
        point = _as_tensor(x).detach().to(torch.float64).reshape(2)
        minima = torch.tensor(self.minima, dtype=torch.float64)
        return float(torch.linalg.vector_norm(minima - point, dim=1).min())

    def grid(self, n: int = 200) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Evaluate $f$ on an ``n`` by ``n`` grid over :attr:`bounds`.

        Returns:
            ``(X, Y, Z)`` as for ``ax.contour(X, Y, Z)``, each of shape ``(n, n)``.
        """
        (x_min, x_max), (y_min, y_max) = self.bounds
        xs = torch.linspace(x_min, x_max, n, dtype=torch.float64)
        ys = torch.linspace(y_min, y_max, n, dtype=torch.float64)
        X, Y = torch.meshgrid(xs, ys, indexing="xy")
        with torch.no_grad():
            Z = self.f(torch.stack([X, Y], dim=-1))
        return X.numpy(), Y.numpy(), Z.numpy()


# ---------------------------------------------------------------- quadratics


def quadratic_matrix(condition_number: float = 1.0, angle: float = 0.0) -> Tensor:
    """The matrix $A = R(\\varphi)\\,\\mathrm{diag}(1, \\kappa)\\,R(\\varphi)^\\top$ of a quadratic.

    Args:
        condition_number: $\\kappa \\ge 1$, the ratio of the largest to the smallest eigenvalue.
        angle: rotation $\\varphi$ in radians of the eigenvectors from the coordinate axes.

    Returns:
        A float64 tensor of shape ``(2, 2)``, symmetric with eigenvalues $1$ and $\\kappa$.
    """
    if not math.isfinite(condition_number) or condition_number < 1.0:
        raise ValueError(f"condition_number must be a finite number >= 1, got {condition_number}")
    if not math.isfinite(angle):
        raise ValueError(f"angle must be a finite number of radians, got {angle}")
    c, s = math.cos(angle), math.sin(angle)
    rotation = torch.tensor([[c, -s], [s, c]], dtype=torch.float64)
    eigenvalues = torch.diag(torch.tensor([1.0, condition_number], dtype=torch.float64))
    return rotation @ eigenvalues @ rotation.T


def quadratic(condition_number: float = 1.0, angle: float = 0.0) -> Problem:
    """Convex quadratic $f(x) = \\tfrac12 x^\\top A x$ with eigenvalues $1$ and $\\kappa$.

    $A = R(\\varphi)\\,\\mathrm{diag}(1, \\kappa)\\,R(\\varphi)^\\top$ (see
    :func:`quadratic_matrix`); the minimum is $f(0) = 0$ and
    $\\nabla f(x) = A x$. Gradient descent with step $\\eta$ gives
    $x_t = (I - \\eta A)^t x_0$, which converges iff $\\eta < 2/\\kappa$; the
    best fixed step $2/(1+\\kappa)$ contracts by $(\\kappa-1)/(\\kappa+1)$ per step.

    Args:
        condition_number: $\\kappa \\ge 1$.
        angle: rotation $\\varphi$ of the axes of the ellipses, in radians.

    Returns:
        The :class:`Problem`.
    """
    A = quadratic_matrix(condition_number, angle)

    def f(x: Tensor) -> Tensor:
        M = A.to(dtype=x.dtype, device=x.device)
        return 0.5 * torch.einsum("...i,ij,...j->...", x, M, x)

    name = "quadratic" if condition_number == 1.0 and angle == 0.0 else (
        f"quadratic (kappa={condition_number:g}, angle={angle:.2f})"
    )
    return Problem(
        name=name,
        f=f,
        minima=((0.0, 0.0),),
        min_value=0.0,
        x0=(-1.8, 0.9),
        bounds=((-2.0, 2.0), (-2.0, 2.0)),
        log_levels=False,
        formula=r"f(x) = \tfrac12 x^\top A x,\quad A = R\,\mathrm{diag}(1, \kappa)\,R^\top",
    )


def ill_conditioned_quadratic(condition_number: float = 25.0) -> Problem:
    """:func:`quadratic` with $\\kappa = 25$ by default: a long narrow valley along $x$.

    Plain gradient descent zig-zags across the steep $y$ direction while
    creeping along the flat $x$ direction; momentum and Adam do better.

    Args:
        condition_number: $\\kappa \\ge 1$.

    Returns:
        The :class:`Problem`.
    """
    base = quadratic(condition_number, 0.0)
    return Problem(
        name=f"ill-conditioned quadratic (kappa={condition_number:g})",
        f=base.f,
        minima=base.minima,
        min_value=0.0,
        x0=(-1.8, 0.9),
        bounds=((-2.0, 2.0), (-1.2, 1.2)),
        log_levels=False,
        formula=base.formula,
    )


# ---------------------------------------------------------------- non-convex


def rosenbrock(a: float = 1.0, b: float = 100.0) -> Problem:
    """Rosenbrock's banana valley $f(x, y) = (a - x)^2 + b\\,(y - x^2)^2$.

    The unique minimum is $f(a, a^2) = 0$ (for $b > 0$). The curved valley
    floor $y = x^2$ is easy to find and slow to follow: the Hessian at the
    minimum has condition number of about $2500$ for $a=1, b=100$.

    Args:
        a: position of the minimum, $x^\\star = (a, a^2)$.
        b: steepness of the valley walls, $b > 0$.

    Returns:
        The :class:`Problem`.
    """
    if not math.isfinite(a):
        raise ValueError(f"a must be a finite number, got {a}")
    if not math.isfinite(b) or b <= 0:
        raise ValueError(f"b must be a finite number > 0, got {b}")

    def f(v: Tensor) -> Tensor:
        x, y = v[..., 0], v[..., 1]
        return (a - x) ** 2 + b * (y - x**2) ** 2

    return Problem(
        name="rosenbrock",
        f=f,
        minima=((a, a * a),),
        min_value=0.0,
        x0=(-1.5, 2.0) if a == 1.0 else (a - 2.5, a * a + 1.0),
        bounds=(
            (min(-2.0, a - 3.0), max(2.0, a + 1.0)),
            (min(-1.0, a * a - 2.0), max(3.0, a * a + 2.0)),
        ),
        log_levels=True,
        formula=rf"f(x, y) = ({a:g} - x)^2 + {b:g}\,(y - x^2)^2",
    )


def himmelblau() -> Problem:
    """Himmelblau's function $f(x, y) = (x^2 + y - 11)^2 + (x + y^2 - 7)^2$.

    Four global minima with $f = 0$: $(3, 2)$, $(-2.8051, 3.1313)$,
    $(-3.7793, -3.2832)$ and $(3.5844, -1.8481)$; which one an optimizer
    reaches depends on where it starts.

    Returns:
        The :class:`Problem`.
    """

    def f(v: Tensor) -> Tensor:
        x, y = v[..., 0], v[..., 1]
        return (x**2 + y - 11) ** 2 + (x + y**2 - 7) ** 2

    return Problem(
        name="himmelblau",
        f=f,
        minima=(
            (3.0, 2.0),
            (-2.805118086952745, 3.131312518250573),
            (-3.779310253377747, -3.2831859912861696),
            (3.5844283403304917, -1.8481265269644034),
        ),
        min_value=0.0,
        x0=(0.0, 0.0),
        bounds=((-5.0, 5.0), (-5.0, 5.0)),
        log_levels=True,
        formula=r"f(x, y) = (x^2 + y - 11)^2 + (x + y^2 - 7)^2",
    )


def beale() -> Problem:
    """Beale's function, flat plateaus and sharp ridges around one minimum.

    $$f(x, y) = (1.5 - x + xy)^2 + (2.25 - x + xy^2)^2 + (2.625 - x + xy^3)^2$$

    The minimum is $f(3, 0.5) = 0$.

    Returns:
        The :class:`Problem`.
    """

    def f(v: Tensor) -> Tensor:
        x, y = v[..., 0], v[..., 1]
        return (1.5 - x + x * y) ** 2 + (2.25 - x + x * y**2) ** 2 + (2.625 - x + x * y**3) ** 2

    return Problem(
        name="beale",
        f=f,
        minima=((3.0, 0.5),),
        min_value=0.0,
        x0=(1.0, 1.5),
        bounds=((-4.5, 4.5), (-4.5, 4.5)),
        log_levels=True,
        formula=r"f(x, y) = (1.5 - x + xy)^2 + (2.25 - x + xy^2)^2 + (2.625 - x + xy^3)^2",
    )


def rastrigin(amplitude: float = 10.0) -> Problem:
    """2-D Rastrigin function, a bowl covered in regularly spaced local minima.

    $$f(x) = 2A + \\sum_{i=1}^{2} \\left(x_i^2 - A\\cos(2\\pi x_i)\\right)$$

    The global minimum is $f(0, 0) = 0$; local minima sit near every integer
    point, so gradient descent stops at the first one it falls into.

    Args:
        amplitude: $A \\ge 0$, the depth of the ripples.

    Returns:
        The :class:`Problem`.
    """
    if not math.isfinite(amplitude) or amplitude < 0:
        raise ValueError(f"amplitude must be a finite number >= 0, got {amplitude}")

    def f(v: Tensor) -> Tensor:
        return 2 * amplitude + (v**2 - amplitude * torch.cos(2 * math.pi * v)).sum(dim=-1)

    return Problem(
        name="rastrigin",
        f=f,
        minima=((0.0, 0.0),),
        min_value=0.0,
        x0=(3.2, -2.7),
        bounds=((-5.12, 5.12), (-5.12, 5.12)),
        log_levels=False,
        formula=(
            rf"f(x) = {2 * amplitude:g}"
            rf" + \sum_i \left(x_i^2 - {amplitude:g}\cos(2\pi x_i)\right)"
        ),
    )


def saddle() -> Problem:
    """Quartic saddle $f(x, y) = x^2 - y^2 + y^4/4$.

    Near the origin this is the textbook saddle $x^2 - y^2$: the gradient
    vanishes at $(0, 0)$, where the Hessian $\\mathrm{diag}(2, -2)$ has a
    negative eigenvalue. The quartic term bends the $y$ direction back up, so
    the function is bounded below and has two global minima
    $f(0, \\pm\\sqrt2) = -1$ (there $\\partial_y f = -2y + y^3 = 0$ and the
    Hessian is $\\mathrm{diag}(2, 4)$). Started exactly on the line $y = 0$,
    gradient descent converges to the saddle; a tiny offset in $y$ (the
    default start) lets it escape, slowly at first.

    Returns:
        The :class:`Problem`.
    """

    def f(v: Tensor) -> Tensor:
        x, y = v[..., 0], v[..., 1]
        return x**2 - y**2 + y**4 / 4

    root2 = math.sqrt(2.0)
    return Problem(
        name="saddle",
        f=f,
        minima=((0.0, root2), (0.0, -root2)),
        min_value=-1.0,
        x0=(1.5, 0.01),
        bounds=((-2.0, 2.0), (-2.2, 2.2)),
        log_levels=False,
        formula=r"f(x, y) = x^2 - y^2 + \tfrac14 y^4",
    )


def six_hump_camel() -> Problem:
    """Six-hump camel function, six local minima of which two are global.

    $$f(x, y) = \\left(4 - 2.1x^2 + \\tfrac{x^4}{3}\\right)x^2 + xy + \\left(-4 + 4y^2\\right)y^2$$

    Global minima $f(\\pm 0.0898, \\mp 0.7127) \\approx -1.0316$.

    Returns:
        The :class:`Problem`.
    """

    def f(v: Tensor) -> Tensor:
        x, y = v[..., 0], v[..., 1]
        return (4 - 2.1 * x**2 + x**4 / 3) * x**2 + x * y + (-4 + 4 * y**2) * y**2

    return Problem(
        name="six_hump_camel",
        f=f,
        minima=(
            (0.08984201310031806, -0.7126564030207396),
            (-0.08984201310031806, 0.7126564030207396),
        ),
        min_value=-1.0316284534898774,
        x0=(-1.5, 0.8),
        bounds=((-2.0, 2.0), (-1.1, 1.1)),
        log_levels=False,
        formula=r"f(x, y) = (4 - 2.1x^2 + x^4/3)\,x^2 + xy + (4y^2 - 4)\,y^2",
    )


def styblinski_tang() -> Problem:
    """2-D Styblinski-Tang function $f(x) = \\tfrac12 \\sum_i (x_i^4 - 16x_i^2 + 5x_i)$.

    Each coordinate has a deep well at $x_i \\approx -2.9035$ and a shallower
    one at $x_i \\approx 2.7468$, so the plane has four local minima and one
    global minimum $f(-2.9035, -2.9035) \\approx -78.332$. Its gradient
    $2x_i^3 - 16x_i + 2.5$ grows cubically: far from the wells a plain
    gradient step explodes, which makes it a gradient-clipping demo.

    Returns:
        The :class:`Problem`.
    """

    def f(v: Tensor) -> Tensor:
        return 0.5 * (v**4 - 16 * v**2 + 5 * v).sum(dim=-1)

    x_star = -2.903534027771177
    return Problem(
        name="styblinski_tang",
        f=f,
        minima=((x_star, x_star),),
        min_value=-78.33233140754282,
        x0=(4.0, 4.5),
        bounds=((-5.0, 5.0), (-5.0, 5.0)),
        log_levels=False,
        formula=r"f(x) = \tfrac12 \sum_i \left(x_i^4 - 16x_i^2 + 5x_i\right)",
    )


def ripple() -> Problem:
    """Rippled bowl $f(x) = \\sin(r^2)/(r^2 + 1) + r^2/10$ with $r^2 = x^2 + y^2$.

    The global minimum is $f(0, 0) = 0$ (for $0 < r^2 < \\pi$ both terms are
    positive, beyond that $r^2/10$ outweighs the ripple). A ring of local
    minima at $r^2 \\approx 4$ traps small steps started outside it.

    Returns:
        The :class:`Problem`.
    """

    def f(v: Tensor) -> Tensor:
        r2 = (v**2).sum(dim=-1)
        return torch.sin(r2) / (r2 + 1) + 0.1 * r2

    return Problem(
        name="ripple",
        f=f,
        minima=((0.0, 0.0),),
        min_value=0.0,
        x0=(2.5, 2.5),
        bounds=((-3.0, 3.0), (-3.0, 3.0)),
        log_levels=False,
        formula=r"f(x) = \frac{\sin(r^2)}{r^2 + 1} + \frac{r^2}{10},\quad r^2 = x^2 + y^2",
    )


ALL_PROBLEMS: dict[str, Callable[[], Problem]] = {
    "quadratic": quadratic,
    "ill_conditioned_quadratic": ill_conditioned_quadratic,
    "rosenbrock": rosenbrock,
    "himmelblau": himmelblau,
    "beale": beale,
    "rastrigin": rastrigin,
    "saddle": saddle,
    "six_hump_camel": six_hump_camel,
    "styblinski_tang": styblinski_tang,
    "ripple": ripple,
}


def get_problem(name: str) -> Problem:
    """Build the problem registered under ``name`` in :data:`ALL_PROBLEMS`."""
    if name not in ALL_PROBLEMS:
        raise ValueError(f"name must be one of {sorted(ALL_PROBLEMS)}, got {name!r}")
    return ALL_PROBLEMS[name]()
