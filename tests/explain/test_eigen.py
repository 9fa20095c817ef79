"""tqgd.explain.eigen: EigenCAM's map no longer depends on the sign LAPACK gives the first singular vector."""

from __future__ import annotations

import numpy as np
import pytest
from pytorch_grad_cam.utils import svd_on_activations

from tqgd.explain.eigen import oriented_projection


def _blob_activations(seed: int) -> np.ndarray:
    """(2, 8, 16, 16): noise, with a strongly activated 3x3 patch at a different place in each image."""
    rng = np.random.default_rng(seed)
    acts = rng.normal(0.0, 0.1, (2, 8, 16, 16))
    acts[0, :, 4:7, 4:7] += 3.0 * rng.random((8, 1, 1))
    acts[1, :, 10:13, 2:5] += 3.0 * rng.random((8, 1, 1))
    return acts


@pytest.mark.parametrize("flip", [False, True])
def test_the_map_peaks_where_the_activations_are_strong_whatever_sign_the_svd_returns(monkeypatch, flip) -> None:
    svd = np.linalg.svd

    def signed_svd(a, *args, **kwargs):
        u, s, vt = svd(a, *args, **kwargs)
        return (-u, s, -vt) if flip else (u, s, vt)

    monkeypatch.setattr(svd_on_activations.np.linalg, "svd", signed_svd)
    acts = _blob_activations(0)
    raw = svd_on_activations.get_2d_projection(acts)
    maps = oriented_projection(acts)
    assert maps.shape == (2, 16, 16) and maps.dtype == np.float32
    for one, (ys, xs) in zip(maps, ((slice(4, 7), slice(4, 7)), (slice(10, 13), slice(2, 5))), strict=True):
        peak = np.unravel_index(np.argmax(one), one.shape)
        assert ys.start <= peak[0] < ys.stop and xs.start <= peak[1] < xs.stop
        assert one[ys, xs].mean() > one.mean()
    np.testing.assert_allclose(np.abs(maps), np.abs(raw), rtol=1e-5, atol=1e-6)  # same component, only the sign


def test_both_signs_give_the_same_map(monkeypatch) -> None:
    acts = _blob_activations(1)
    plain = oriented_projection(acts)
    svd = np.linalg.svd
    monkeypatch.setattr(svd_on_activations.np.linalg, "svd", lambda a, *r, **k: tuple(
        -v if i != 1 else v for i, v in enumerate(svd(a, *r, **k))))
    np.testing.assert_allclose(oriented_projection(acts), plain, rtol=1e-5, atol=1e-6)
