"""A PACS over DICOMweb (PS3.18): series read with WADO-RS, outputs stored with STOW-RS, by dicomweb-client.

An input given as a series URL, ``http(s)://host[:port]/<base>/studies/<StudyInstanceUID>/series/<SeriesInstanceUID>``,
is retrieved whole into a private temporary folder (mode 0700, removed when the run ends) and then read like any
DICOM series folder, so a series from a PACS and one from a disk take the same path through the program. ``--stow
URL`` names the server's DICOMweb base (the part before ``/studies``). Failures (no server, a series it does not
hold, a refused store) are :class:`InvalidInputError` with one line naming the URL and the reason.

Credentials: a URL's user and password (``https://user:password@host/…``) are sent as HTTP basic authentication
(and masked in messages and reports); a bearer token (OAuth, as cloud DICOM stores use) is read from the
environment variable ``CTMRFUSION_DICOMWEB_TOKEN``, never from a file or the command line.
"""

from __future__ import annotations

import os
import tempfile
from contextlib import ExitStack
from io import BytesIO
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

import pydicom
import requests
from dicomweb_client.api import DICOMwebClient

from CTMRFusionLib.core.errors import InvalidInputError
from CTMRFusionLib.dicom.series_url import check_store_url, is_url, parse_series_url, shown

#: Seconds to wait for the server to connect and to send each part of an answer.
TIMEOUT_SECONDS = 60


#: Tries of a request that fails to connect or is answered "busy" (429, 408, 503, 504), about 1 s and 2 s apart:
#: a PACS that restarts is waited for a moment, one that is down is reported in seconds, not half a minute.
ATTEMPTS, BACKOFF_MS = 3, 500


#: The environment variable that holds a bearer token for the DICOMweb server.
TOKEN_VARIABLE = "CTMRFUSION_DICOMWEB_TOKEN"


def _client(base: str) -> DICOMwebClient:
    session = requests.Session()
    parts = urlsplit(base)
    if parts.username is not None:  # basic authentication, and the URL without its credentials
        session.auth = (unquote(parts.username), unquote(parts.password or ""))
        host = parts.hostname + (f":{parts.port}" if parts.port else "")
        base = urlunsplit(parts._replace(netloc=host))
    token = os.environ.get(TOKEN_VARIABLE, "").strip()
    if token:
        session.headers["Authorization"] = f"Bearer {token}"
    client = DICOMwebClient(url=base, session=session, timeout=TIMEOUT_SECONDS)
    client.set_http_retry_params(retry=True, max_attempts=ATTEMPTS, wait_exponential_multiplier=BACKOFF_MS)
    return client


def _failure(error: Exception) -> str:
    if isinstance(error, requests.HTTPError) and error.response is not None:
        return f"the server answered HTTP {error.response.status_code} {error.response.reason}"
    if isinstance(error, requests.ConnectionError):
        return "no DICOMweb server answers there"
    if isinstance(error, requests.Timeout):
        return f"no answer within {TIMEOUT_SECONDS} s"
    return f"{type(error).__name__}: {error}"


def retrieve_series(url: str, role: str, folder) -> Path:
    """Retrieve the series at ``url`` (WADO-RS) into ``folder`` (which must exist); ``folder``."""
    series = parse_series_url(url, role)
    folder = Path(folder)
    try:
        count = 0
        for dataset in _client(series.base).iter_series(series.study_uid, series.series_uid):
            dataset.save_as(folder / f"{count + 1:05d}.dcm", enforce_file_format=True)
            count += 1
    except (requests.RequestException, ValueError) as error:
        raise InvalidInputError(f"{role} {shown(url)}: cannot retrieve the series: {_failure(error)}") from None
    if count == 0:
        raise InvalidInputError(f"{role} {shown(url)}: the server holds no instance of that series")
    return folder


def local_inputs(stack: ExitStack, inputs: dict[str, str | None]) -> dict[str, str | None]:
    """``inputs`` (role → path or URL) with each URL replaced by a private folder holding its series, removed
    when ``stack`` closes; local paths and None come back unchanged."""
    local = {}
    for role, value in inputs.items():
        if is_url(value):
            temporary = stack.enter_context(tempfile.TemporaryDirectory(prefix=f"ctmrfusion-{role.lower()}-"))
            value = str(retrieve_series(value, role, temporary))
        local[role] = value
    return local


def _part10(dataset: pydicom.Dataset) -> pydicom.Dataset:
    """``dataset`` as read back from its DICOM file (preamble, DICM prefix, file meta): the client posts each
    dataset as it would write it to a file, and a PACS keeps and serves those bytes as they came."""
    buffer = BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    buffer.seek(0)
    return pydicom.dcmread(buffer)


def store_instances(url: str, datasets, option: str = "--stow") -> int:
    """Store ``datasets`` on the DICOMweb server at ``url`` (STOW-RS), in one request; how many were stored."""
    datasets = [_part10(dataset) for dataset in datasets]
    try:
        response = _client(check_store_url(url, option)).store_instances(datasets)
    except (requests.RequestException, ValueError) as error:
        raise InvalidInputError(f"{option} {shown(url)}: the store failed: {_failure(error)}") from None
    failed = response.get("FailedSOPSequence") if response is not None else None
    if failed:
        raise InvalidInputError(f"{option} {shown(url)}: the server refused {len(failed)} of {len(datasets)} instances")
    return len(datasets)
