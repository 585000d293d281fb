"""Files in and out: images and DICOM series (atomic writes), landmark files, the bundled sample data."""
