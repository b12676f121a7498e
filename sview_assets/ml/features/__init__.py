"""Image features: VGG16 up to fc6, image decoding and preprocessing, and the per-batch feature files."""
