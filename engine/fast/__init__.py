"""Fast stylization: feed-forward style networks (Johnson et al. 2016), their files, training and inference.

`network` is the transformer, `model_file` its safetensors format, `train` and `infer` the two jobs, `models` the library.
"""
