"""Loss terms. Each takes an explicit mask and returns 0 (not NaN) when the mask is empty.

Also the differentiable soft-argmax read-out the coordinate, bone and SDS terms share.
"""

from .bone import bone_ratio_loss, limb_log_ratios, reference_log_ratios
from .depth import silog_loss, ssi_loss
from .geometry import (
    crop_padding_mask,
    depth_jumps,
    geo_consistency_loss,
    geo_loss,
    geo_region_mask,
    log_depth_pair_residuals,
    normals_from_depth,
    normals_from_log_depth,
    tilt_direction_loss,
)
from .integral import integral_coord_loss, local_soft_argmax, soft_argmax
from .masking import masked_mean, per_sample_masked_mean
from .normal import angle_between, normal_angular_loss, normal_cosine_loss
from .pose import keypoint_mse_loss

__all__ = [
    "angle_between",
    "bone_ratio_loss",
    "crop_padding_mask",
    "depth_jumps",
    "geo_consistency_loss",
    "geo_loss",
    "geo_region_mask",
    "integral_coord_loss",
    "keypoint_mse_loss",
    "limb_log_ratios",
    "local_soft_argmax",
    "log_depth_pair_residuals",
    "masked_mean",
    "normal_angular_loss",
    "normal_cosine_loss",
    "normals_from_depth",
    "normals_from_log_depth",
    "per_sample_masked_mean",
    "reference_log_ratios",
    "silog_loss",
    "soft_argmax",
    "ssi_loss",
    "tilt_direction_loss",
]
