"""GCS listings through Google's client: a folder's sub-folders too, and a tree in many requests at once.

pyarrow's ``GcsFileSystem`` lists objects only, never the sub-folders GCS returns beside them: a folder
that exists only through the names of its objects (most writers make no marker object) is found only
by one recursive listing of the whole prefix, whose pages of 1,000 objects follow one another (100
requests in a row for 100,000 objects). The JSON API's ``delimiter=/`` returns a folder's objects and
its sub-folders (``prefixes``): :func:`list_folder` lists one folder so, and :func:`tree` a whole tree
in parallel: its top folders from one such listing, then the objects below them as recursive listings
of key ranges (``startOffset``/``endOffset``), many at once, each paginated by the client. A tree of
100,000 objects spread over many top folders then takes about 100 / ``threads`` pages in a row (a
listing folder by folder would take a request per folder: thousands for a lake of small tables); the
ranges hold about equal numbers of top folders, so one huge top folder is still listed page after page.

Credentials and the endpoint come from the same ``gs`` storage options as pyarrow's filesystem
(``anonymous``, ``access_token`` with ``credential_token_expiration``, ``target_service_account``,
``endpoint_override`` with ``scheme``, ``project_id``), else from Google's default chain (the
environment, gcloud's application default credentials, the metadata server), as pyarrow does.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from r2d2.lake.fs import Entry, _endpoint, _flag, tree_of_objects

PAGE_SIZE = 1000  # objects per listing request (the JSON API's maximum)
_SCOPE = "https://www.googleapis.com/auth/devstorage.read_only"
_lock = threading.Lock()
_idle: dict[tuple[tuple[str, str], ...], list[Any]] = {}  # clients not in use, by options


def _credentials(opts: Mapping[str, str]) -> Any:
    if _flag(opts, "anonymous"):
        from google.auth.credentials import AnonymousCredentials

        return AnonymousCredentials()
    if opts.get("access_token"):
        from google.oauth2.credentials import Credentials

        expiry = opts.get("credential_token_expiration")
        when = datetime.fromisoformat(expiry) if expiry else None
        if when is not None:  # a time without a zone is UTC (as the option documents it)
            when = (when if when.tzinfo else when.replace(tzinfo=UTC)).astimezone(UTC).replace(tzinfo=None)
        return Credentials(token=opts["access_token"], expiry=when)  # google-auth keeps naive UTC times
    import google.auth

    source, _ = google.auth.default(scopes=[_SCOPE])
    if opts.get("target_service_account"):
        from google.auth import impersonated_credentials

        return impersonated_credentials.Credentials(source_credentials=source,
                                                    target_principal=opts["target_service_account"],
                                                    target_scopes=[_SCOPE])
    return source


def _new_client(opts: Mapping[str, str]) -> Any:
    from google.api_core.client_options import ClientOptions
    from google.cloud import storage

    endpoint = _endpoint(opts)
    options = ClientOptions(api_endpoint=f"{endpoint[0]}://{endpoint[1]}") if endpoint else None
    return storage.Client(project=opts.get("project_id"), credentials=_credentials(opts), client_options=options)


@contextmanager
def _client(opts: Mapping[str, str]) -> Iterator[Any]:
    """A client for ``opts`` that no other thread uses meanwhile (its HTTP session is not shared):
    taken from the idle ones, or made; given back after use. Raises what building its credentials
    raised (none found...)."""
    key = tuple(sorted(opts.items()))
    with _lock:
        idle = _idle.setdefault(key, [])
        client = idle.pop() if idle else None
    if client is None:
        client = _new_client(opts)
    try:
        yield client
    finally:
        with _lock:
            _idle.setdefault(key, []).append(client)  # (forget() may have emptied the pool meanwhile)


def usable(opts: Mapping[str, str]) -> bool:
    """Whether a client can be built for ``opts`` here (the library is installed, credentials found).
    A failure is remembered: looking for default credentials may wait on a metadata server."""
    key = tuple(sorted(opts.items()))
    if key in _unusable:
        return False
    try:
        with _client(opts):
            pass
    except Exception:  # ImportError, google.auth's DefaultCredentialsError, a malformed option...
        _unusable.add(key)
        return False
    return True


_unusable: set[tuple[tuple[str, str], ...]] = set()


def forget() -> None:
    """Drop the idle clients and remembered failures (the storage options changed)."""
    with _lock:
        _idle.clear()
        _unusable.clear()


_FIELDS = "items(name,size,timeCreated),prefixes,nextPageToken"  # all a listing reads: smaller pages
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _created_ns(blob: Any) -> int:
    """When the object (this generation of it: its bytes never change) was created, in nanoseconds since
    the epoch, as pyarrow's listing gives a GCS file's time. Read from the listed text: the client's own
    parsing of it cost 11 µs an object, a second per 100,000."""
    text = blob._properties.get("timeCreated")
    when = datetime.fromisoformat(text) if text else blob.time_created
    if when is None:
        return 0
    delta = when - _EPOCH  # integers: a float would round the nanoseconds
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000


@contextmanager
def _as_os_errors(base: str) -> Iterator[None]:
    """The client's errors as the ``OSError`` subclasses a filesystem raises."""
    from google.api_core import exceptions as gexc
    from google.auth import exceptions as auth_exc

    try:
        yield
    except auth_exc.GoogleAuthError as exc:  # no credentials, a refused refresh or impersonation
        raise PermissionError(f"gs://{base}: cannot authenticate: {exc}") from exc
    except gexc.NotFound as exc:
        raise FileNotFoundError(f"gs://{base}: {exc.message}") from exc
    except gexc.Forbidden as exc:
        raise PermissionError(f"gs://{base}: {exc.message}") from exc
    except gexc.GoogleAPIError as exc:
        raise OSError(f"gs://{base}: cannot list: {exc}") from exc


