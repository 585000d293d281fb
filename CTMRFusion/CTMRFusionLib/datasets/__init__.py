"""Readers of the public CT/MR data the networks train and are tested on (Harvard slice pairs and stacks)."""
