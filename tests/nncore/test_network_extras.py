"""Small engine contracts: identity comparison of networks, activation parameter ranges."""

import pytest

from nncore.activations import get_activation
from nncore.network import make_network


def test_networks_compare_by_identity_not_by_raising():
    net = make_network([[[1.0, 2.0]]])
    assert net == net
    assert net != net.copy()
    assert net.to_dict() == net.copy().to_dict()


@pytest.mark.parametrize("a", [-0.1, 1.0, 2.0])
def test_leaky_relu_slope_outside_zero_one_is_refused(a):
    with pytest.raises(ValueError, match=r"slope a must be in \[0, 1\)"):
        get_activation({"name": "leaky_relu", "a": a})


def test_elu_negative_a_is_refused():
    with pytest.raises(ValueError, match="elu parameter a"):
        get_activation("elu", a=-1.0)
