"""``SampleData``, Slicer's Sample Data module, after its documented API.

Slicer's SampleData module is not in ``../shared/slicer-python``; this models what an extension and a console
script use of it: ``SampleDataLogic.registerCustomSampleDataSource(...)`` records a source (category, sample
name, URIs, file names, node names, ``<algo>:<digest>`` checksums, load file type), and
``downloadSample(name)`` fetches each file of the source into a cache folder (urllib: ``file://`` URIs too),
checks it against its checksum with ``slicer.util.computeChecksum``, loads it with
``slicer.util.loadNodeFromFile`` under its node name, and returns the first node loaded.
"""

from __future__ import annotations

import types
import urllib.request
from pathlib import Path


def _as_list(value) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


class SampleDataLogic:
    sources: dict[str, dict] = {}
    cache_folder: Path | None = None

    @staticmethod
    def registerCustomSampleDataSource(
        category="Custom",
        sampleName=None,
        uris=None,
        fileNames=None,
        nodeNames=None,
        thumbnailFileName=None,
        loadFileType="VolumeFile",
        customDownloader=None,
        checksums=None,
        loadFiles=None,
    ):
        uris, file_names = _as_list(uris), _as_list(fileNames)
        if not sampleName or len(uris) != len(file_names):
            raise ValueError("a sample data source needs a name and one file name per URI")
        SampleDataLogic.sources[sampleName] = {
            "category": category,
            "uris": uris,
            "fileNames": file_names,
            "nodeNames": _as_list(nodeNames),
            "checksums": _as_list(checksums) or [None] * len(uris),
            "loadFileTypes": _as_list(loadFileType) * (len(uris) if not isinstance(loadFileType, list) else 1),
            "thumbnailFileName": thumbnailFileName,
        }


def downloadSample(sampleName):
    """The first node loaded from the registered source ``sampleName``."""
    import slicer

    source = SampleDataLogic.sources.get(sampleName)
    if source is None:
        raise ValueError(f"no sample data source named {sampleName!r}")
    nodes = []
    for index, (uri, file_name) in enumerate(zip(source["uris"], source["fileNames"], strict=True)):
        path = SampleDataLogic.cache_folder / file_name
        urllib.request.urlretrieve(uri, path)
        checksum = source["checksums"][index]
        if checksum:
            algorithm, digest = slicer.util.extractAlgoAndDigest(checksum)
            if slicer.util.computeChecksum(algorithm, str(path)) != digest:
                raise RuntimeError(f"{file_name}: checksum mismatch")
        names = source["nodeNames"]
        properties = {"name": names[index]} if index < len(names) else {}
        nodes.append(slicer.util.loadNodeFromFile(str(path), source["loadFileTypes"][index], properties))
    return nodes[0] if nodes else None


def make_module(cache_folder: Path) -> types.ModuleType:
    module = types.ModuleType("SampleData")
    SampleDataLogic.sources = {}
    SampleDataLogic.cache_folder = Path(cache_folder)
    module.SampleDataLogic = SampleDataLogic
    module.downloadSample = downloadSample
    return module
