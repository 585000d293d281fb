"""Rigid CT–MR registration: options and presets, initializers, Mattes-MI refinement, landmark TRE."""
