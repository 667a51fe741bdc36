"""Weight initialisers: W^1..W^L (n_{l-1} x n_l) and W_0^1..W_0^L (n_l x 1) for a list of sizes.

Random schemes draw only from an explicit `numpy.random.Generator` (e.g.
`np.random.default_rng(seed)`, a PCG64 generator), never from global state, so the same seed
always gives the same weights. Draw order: W^1, W^2, ..., W^L, then (only if biases use the
scheme) W_0^1, ..., W_0^L, so choosing random biases does not change the weights.

Schemes (n_in = n_{l-1}, n_out = n_l for layer l):
- zeros, constant(c): every weight equal; 002 shows this never breaks symmetry.
- uniform(epsilon): RAND(-ε, ε), 002's NEURALNETTRAIN (which randomises every edge of A,
  bias edges included: pass biases="same" to reproduce that exactly).
- normal(std): N(0, std²).
- xavier_uniform / glorot_uniform: U(-r, r), r = sqrt(6 / (n_in + n_out)).
- xavier_normal / glorot_normal: N(0, s²), s = sqrt(2 / (n_in + n_out)).
- he_normal / kaiming_normal: N(0, s²), s = sqrt(2 / n_in).
- he_uniform / kaiming_uniform: U(-r, r), r = sqrt(6 / n_in).
Biases are zero by default; biases="same" draws them from the layer's scheme (same ε, std,
or the fan-based r / s of that layer's weights).
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence

import numpy as np

from nncore.network import Network, make_network
from nncore.validation import as_scalar, check_positive

SCHEMES: tuple[str, ...] = (
    "zeros",
    "constant",
    "uniform",
    "normal",
    "xavier_uniform",
    "xavier_normal",
    "he_normal",
    "he_uniform",
)

_ALIASES = {
    "zero": "zeros",
    "rand": "uniform",
    "glorot_uniform": "xavier_uniform",
    "glorot_normal": "xavier_normal",
    "kaiming_normal": "he_normal",
    "kaiming_uniform": "he_uniform",
}

_RANDOM = frozenset(
    {"uniform", "normal", "xavier_uniform", "xavier_normal", "he_normal", "he_uniform"}
)

# scheme -> (allowed parameter names, required parameter names)
_PARAMS: dict[str, tuple[frozenset, frozenset]] = {
    "zeros": (frozenset(), frozenset()),
    "constant": (frozenset({"c"}), frozenset({"c"})),
    "uniform": (frozenset({"epsilon"}), frozenset({"epsilon"})),
    "normal": (frozenset({"std"}), frozenset({"std"})),
    "xavier_uniform": (frozenset(), frozenset()),
    "xavier_normal": (frozenset(), frozenset()),
    "he_normal": (frozenset(), frozenset()),
    "he_uniform": (frozenset(), frozenset()),
}


def check_rng(rng) -> np.random.Generator:
    """Accept only a numpy.random.Generator; seeds, RandomState and None are refused."""
    if isinstance(rng, np.random.Generator):
        return rng
    hint = ""
    if isinstance(rng, numbers.Integral) and not isinstance(rng, bool):
        hint = f"; pass np.random.default_rng({rng}) instead of the bare seed"
    elif isinstance(rng, np.random.RandomState):
        hint = "; the legacy RandomState is not accepted, use np.random.default_rng(seed)"
    elif rng is None:
        hint = "; randomness must be explicit: pass np.random.default_rng(seed)"
    raise ValueError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}{hint}")


def check_sizes(sizes) -> list[int]:
    """[n_0, n_1, ..., n_L]: at least two positive integers."""
    if isinstance(sizes, (str, bytes)) or not isinstance(sizes, (Sequence, np.ndarray)):
        raise ValueError(f"sizes must be a list of layer sizes [n_0, ..., n_L], got {sizes!r}")
    sizes = list(sizes)
    if len(sizes) < 2:
        raise ValueError(f"sizes needs an input size and at least one layer, got {sizes}")
    for position, n in enumerate(sizes):
        if isinstance(n, (bool, np.bool_)) or not isinstance(n, numbers.Integral) or n < 1:
            raise ValueError(f"sizes[{position}] must be a positive integer, got {n!r}")
    return [int(n) for n in sizes]


def scheme_name(scheme: str) -> str:
    """Canonical scheme name (aliases such as glorot_uniform, kaiming_normal, rand accepted)."""
    if not isinstance(scheme, str):
        raise ValueError(f"scheme must be a name, got {type(scheme).__name__}")
    name = _ALIASES.get(scheme.lower(), scheme.lower())
    if name not in SCHEMES:
        raise ValueError(f"unknown initialisation scheme {scheme!r}; known: {', '.join(SCHEMES)}")
    return name


def _check_params(name: str, params: dict) -> dict:
    allowed, required = _PARAMS[name]
    unknown = set(params) - allowed
    if unknown:
        expected = ", ".join(sorted(allowed)) or "none"
        raise ValueError(
            f"scheme {name!r} does not take {', '.join(sorted(unknown))} (parameters: {expected})"
        )
    missing = required - set(params)
    if missing:
        raise ValueError(f"scheme {name!r} needs the parameter {', '.join(sorted(missing))}")
    checked = {}
    if "c" in params:
        checked["c"] = as_scalar(params["c"], "constant c")
    if "epsilon" in params:
        checked["epsilon"] = check_positive(params["epsilon"], "ε of RAND(-ε, ε)")
    if "std" in params:
        checked["std"] = check_positive(params["std"], "standard deviation std")
    return checked


def _sampler(
    name: str, params: dict
) -> Callable[[np.random.Generator | None, int, int, tuple], np.ndarray]:
    """Function (rng, n_in, n_out, shape) -> array for one layer's weights or biases."""

    def draw(rng, n_in: int, n_out: int, shape: tuple) -> np.ndarray:
        if name == "zeros":
            return np.zeros(shape)
        if name == "constant":
            return np.full(shape, params["c"])
        if name == "uniform":
            return rng.uniform(-params["epsilon"], params["epsilon"], size=shape)
        if name == "normal":
            return rng.normal(0.0, params["std"], size=shape)
        if name == "xavier_uniform":
            limit = np.sqrt(6.0 / (n_in + n_out))
            return rng.uniform(-limit, limit, size=shape)
        if name == "xavier_normal":
            return rng.normal(0.0, np.sqrt(2.0 / (n_in + n_out)), size=shape)
        if name == "he_normal":
            return rng.normal(0.0, np.sqrt(2.0 / n_in), size=shape)
        limit = np.sqrt(6.0 / n_in)  # he_uniform
        return rng.uniform(-limit, limit, size=shape)

    return draw


