"""Bridge between MRML nodes (RAS) and SimpleITK objects (LPS).

Volumes: a ``vtkMRMLScalarVolumeNode`` has an IJK→RAS matrix (any direction, anisotropic spacing) and a
``vtkImageData`` whose own origin/spacing are ignored by Slicer; a SimpleITK image has origin, spacing and
direction in LPS. Voxel arrays are laid out the same way in both ([k, j, i] in numpy), so only the geometry
is converted, through :mod:`CTMRFusionLib.core.frames`.

Transforms: a registration result maps fixed (CT) points to moving (MR) points in LPS. A Slicer linear
transform node stores it as its **FromParent** matrix in RAS: the MR placed under the node is then shown on
the CT. This is also what Slicer reads from an ITK transform file (ITK files hold the resampling transform).
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk
import vtk
from vtk.util import numpy_support

from CTMRFusionLib.core import frames


class ParentTransformError(ValueError):
    """A volume sits under a transform that cannot be taken into account (non-linear)."""


def _vtk_matrix_to_numpy(vtk_matrix: vtk.vtkMatrix4x4) -> np.ndarray:
    return np.array([[vtk_matrix.GetElement(r, c) for c in range(4)] for r in range(4)])


def _numpy_to_vtk_matrix(matrix: np.ndarray) -> vtk.vtkMatrix4x4:
    vtk_matrix = vtk.vtkMatrix4x4()
    for r in range(4):
        for c in range(4):
            vtk_matrix.SetElement(r, c, float(matrix[r, c]))
    return vtk_matrix


def ijk_to_ras_matrix(volume_node, include_parent_transforms: bool = True) -> np.ndarray:
    """4x4 IJK→RAS matrix of a volume node, in world RAS if ``include_parent_transforms``.

    A linear parent transform is composed in (the same as hardening a copy of the volume); a non-linear
    one raises :class:`ParentTransformError`, because no single voxel grid represents the warped volume.
    """
    local = vtk.vtkMatrix4x4()
    volume_node.GetIJKToRASMatrix(local)
    matrix = _vtk_matrix_to_numpy(local)
    parent = volume_node.GetParentTransformNode() if include_parent_transforms else None
    if parent is not None:
        if not parent.IsTransformToWorldLinear():
            raise ParentTransformError(
                f"Volume '{volume_node.GetName()}' is under the non-linear transform '{parent.GetName()}'. "
                "Harden the transform (Data module: right-click > Harden transform) or remove it, then retry."
            )
        to_world = vtk.vtkMatrix4x4()
        parent.GetMatrixTransformToWorld(to_world)
        matrix = _vtk_matrix_to_numpy(to_world) @ matrix
    return matrix


def volume_node_to_sitk(volume_node, include_parent_transforms: bool = True) -> sitk.Image:
    """SimpleITK image (LPS geometry, same scalar type) holding a copy of a scalar volume node's voxels.

    ``include_parent_transforms``: a volume under a linear transform is returned where the user sees it in
    Slicer (its world position), without modifying the node; non-linear parents are refused.
    Raises ``ValueError`` for a node without image data or with several scalar components.
    """
    image_data = volume_node.GetImageData() if volume_node is not None else None
    if image_data is None or image_data.GetPointData().GetScalars() is None:
        name = volume_node.GetName() if volume_node is not None else "None"
        raise ValueError(f"Volume '{name}' has no voxel data.")
    components = image_data.GetNumberOfScalarComponents()
    if components != 1:
        raise ValueError(f"Volume '{volume_node.GetName()}' has {components} components; a scalar volume is needed.")
    dims = image_data.GetDimensions()  # (i, j, k)
    array = numpy_support.vtk_to_numpy(image_data.GetPointData().GetScalars()).reshape(dims[::-1]).copy()
    image = sitk.GetImageFromArray(array)

    ijk_to_lps = frames.ijk_to_lps_from_ijk_to_ras(ijk_to_ras_matrix(volume_node, include_parent_transforms))
    columns = ijk_to_lps[:3, :3]
    spacing = np.linalg.norm(columns, axis=0)
    image.SetSpacing(spacing.tolist())
    image.SetDirection((columns / spacing).ravel().tolist())
    image.SetOrigin(ijk_to_lps[:3, 3].tolist())
    return image


def ijk_to_ras_from_sitk(image: sitk.Image) -> np.ndarray:
    """4x4 IJK→RAS matrix of a 3D SimpleITK image's geometry."""
    direction = np.array(image.GetDirection()).reshape(3, 3)
    ijk_to_lps = np.eye(4)
    ijk_to_lps[:3, :3] = direction * np.array(image.GetSpacing())
    ijk_to_lps[:3, 3] = image.GetOrigin()
    return frames.ijk_to_ras_from_ijk_to_lps(ijk_to_lps)


def update_volume_node_from_sitk(volume_node, image: sitk.Image) -> None:
    """Replace a volume node's voxels and geometry with a 3D SimpleITK image's (deep copy).

    Scalar images go into scalar volume nodes; multi-component images (e.g. RGB) need a
    ``vtkMRMLVectorVolumeNode``. The node keeps its name, display node and parent transform; its IJK→RAS
    matrix is set from the image's LPS origin/spacing/direction.
    """
    components = image.GetNumberOfComponentsPerPixel()
    if image.GetDimension() != 3:
        raise ValueError("Only 3D images can be put into a volume node.")
    if components != 1 and not volume_node.IsA("vtkMRMLVectorVolumeNode"):
        raise ValueError(f"A {components}-component image needs a vector volume node.")
    array = np.ascontiguousarray(sitk.GetArrayViewFromImage(image))
    image_data = vtk.vtkImageData()
    image_data.SetDimensions(image.GetSize())
    scalars = numpy_support.numpy_to_vtk(array.reshape(-1, components) if components > 1 else array.ravel(), deep=True)
    image_data.GetPointData().SetScalars(scalars)
    volume_node.SetIJKToRASMatrix(_numpy_to_vtk_matrix(ijk_to_ras_from_sitk(image)))
    volume_node.SetAndObserveImageData(image_data)


def transform_from_world_lps(transform_node) -> np.ndarray:
    """4x4 LPS matrix from world coordinates to the coordinates of a node placed under ``transform_node`` (the
    node and all its parents). Non-linear transforms raise :class:`ParentTransformError`."""
    if not transform_node.IsTransformToWorldLinear():
        raise ParentTransformError(f"Transform '{transform_node.GetName()}' (or a parent of it) is not linear.")
    from_world = vtk.vtkMatrix4x4()
    transform_node.GetMatrixTransformFromWorld(from_world)
    return frames.matrix_ras_to_lps(_vtk_matrix_to_numpy(from_world))


def world_to_local_lps(node) -> np.ndarray:
    """4x4 LPS matrix from world coordinates to ``node``'s own coordinates (its parent transforms undone): the
    identity for a node under no transform."""
    parent = node.GetParentTransformNode()
    return np.eye(4) if parent is None else transform_from_world_lps(parent)


def set_transform_node_from_world(transform_node, world_to_moving_lps: np.ndarray) -> None:
    """Make ``transform_node`` map world points to moving points by ``world_to_moving_lps`` (4x4, LPS) once its
    own parents are applied: a volume placed under it then shows ``world_to_moving_lps``'s alignment."""
    from_parent = world_to_moving_lps @ np.linalg.inv(world_to_local_lps(transform_node))
    transform_node.SetMatrixTransformFromParent(_numpy_to_vtk_matrix(frames.matrix_lps_to_ras(from_parent)))