def _delimited(opts: Mapping[str, str], base: str) -> tuple[str, str, list[Any], list[str]]:
    """One delimited listing of the folder ``base`` (``bucket/key``): its bucket, its key prefix, the
    objects directly in it (its own marker object included) and its sub-folders' prefixes, sorted.
    Raises ``FileNotFoundError`` when nothing is there."""
    bucket = base.partition("/")[0]
    key = base[len(bucket) + 1:]
    prefix = f"{key}/" if key else ""
    with _as_os_errors(base), _client(opts) as client:
        pages = client.list_blobs(bucket, prefix=prefix or None, delimiter="/", page_size=PAGE_SIZE,
                                  fields=_FIELDS)
        objects = list(pages)
        folders = sorted(pages.prefixes)  # known once every page is read
    if not objects and not folders and prefix:
        raise FileNotFoundError(f"gs://{base}: no such folder")
    return bucket, prefix, objects, folders


def tree(opts: Mapping[str, str], path: str, *, threads: int) -> dict[str, list[Entry]]:
    """The entries of ``path`` (``bucket/key``) and of every folder below it, as
    :func:`r2d2.lake.fs.tree_of_objects` builds them from the objects: the top folders from one
    delimited listing, the objects below them in up to ``threads`` key ranges listed at once.
    Raises ``FileNotFoundError`` when nothing is there (as :func:`list_folder`)."""
    base = path.rstrip("/")
    bucket, prefix, objects, tops = _delimited(opts, base)
    # ranges of about equal numbers of top folders: [first of one group, first of the next)
    groups = min(max(1, threads), len(tops))  # none without a sub-folder: every object is listed already
    starts = [tops[len(tops) * g // groups] for g in range(groups)]
    ranges = list(zip(starts, [*starts[1:], None], strict=False))

    def one(bounds: tuple[str, str | None]) -> list[Any]:
        with _as_os_errors(base), _client(opts) as client:
            return list(client.list_blobs(bucket, prefix=prefix or None, start_offset=bounds[0],
                                          end_offset=bounds[1], page_size=PAGE_SIZE, fields=_FIELDS))

    if len(ranges) > 1:
        with ThreadPoolExecutor(len(ranges), thread_name_prefix="r2d2-gcs-list") as pool:
            below = [blob for part in pool.map(one, ranges) for blob in part]
    else:
        below = [blob for bounds in ranges for blob in one(bounds)]
    return tree_of_objects(path, ((f"{bucket}/{b.name}", b.name.endswith("/"), b.size or 0, _created_ns(b))
                                  for b in [*objects, *below]))


def list_folder(opts: Mapping[str, str], path: str) -> list[Entry]:
    """The objects and sub-folders directly in ``path`` (``bucket/key``), as :func:`r2d2.lake.fs.list_dir`
    gives them. Raises ``FileNotFoundError`` when nothing is there, ``PermissionError`` when listing is
    refused, ``OSError`` for any other failure."""
    base = path.rstrip("/")
    bucket, prefix, objects, folders = _delimited(opts, base)
    # a file's time is its creation (of this generation: an object's bytes never change), as pyarrow's;
    # the folder's own marker object is not in it
    entries = [Entry(b.name[len(prefix):], f"{bucket}/{b.name}", False, True, b.size or 0, _created_ns(b))
               for b in objects if b.name != prefix]
    for sub in folders:
        name = sub[len(prefix):].rstrip("/")
        if name:
            entries.append(Entry(name, f"{base}/{name}", True, False, 0, 0))
    return entries
