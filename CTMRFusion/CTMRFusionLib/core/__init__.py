"""Foundations every other package uses: RAS/LPS frames, progress and cancel, errors, input checks."""
