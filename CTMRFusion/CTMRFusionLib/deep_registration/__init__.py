"""The deep registration initializer (torch): grid, differentiable warp, intra-modality loss, network, training."""
