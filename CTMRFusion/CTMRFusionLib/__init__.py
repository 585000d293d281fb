"""Qt-free logic of the CTMRFusion Slicer extension.

Everything here works on a real ``vtkMRMLScene`` (inside Slicer, or from the slicer-core wheel) and on
SimpleITK images; nothing imports ``qt``, ``ctk`` or ``slicer.ScriptedLoadableModule``. The sub-packages are the
architecture (docs/developer_guide.md); the names below are the public API, imported on first use so that
``import CTMRFusionLib`` needs neither torch nor slicer-core::

    from CTMRFusionLib import RegistrationOptions, register_rigid, read_image

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

from importlib import import_module

__version__ = "0.1.0"

#: Public name → the module that defines it.
_PUBLIC = {
    "CancelToken": "core.progress",
    "Cancelled": "core.progress",
    "ProgressEvent": "core.progress",
    "InvalidInputError": "core.errors",
    "read_image": "io.images",
    "write_image": "io.images",
    "read_landmarks": "io.landmark_files",
    "demo_pair": "io.sample_data",
    "resample_onto": "imaging.resampling",
    "RegistrationOptions": "registration.options",
    "register_rigid": "registration.rigid",
    "RigidRegistrationResult": "registration.rigid",
    "target_registration_error": "registration.tre",
    "fuse_images": "fusion.pipeline",
    "load_fusion_model": "fusion.model",
    "all_metrics": "fusion.metrics",
    "CTMRFusionLogic": "mrml.logic",
    "FusionOptions": "mrml.logic",
}

__all__ = sorted(_PUBLIC)


def __getattr__(name: str):
    if name not in _PUBLIC:
        raise AttributeError(f"module 'CTMRFusionLib' has no attribute '{name}'")
    value = getattr(import_module(f"CTMRFusionLib.{_PUBLIC[name]}"), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_PUBLIC))
