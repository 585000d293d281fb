"""The slice-view comparison modes and the ranges of their settings, without importing the display code: the
panel's choice lists and ranges are read when Slicer discovers the module."""

MODES = ("blend", "checkerboard", "difference")
#: Inclusive ranges of the display settings: MR opacity over the CT (0–1), checkerboard square side (mm).
OPACITY_RANGE = (0.0, 1.0)
CHECKER_SQUARE_RANGE_MM = (1.0, 200.0)
