"""Slicer (MRML) side, Qt-free: the logic on nodes, node <-> SimpleITK bridge, display modes, 3D, snapshots."""
