"""``slicer.app.coreIOManager()``, after qSlicerCoreIOManager.h, for the readers a console script uses.

``fileType(fileName)`` and ``loadNodes(fileType, properties, loadedNodes, userMessages)`` as
``slicer.util.loadNodeFromFile`` calls them. Volumes and markups are read by slicer-core's real module logics
(vtkSlicerVolumesLogic.AddArchetypeVolume, vtkSlicerMarkupsLogic.LoadMarkups), as Slicer's volume and markups
readers do; another file type fails with a message, as a reader that is not registered does.
"""

from __future__ import annotations

from pathlib import Path

MARKUPS_SUFFIXES = (".mrk.json", ".fcsv")


class CoreIOManager:
    def __init__(self, scene, application_logic):
        import slicer

        self._scene = scene
        self._volumes = slicer.vtkSlicerVolumesLogic()
        self._markups = slicer.vtkSlicerMarkupsLogic()
        for logic in (self._volumes, self._markups):
            logic.SetMRMLApplicationLogic(application_logic)
            logic.SetMRMLScene(scene)

    def fileType(self, fileName) -> str:
        name = str(fileName).lower()
        return "MarkupsFile" if name.endswith(MARKUPS_SUFFIXES) else "VolumeFile"

    def loadNodes(self, fileType, properties, loadedNodes=None, userMessages=None) -> bool:
        file_name = str(properties["fileName"])
        name = properties.get("name") or Path(file_name).name.split(".")[0]
        if fileType == "VolumeFile":
            node = self._volumes.AddArchetypeVolume(file_name, name, 1 if properties.get("labelmap") else 0)
        elif fileType == "MarkupsFile":
            node_id = self._markups.LoadMarkups(file_name, properties.get("name") or "")
            node = self._scene.GetNodeByID(node_id) if node_id else None
        else:
            node = None
            if userMessages is not None:
                userMessages.AddMessage(0, f"no {fileType} reader is registered in this application")
        if node is None:
            return False
        if loadedNodes is not None:
            loadedNodes.AddItem(node)
        return True
