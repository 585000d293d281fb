"""CT–MR fusion: classic rules, the U-Net and its model, losses and training, the eight metrics, the pipeline."""
