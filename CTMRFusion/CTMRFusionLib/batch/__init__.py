"""Cohorts on Dask: a manifest of CT/MR pairs registered (and fused) one task per case, resumable, with a
summary and a static HTML report. :func:`run_batch` is the entry point (``ctmrfusion batch`` on the command line).
"""
