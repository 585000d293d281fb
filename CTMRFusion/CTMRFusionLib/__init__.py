"""Qt-free logic of the CTMRFusion Slicer extension.

Everything here works on a real ``vtkMRMLScene`` (inside Slicer, or from the slicer-core wheel) and on
SimpleITK images; nothing imports ``qt``, ``ctk`` or ``slicer.ScriptedLoadableModule``.

Coordinate conventions used throughout the package:

* Slicer (MRML) works in **RAS** millimetres; ITK/SimpleITK and image files work in **LPS** millimetres.
  The only code that converts between the two is :mod:`CTMRFusionLib.core.frames`.
* A registration result maps **fixed (CT) points to moving (MR) points** in LPS, the ITK "resampling"
  convention, so ``sitk.Resample(mr, ct, transform)`` puts the MR on the CT grid. In Slicer the same
  transform is stored as the node's **FromParent** matrix (in RAS), so placing the MR volume under the
  transform node shows it aligned on the CT.
* Angles are radians, distances millimetres, CT intensities Hounsfield units where the CT is in HU
  (nothing here requires it to be).
"""

__version__ = "0.1.0"
