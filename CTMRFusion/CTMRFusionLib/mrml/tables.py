"""Landmark TRE as a Slicer table node (MRML only), as the module's Landmarks section shows it."""

from __future__ import annotations

import vtk

from CTMRFusionLib.registration.tre import TargetRegistrationError

COLUMNS = ("Landmark", "TRE before (mm)", "TRE after (mm)")
#: The one table node the module panel fills (reused from run to run).
TABLE_NAME = "CTMRFusion landmark TRE"


def tre_table_node(scene, tre: TargetRegistrationError):
    """The scene's landmark TRE table node (created once), filled with ``tre``."""
    table = scene.GetFirstNodeByName(TABLE_NAME) or scene.AddNewNodeByClass("vtkMRMLTableNode", TABLE_NAME)
    fill_tre_table(table, tre)
    return table


def fill_tre_table(table_node, tre: TargetRegistrationError) -> None:
    """Replace ``table_node``'s content: one row per pair, then rows "mean", "median", "max"."""
    table = table_node.GetTable()
    table.Initialize()
    labels = vtk.vtkStringArray()
    labels.SetName(COLUMNS[0])
    before, after = vtk.vtkDoubleArray(), vtk.vtkDoubleArray()
    before.SetName(COLUMNS[1])
    after.SetName(COLUMNS[2])
    rows = list(zip(tre.labels, tre.before_mm, tre.after_mm))
    rows += [
        (statistic, tre.before[f"{statistic}_mm"], tre.after[f"{statistic}_mm"])
        for statistic in ("mean", "median", "max")
    ]
    for label, value_before, value_after in rows:
        labels.InsertNextValue(label)
        before.InsertNextValue(float(value_before))
        after.InsertNextValue(float(value_after))
    for column in (labels, before, after):
        table.AddColumn(column)
    table_node.Modified()
