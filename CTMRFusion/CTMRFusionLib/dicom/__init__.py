"""DICOM outputs and a PACS: the registration as a Spatial Registration object, derived image series in the CT's
study and frame of reference, and DICOMweb (QIDO/WADO/STOW-RS) for reading inputs and storing outputs."""
