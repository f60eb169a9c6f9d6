"""FID and KID on the standard "inception-2015-12-05" network, in Keras, without PyTorch.

The maths is pure NumPy (``frechet_distance``, ``kid``, ``statistics``); the network and its
weights load only when ``FeatureExtractor`` or ``fid_between_folders`` is used.
"""

from cxr_gan.fid.distances import frechet_distance, kid, statistics

__all__ = ["frechet_distance", "kid", "statistics", "FeatureExtractor", "fid_between_folders"]


def __getattr__(name: str):
    # Keras-backed names load on first use, so that the maths imports no backend.
    if name == "FeatureExtractor":
        from cxr_gan.fid.features import FeatureExtractor

        return FeatureExtractor
    if name == "fid_between_folders":
        from cxr_gan.fid.report import fid_between_folders

        return fid_between_folders
    raise AttributeError(f"module 'cxr_gan.fid' has no attribute {name!r}")
