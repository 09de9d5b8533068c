"""Every pytorch-grad-cam class-map method and the controls as Captum layer attributions.

Each class takes Captum's constructor ``(forward_func, layer, device_ids=None)`` and
``attribute(inputs, target=None, additional_forward_args=None, ...)``, as ``LayerGradCam`` does, and
returns (N, 1, U, V) maps at the layer's resolution (FullGrad and SobelCAM: at the input's). The
classes are listed in the catalogue (:mod:`captum_advise.catalogue`) and importable from
:mod:`captum_advise` itself.
"""

from captum_advise.cams.controls import LayerBrightness, LayerCenterPrior, LayerRandomMap, LayerSobelCam, center_prior
from captum_advise.cams.library_cams import (
    LayerAblationCam,
    LayerEigenCam,
    LayerEigenGradCam,
    LayerFem,
    LayerFinerCam,
    LayerFullGrad,
    LayerGradCamElementWise,
    LayerGradCamLib,
    LayerGradCamPlusPlus,
    LayerHiResCam,
    LayerKpcaCam,
    LayerLayerCam,
    LayerRandomCam,
    LayerRefineCam,
    LayerScoreCam,
    LayerShapleyCam,
    LayerXGradCam,
    library_attribution,
)

__all__ = [
    "LayerAblationCam",
    "LayerBrightness",
    "LayerCenterPrior",
    "LayerEigenCam",
    "LayerEigenGradCam",
    "LayerFem",
    "LayerFinerCam",
    "LayerFullGrad",
    "LayerGradCamElementWise",
    "LayerGradCamLib",
    "LayerGradCamPlusPlus",
    "LayerHiResCam",
    "LayerKpcaCam",
    "LayerLayerCam",
    "LayerRandomCam",
    "LayerRandomMap",
    "LayerRefineCam",
    "LayerScoreCam",
    "LayerShapleyCam",
    "LayerSobelCam",
    "LayerXGradCam",
    "center_prior",
    "library_attribution",
]
