"""Training the ordinal models: the network, training sets, cross-validation, presets and model versions."""
