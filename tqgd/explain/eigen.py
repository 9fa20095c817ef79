"""EigenCAM with a fixed sign: the first principal component oriented towards where the activations are strongest.

``grad-cam``'s EigenCAM projects the centred activations (H*W, C) on the first right-singular vector of their SVD.
That vector's sign is arbitrary (it is whatever the machine's LAPACK returns), and the ReLU and min-max scaling that
follow keep only the positive side, so on one machine the map lights up the structures the layer responds to and on
another everything else. Here the projection is flipped, per image, so that it correlates positively with the
activation norm at each location, which makes the map the same on every machine.
"""

from __future__ import annotations

import numpy as np
from pytorch_grad_cam import EigenCAM
from pytorch_grad_cam.utils.svd_on_activations import get_2d_projection


def oriented_projection(activations: np.ndarray) -> np.ndarray:
    """(B, C, H, W) activations -> (B, H, W) float32 first-component projections, each oriented so that it grows
    with the activation norm (its Pearson correlation with the per-location L2 norm over channels is >= 0)."""
    activations = np.nan_to_num(np.asarray(activations, dtype=np.float64))
    projections = get_2d_projection(activations).astype(np.float64)
    for k, (projection, acts) in enumerate(zip(projections, activations, strict=True)):
        strength = np.sqrt((acts ** 2).sum(axis=0)).ravel()
        p = projection.ravel()
        if np.dot(p - p.mean(), strength - strength.mean()) < 0:
            projections[k] = -projection
    return projections.astype(np.float32)


class OrientedEigenCAM(EigenCAM):
    """``grad-cam``'s EigenCAM whose projection is ``oriented_projection`` (same maps on every machine)."""

    def get_cam_image(self, input_tensor, target_layer, target_category, activations, grads, eigen_smooth):
        return oriented_projection(activations)
