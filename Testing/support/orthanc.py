"""A real PACS for the tests: Orthanc with its DICOMweb plugin (Debian packages orthanc, orthanc-dicomweb),
started on a free loopback port with a private storage folder, and stopped after the test."""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests

PLUGIN_FOLDERS = ("/usr/share/orthanc/plugins", "/usr/lib/orthanc/plugins")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _dicomweb_plugin() -> Path | None:
    for folder in PLUGIN_FOLDERS:
        candidates = sorted(Path(folder).glob("libOrthancDicomWeb.so*"))
        if candidates:
            return candidates[0]
    return None


@contextlib.contextmanager
def orthanc_server(folder, users: dict | None = None):
    """Run Orthanc with DICOMweb in ``folder``; yields its DICOMweb base URL (``http://127.0.0.1:PORT/dicom-web``).
    ``users`` (name → password): HTTP basic authentication required, with these accounts."""
    executable = shutil.which("Orthanc") or next(
        (p for p in ("/usr/sbin/Orthanc", "/usr/bin/Orthanc") if Path(p).is_file()), None
    )
    plugin = _dicomweb_plugin()
    if executable is None or plugin is None:
        pytest.skip(
            "Orthanc with DICOMweb not installed (Debian packages orthanc, orthanc-dicomweb; .ci/run installs them)"
        )
    folder = Path(folder)
    storage = folder / "storage"
    storage.mkdir(parents=True)
    port = _free_port()
    config = {
        "Name": "CTMRFusionTest",
        "StorageDirectory": str(storage),
        "IndexDirectory": str(storage),
        "HttpPort": port,
        "DicomServerEnabled": False,
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": bool(users),
        "RegisteredUsers": users or {},
        "Plugins": [str(plugin)],
        "DicomWeb": {"Enable": True, "Root": "/dicom-web/"},
    }
    (folder / "orthanc.json").write_text(json.dumps(config))
    log = open(folder / "orthanc.log", "w")
    server = subprocess.Popen([executable, str(folder / "orthanc.json")], stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_until_up(f"http://127.0.0.1:{port}", server, folder / "orthanc.log", users)
        yield f"http://127.0.0.1:{port}/dicom-web"
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


def _wait_until_up(root: str, server: subprocess.Popen, log: Path, users: dict | None, seconds: float = 60) -> None:
    auth = next(iter(users.items())) if users else None
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"Orthanc exited with {server.returncode}: {log.read_text()[-2000:]}")
        with contextlib.suppress(requests.RequestException):
            if requests.get(f"{root}/dicom-web/studies", timeout=2, auth=auth).status_code == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"Orthanc did not answer within {seconds} s: {log.read_text()[-2000:]}")
