"""Network building blocks: shapes for every supported image size and every option."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from rlgen.errors import ConfigError, UnknownNameError
from rlgen.nets import (
    ACTIVATIONS,
    CNN,
    MLP,
    ConvDecoder,
    ConvEncoder,
    DuelingHead,
    GaussianHead,
    PolicyHead,
    ResidualTower,
    ValueHead,
    activation,
    inference_copy,
    init_weights,
)


@pytest.mark.parametrize("size", [8, 16, 28, 32, 64])
@pytest.mark.parametrize("channels", [1, 3])
def test_encoder_decoder_shapes(size, channels):
    enc = ConvEncoder((channels, size, size), out_dim=12, base_channels=8)
    dec = ConvDecoder(12, (channels, size, size), base_channels=8)
    x = torch.rand(2, channels, size, size)
    z = enc(x)
    assert z.shape == (2, 12)
    assert dec(z).shape == x.shape


def test_unsupported_image_size_is_a_clear_error():
    with pytest.raises(ConfigError, match="sizes: 8, 16, 28, 32, 64"):
        ConvEncoder((1, 20, 20), 4)


@pytest.mark.parametrize("act", sorted(ACTIVATIONS))
@pytest.mark.parametrize("norm", ["batch", "layer", "spectral", "none"])
def test_mlp_and_cnn_with_every_activation_and_norm(act, norm):
    mlp = MLP(5, [8, 8], 3, act=act, norm=norm, dropout=0.1)
    assert mlp(torch.randn(4, 5)).shape == (4, 3)
    cnn = CNN((1, 8, 8), 10, channels=(4, 8), hidden=(16,), act=act, norm=norm, dropout=0.2)
    x = torch.rand(3, 1, 8, 8)
    assert cnn(x).shape == (3, 10)
    assert cnn.features(x).shape == (3, cnn.feature_dim)
    # the asked-for layers are really in both networks
    kind = type(activation(act))
    expected_norms = {"batch": (nn.BatchNorm1d, nn.BatchNorm2d), "layer": (nn.LayerNorm, nn.GroupNorm)}.get(norm, ())
    for net in (mlp, cnn):
        modules = list(net.modules())
        assert sum(isinstance(m, kind) for m in modules) >= 2, (act, type(net).__name__)
        if expected_norms:
            assert any(isinstance(m, expected_norms) for m in modules), (norm, type(net).__name__)
        spectral = any(hasattr(m, "parametrizations") or hasattr(m, "weight_orig") for m in modules)
        assert spectral == (norm == "spectral"), (norm, type(net).__name__)


@pytest.mark.parametrize("scheme", ["xavier", "glorot", "kaiming", "orthogonal"])
def test_init_schemes_change_weights_and_zero_biases(scheme):
    torch.manual_seed(0)
    mlp = MLP(6, [32], 4)
    before = mlp[0].weight.clone()
    init_weights(mlp, scheme)
    assert not torch.equal(before, mlp[0].weight)
    assert torch.count_nonzero(mlp[0].bias) == 0
    if scheme == "orthogonal":
        w = mlp[0].weight  # 32x6: orthonormal columns, scaled by the relu gain
        gram = w.T @ w / 2.0
        assert torch.allclose(gram, torch.eye(6), atol=1e-5)


def test_spectral_norm_bounds_the_largest_singular_value():
    torch.manual_seed(0)
    mlp = MLP(16, [], 16, norm="spectral")
    for _ in range(20):  # power iterations run in train-mode forwards
        mlp(torch.randn(8, 16))
    sigma = torch.linalg.matrix_norm(mlp[0].weight.detach(), ord=2)
    assert sigma == pytest.approx(1.0, abs=0.05)


def test_tower_and_heads():
    tower = ResidualTower(3, channels=16, blocks=2)
    feats = tower(torch.rand(5, 3, 6, 7))
    assert feats.shape == (5, 16, 6, 7)
    assert PolicyHead(16, 42, 7)(feats).shape == (5, 7)
    value = ValueHead(16, 42)(feats)
    assert value.shape == (5,) and value.abs().max() <= 1
    q = DuelingHead(10, 4)(torch.randn(3, 10))
    assert q.shape == (3, 4)
    mean, log_std = GaussianHead(10, 2)(torch.randn(3, 10))
    assert mean.shape == log_std.shape == (3, 2)


def test_inference_copy_folds_batch_norm_and_matches_eval_mode():
    torch.manual_seed(0)
    model = torch.nn.Sequential(ResidualTower(3, channels=16, blocks=2), PolicyHead(16, 42, 7))
    for _ in range(3):  # move the running statistics away from their initial values
        model(torch.rand(32, 3, 6, 7) * 3)
    x = torch.rand(8, 3, 6, 7)
    frozen = inference_copy(model)
    assert model.training and not any(isinstance(m, torch.nn.BatchNorm2d) for m in frozen.modules())
    with torch.no_grad():
        expected = model.eval()(x)
        torch.testing.assert_close(frozen(x), expected, rtol=1e-4, atol=1e-5)
        low = inference_copy(model, torch.bfloat16)(x.bfloat16()).float()
    assert low.dtype == torch.float32 and (low - expected).abs().max() < 0.05 * expected.abs().max()
    # A copy: changing it leaves the model alone.
    next(frozen.parameters()).data.zero_()
    assert next(model.parameters()).abs().sum() > 0


def test_unknown_names_list_choices():
    with pytest.raises(UnknownNameError, match="choices: .*gelu"):
        MLP(2, [2], 1, act="swishy")
    with pytest.raises(UnknownNameError, match="unknown normalization 'group'"):
        MLP(2, [2], 1, norm="group")
    with pytest.raises(UnknownNameError, match="unknown initialization"):
        init_weights(MLP(2, [2], 1), "he")
