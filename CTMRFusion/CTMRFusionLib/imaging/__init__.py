"""Image operations on SimpleITK images (LPS): body masks, the mm pyramid, resampling, windowed sinc."""