def initial_weights(
    sizes, scheme: str, rng=None, *, biases: str = "zeros", **params
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """([W^1..W^L], [W_0^1..W_0^L]) for `sizes` = [n_0, ..., n_L] under `scheme`.

    `rng` must be a numpy.random.Generator for random schemes (for zeros/constant it may be
    None, and is not used). `biases` is "zeros" (default) or "same" (the weights' scheme).
    """
    sizes = check_sizes(sizes)
    name = scheme_name(scheme)
    params = _check_params(name, params)
    if biases not in ("zeros", "same"):
        raise ValueError(f"biases must be 'zeros' or 'same', got {biases!r}")
    if name in _RANDOM or rng is not None:
        rng = check_rng(rng)
    draw = _sampler(name, params)
    layer_sizes = list(zip(sizes[:-1], sizes[1:], strict=True))
    weights = [draw(rng, n_in, n_out, (n_in, n_out)) for n_in, n_out in layer_sizes]
    if biases == "same":
        bias_list = [draw(rng, n_in, n_out, (n_out, 1)) for n_in, n_out in layer_sizes]
    else:
        bias_list = [np.zeros((n_out, 1)) for _, n_out in layer_sizes]
    return weights, bias_list


def zeros(sizes) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """All weights and biases 0 (the initialisation 002 warns against)."""
    return initial_weights(sizes, "zeros")


def constant(sizes, c, *, biases: str = "zeros") -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Every weight equal to c (biases 0, or c with biases="same")."""
    return initial_weights(sizes, "constant", biases=biases, c=c)


def uniform(sizes, rng, epsilon, *, biases: str = "zeros") -> tuple[list, list]:
    """RAND(-ε, ε) for each weight (002's NEURALNETTRAIN)."""
    return initial_weights(sizes, "uniform", check_rng(rng), biases=biases, epsilon=epsilon)


def normal(sizes, rng, std, *, biases: str = "zeros") -> tuple[list, list]:
    """N(0, std²) for each weight."""
    return initial_weights(sizes, "normal", check_rng(rng), biases=biases, std=std)


def xavier_uniform(sizes, rng, *, biases: str = "zeros") -> tuple[list, list]:
    """Xavier/Glorot uniform: U(-r, r) with r = sqrt(6 / (n_in + n_out)) per layer."""
    return initial_weights(sizes, "xavier_uniform", check_rng(rng), biases=biases)


def xavier_normal(sizes, rng, *, biases: str = "zeros") -> tuple[list, list]:
    """Xavier/Glorot normal: N(0, s²) with s = sqrt(2 / (n_in + n_out)) per layer."""
    return initial_weights(sizes, "xavier_normal", check_rng(rng), biases=biases)


def he_normal(sizes, rng, *, biases: str = "zeros") -> tuple[list, list]:
    """He/Kaiming normal: N(0, s²) with s = sqrt(2 / n_in) per layer."""
    return initial_weights(sizes, "he_normal", check_rng(rng), biases=biases)


def he_uniform(sizes, rng, *, biases: str = "zeros") -> tuple[list, list]:
    """He/Kaiming uniform: U(-r, r) with r = sqrt(6 / n_in) per layer."""
    return initial_weights(sizes, "he_uniform", check_rng(rng), biases=biases)


def init_network(
    sizes, activations, scheme: str, rng=None, *, biases: str = "zeros", **params
) -> Network:
    """A `Network` for `sizes` with weights from `scheme` (see `initial_weights`).

    `activations` is one activation for every layer or a list of L of them, as in make_network.
    """
    weights, bias_list = initial_weights(sizes, scheme, rng, biases=biases, **params)
    return make_network(weights, bias_list, activations)
