"""FID and KID on the standard "inception-2015-12-05" network, in Keras, without PyTorch."""
