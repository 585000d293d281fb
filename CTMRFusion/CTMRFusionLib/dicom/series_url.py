"""What names a series on a DICOMweb server: ``http(s)://host[:port]/<base>/studies/<StudyUID>/series/<SeriesUID>``.

Apart from the client (:mod:`.dicomweb`) so that telling a URL from a path, and checking its form, costs no import
of an HTTP stack: the command line and the manifest check every input this way before any work, and
:func:`local_paths` loads the client only when an input is a URL.
"""

from __future__ import annotations

import re
from contextlib import ExitStack
from dataclasses import dataclass

from CTMRFusionLib.core.errors import InvalidInputError

_UID = r"[0-9]+(?:\.[0-9]+)*"
_SERIES_URL = re.compile(rf"(?P<base>https?://[^?#\s]+?)/studies/(?P<study>{_UID})/series/(?P<series>{_UID})/?")


def shown(url: str) -> str:
    """``url`` as messages and reports show it: a password in it (``http://user:password@host/…``) replaced by ***."""
    return re.sub(r"^(https?://[^/@:]*):[^/@]*@", r"\1:***@", url.strip(), flags=re.IGNORECASE)


def is_url(text) -> bool:
    """Whether an input names a DICOMweb resource (http or https) rather than a local path."""
    return isinstance(text, str) and text.lower().startswith(("http://", "https://"))


@dataclass(frozen=True)
class SeriesUrl:
    """A series on a DICOMweb server: the service base URL and the series' study and series UIDs."""

    base: str
    study_uid: str
    series_uid: str


def parse_series_url(url: str, role: str) -> SeriesUrl:
    """The parts of a DICOMweb series URL, or :class:`InvalidInputError` saying what form is expected."""
    match = _SERIES_URL.fullmatch(url.strip())
    if match is None or max(len(match["study"]), len(match["series"])) > 64:
        raise InvalidInputError(
            f"{role} {shown(url)}: a DICOMweb input is a series URL, http(s)://HOST/BASE/studies/<study UID>/series/"
            "<series UID>"
        )
    return SeriesUrl(match["base"], match["study"], match["series"])


def check_store_url(url: str, option: str = "--stow") -> str:
    """A STOW-RS base URL (http or https, no query), or :class:`InvalidInputError`."""
    if not is_url(url) or re.search(r"[?#\s]", url) or "/studies/" in url:
        raise InvalidInputError(
            f"{option} {shown(url)}: give the server's DICOMweb base URL, e.g. http://pacs:8042/dicom-web "
            "(before /studies)"
        )
    return url.rstrip("/")


def local_paths(stack: ExitStack, inputs: dict) -> dict:
    """``inputs`` (role → path or URL) with each DICOMweb series retrieved into a private folder that ``stack``
    removes (:func:`CTMRFusionLib.dicom.dicomweb.local_inputs`); without a URL, the same paths."""
    if not any(is_url(value) for value in inputs.values()):
        return dict(inputs)
    from CTMRFusionLib.dicom.dicomweb import local_inputs  # noqa: PLC0415 — an HTTP stack when a URL is given

    return local_inputs(stack, inputs)
