"""One filesystem abstraction for the lake layer: locations are strings, reached through pyarrow.fs.

A location is either a local path (normalised to an absolute path without a trailing slash) or a URI.
Local paths are just the first filesystem: every listing and read in the lake layer goes through
:func:`resolve`. Object stores:

* ``s3://bucket/key`` and ``s3a://bucket/key`` name the same store (one spelling is kept: ``s3://``);
  Spark is handed ``s3a://`` (hadoop-aws), pyarrow and delta-rs ``s3://``.
* ``gs://bucket/key`` (``gcs://`` is the same), ``abfss://container@account.dfs.core.windows.net/key``
  (``abfs://`` is the same).

Credentials come from each store's standard chain (environment variables, profiles, instance roles
or workload identity), read by the store's own client; :func:`set_storage_options` adds optional
per-scheme options that the settings carry: the keyword arguments of pyarrow's ``S3FileSystem``
(``"s3"``), ``GcsFileSystem`` (``"gs"``) and ``AzureFileSystem`` (``"abfss"``), as strings. They are
kept in this process only, handed to Spark's Python workers inside the task closures
(:mod:`r2d2.engine.items`), and never logged or put in messages. Beyond pyarrow's own spelling:

* an endpoint may carry its scheme: ``"endpoint_override": "http://127.0.0.1:9000"`` (S3, GCS),
  ``"blob_storage_authority": "http://127.0.0.1:10000"`` (Azure) set the matching ``scheme`` argument;
* Azure: the account is the one the URI names (``container@account.dfs.core.windows.net``); when only
  ``blob_storage_authority`` is given, the Data Lake (dfs) endpoint is the same one (an emulator such
  as Azurite serves both on one port, and pyarrow asks the dfs endpoint whether the account has a
  hierarchical namespace);
* GCS: ``retry_time_limit`` in seconds, ``credential_token_expiration`` as an ISO 8601 time.
"""

from __future__ import annotations

import json
import logging
import os
import posixpath
import stat as stat_mod
import threading
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import NamedTuple

import pyarrow.fs as pafs

from r2d2.errors import FolderBlockedError

log = logging.getLogger("r2d2.lake.fs")

# Scheme spellings of one store -> the one kept in locations.
_SCHEMES = {"s3": "s3", "s3a": "s3", "s3n": "s3", "gs": "gs", "gcs": "gs", "abfs": "abfss", "abfss": "abfss",
            "file": "file"}
OBJECT_STORES = ("s3", "gs", "abfss")
LIST_THREADS = 16  # concurrent listings of an object-store tree (each one paginated by the store's client)


class Entry(NamedTuple):
    """One listed child of a folder (a named tuple: made once per listed name, cheap to build)."""

    name: str
    path: str  # filesystem path (as the filesystem spells it)
    is_dir: bool
    is_file: bool
    size: int
    mtime_ns: int
    is_link: bool = False  # a symbolic link (local filesystems; is_dir/is_file describe its target)


def is_uri(location: str) -> bool:
    return "://" in location


def scheme_of(location: str) -> str:
    """The store of ``location``: ``local``, ``s3``, ``gs``, ``abfss`` (or another URI scheme)."""
    if not is_uri(location):
        return "local"
    scheme = location.split("://", 1)[0].lower()
    scheme = _SCHEMES.get(scheme, scheme)
    return "local" if scheme == "file" else scheme


def is_object_store(location: str) -> bool:
    return scheme_of(location) in OBJECT_STORES


def normalize_location(location: str) -> str:
    """Absolute local path without trailing slash, or the URI (one scheme spelling per store) with its
    trailing slashes removed."""
    if is_uri(location):
        scheme, rest = location.split("://", 1)
        rest = rest.rstrip("/") or "/"
        return f"{_SCHEMES.get(scheme.lower(), scheme.lower())}://{rest}"
    path = os.path.abspath(os.path.expanduser(location))
    return path.rstrip("/") or "/"


# --- storage options (per scheme), kept in the process ------------------------------------------------

_options: dict[str, dict[str, str]] = {}
_options_lock = threading.Lock()
_filesystems: dict[tuple[str, str, tuple[tuple[str, str], ...]], pafs.FileSystem] = {}
_made_with: dict[int, tuple[pafs.FileSystem, dict[str, str]]] = {}  # id -> a filesystem made here, its options


def set_storage_options(options: Mapping[str, Mapping[str, str]]) -> None:
    """Options of each store's filesystem (``{"s3": {...}, "gs": {...}, "abfss": {...}}``) for this process."""
    with _options_lock:
        _options.clear()
        for scheme, opts in options.items():
            _options[_SCHEMES.get(scheme.lower(), scheme.lower())] = {str(k): str(v) for k, v in opts.items()}
        _filesystems.clear()
        _made_with.clear()
    from r2d2.lake import gcs

    gcs.forget()


def storage_options() -> dict[str, dict[str, str]]:
    """A copy of this process's storage options (shipped to Spark's Python workers with the work)."""
    with _options_lock:
        return {k: dict(v) for k, v in _options.items()}


def with_storage_options(fn: Callable[..., object]) -> Callable[..., object]:
    """``fn`` wrapped so that, in whatever process it runs (a Spark Python worker), it sees this
    process's storage options: the options travel inside the pickled closure, not in the environment
    or the Spark configuration (which Spark's UI and logs show)."""
    carried = storage_options()

    def run(*args: object, **kwargs: object) -> object:
        if carried != storage_options():
            set_storage_options(carried)
        return fn(*args, **kwargs)

    return run


_BOOL_OPTIONS = {"anonymous", "allow_bucket_creation", "allow_bucket_deletion", "background_writes",
                 "force_virtual_addressing", "check_directory_existence_before_creation", "allow_delayed_open"}
_FLOAT_OPTIONS = {"request_timeout", "connect_timeout", "load_frequency"}


def _typed(opts: Mapping[str, str]) -> dict[str, object]:
    out: dict[str, object] = {}
    for k, v in opts.items():
        if k in _BOOL_OPTIONS:
            out[k] = str(v).lower() in ("1", "true", "yes")
        elif k in _FLOAT_OPTIONS:
            out[k] = float(v)
        else:
            out[k] = v
    return out


def _split_scheme(kwargs: dict[str, object], endpoint_key: str, scheme_key: str) -> None:
    """``"http://host:port"`` in ``endpoint_key``: pyarrow wants the scheme apart, in ``scheme_key``."""
    endpoint = str(kwargs.get(endpoint_key, ""))
    if "://" in endpoint:
        kwargs[scheme_key], kwargs[endpoint_key] = endpoint.split("://", 1)


def azure_account(authority: str) -> str:
    """The storage account an ``abfss://`` authority names (``container@account.dfs.core.windows.net``)."""
    return authority.rpartition("@")[2].split(".", 1)[0]


def _make_filesystem(scheme: str, authority: str, opts: Mapping[str, str]) -> pafs.FileSystem:
    kwargs = _typed(opts)
    if scheme == "s3":
        _split_scheme(kwargs, "endpoint_override", "scheme")
        return pafs.S3FileSystem(**kwargs)
    if scheme == "gs":
        _split_scheme(kwargs, "endpoint_override", "scheme")
        if "retry_time_limit" in kwargs:
            kwargs["retry_time_limit"] = timedelta(seconds=float(str(kwargs["retry_time_limit"])))
        if "credential_token_expiration" in kwargs:
            kwargs["credential_token_expiration"] = datetime.fromisoformat(str(kwargs["credential_token_expiration"]))
        return pafs.GcsFileSystem(**kwargs)
    if scheme == "abfss":
        kwargs["account_name"] = azure_account(authority)  # the URI names the account
        _split_scheme(kwargs, "blob_storage_authority", "blob_storage_scheme")
        _split_scheme(kwargs, "dfs_storage_authority", "dfs_storage_scheme")
        if "blob_storage_authority" in kwargs and "dfs_storage_authority" not in kwargs:
            kwargs["dfs_storage_authority"] = kwargs["blob_storage_authority"]
            if "blob_storage_scheme" in kwargs:
                kwargs.setdefault("dfs_storage_scheme", kwargs["blob_storage_scheme"])
        return pafs.AzureFileSystem(**kwargs)
    fs, _ = pafs.FileSystem.from_uri(f"{scheme}://{authority}/")
    return fs


def _filesystem(scheme: str, authority: str) -> pafs.FileSystem:
    with _options_lock:
        opts = _options.get(scheme, {})
        # S3 and GCS filesystems serve every bucket; Azure's one storage account (all its containers).
        key = (scheme, azure_account(authority) if scheme == "abfss" else "", tuple(sorted(opts.items())))
        fs = _filesystems.get(key)
        if fs is None:
            fs = _filesystems[key] = _make_filesystem(scheme, authority, opts)
            _made_with[id(fs)] = (fs, dict(opts))  # the filesystem itself too: an id is reused once it is gone
        return fs


_LOCAL = pafs.LocalFileSystem()


def resolve(location: str) -> tuple[pafs.FileSystem, str]:
    """The filesystem of ``location`` and the path to use with it."""
    location = normalize_location(location)
    if not is_uri(location):
        return _LOCAL, location
    scheme, rest = location.split("://", 1)
    if scheme == "file":
        return _LOCAL, "/" + rest.lstrip("/")
    authority, _, key = rest.partition("/")
    if scheme == "abfss":  # the account is the filesystem; paths start with the container
        container = authority.split("@", 1)[0]
        return _filesystem(scheme, authority), f"{container}/{key}".rstrip("/")
    if scheme in ("s3", "gs"):
        return _filesystem(scheme, authority), f"{authority}/{key}".rstrip("/")
    fs, path = pafs.FileSystem.from_uri(location)
    return fs, path.rstrip("/")


def spark_path(location: str) -> str:
    """``location`` as Spark (Hadoop) names it: ``s3a://`` for S3, ``file:`` for a local path (a path
    without a scheme would resolve against the cluster's default filesystem)."""
    location = normalize_location(location)
    if not is_uri(location):
        return "file:" + location
    scheme, rest = location.split("://", 1)
    if scheme == "s3":
        return "s3a://" + rest
    if scheme == "file":
        return "file:/" + rest.lstrip("/")
    return location


def from_spark_path(path: str) -> str:
    """A path Spark reports (``file:/x``, ``s3a://b/k``) as a location."""
    if path.startswith("file:"):
        return normalize_location("/" + path[5:].lstrip("/"))
    return normalize_location(path)


_HADOOP_S3 = {"access_key": "fs.s3a.access.key", "secret_key": "fs.s3a.secret.key",
              "session_token": "fs.s3a.session.token", "region": "fs.s3a.endpoint.region",
              "role_arn": "fs.s3a.assumed.role.arn"}


def _flag(opts: Mapping[str, str], key: str) -> bool:
    return str(opts.get(key, "")).lower() in ("1", "true", "yes")


def _endpoint(opts: Mapping[str, str]) -> tuple[str, str] | None:
    """``(scheme, host[:port])`` of an ``endpoint_override`` (its own scheme, else ``scheme``, else https)."""
    endpoint = opts.get("endpoint_override")
    if not endpoint:
        return None
    scheme = opts.get("scheme", "https")
    if "://" in endpoint:
        scheme, endpoint = endpoint.split("://", 1)
    return scheme, endpoint


def _hadoop_gs(gs: Mapping[str, str]) -> dict[str, str]:
    """``fs.gs.*`` for Google's GCS connector: the endpoint, the project, anonymous access. Credentials
    otherwise come from the connector's own chain (``GOOGLE_APPLICATION_CREDENTIALS``, the metadata
    server), as pyarrow's do."""
    out = {}
    if gs.get("project_id"):
        out["fs.gs.project.id"] = gs["project_id"]
    if _flag(gs, "anonymous"):
        out["fs.gs.auth.type"] = "UNAUTHENTICATED"
    endpoint = _endpoint(gs)
    if endpoint:
        scheme, host = endpoint
        out["fs.gs.storage.root.url"] = f"{scheme}://{host.rstrip('/')}/"
        # An endpoint of one's own (an emulator, a gateway) serves the classic JSON API: renames as
        # copy + delete, not the newer objects.move call.
        out["fs.gs.operation.move.enable"] = "false"
    return out


def hadoop_options(options: Mapping[str, Mapping[str, str]]) -> dict[str, str]:
    """Hadoop settings equivalent to the storage options: ``fs.s3a.*`` for Spark's s3a filesystem,
    ``fs.gs.*`` for Google's GCS connector."""
    out = _hadoop_gs({k: str(v) for k, v in options.get("gs", {}).items()})
    s3 = {k: str(v) for k, v in options.get("s3", {}).items()}
    out.update({key: s3[name] for name, key in _HADOOP_S3.items() if name in s3})
    endpoint = _endpoint(s3)
    if endpoint:
        scheme, host = endpoint
        out["fs.s3a.endpoint"] = f"{scheme}://{host}"
        out["fs.s3a.path.style.access"] = "true"
        out["fs.s3a.connection.ssl.enabled"] = str(scheme == "https").lower()
    if "access_key" in s3 and "secret_key" in s3:
        out["fs.s3a.aws.credentials.provider"] = (
            "org.apache.hadoop.fs.s3a.TemporaryAWSCredentialsProvider" if "session_token" in s3
            else "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider")
    return out


_DELTA_S3 = {"access_key": "AWS_ACCESS_KEY_ID", "secret_key": "AWS_SECRET_ACCESS_KEY",
             "session_token": "AWS_SESSION_TOKEN", "region": "AWS_REGION"}


_DELTA_AZURE = {"account_key": "azure_storage_account_key", "sas_token": "azure_storage_sas_token",
                "client_id": "azure_client_id", "client_secret": "azure_client_secret", "tenant_id": "azure_tenant_id"}


def _delta_azure(location: str, opts: Mapping[str, str]) -> dict[str, str]:
    authority = location.split("://", 1)[1].split("/", 1)[0]
    account = azure_account(authority)
    out = {"azure_storage_account_name": account}
    out.update({key: opts[name] for name, key in _DELTA_AZURE.items() if name in opts})
    kwargs: dict[str, object] = dict(opts)
    _split_scheme(kwargs, "blob_storage_authority", "blob_storage_scheme")
    endpoint = str(kwargs.get("blob_storage_authority", ""))
    if endpoint:  # the account's URL, as pyarrow builds it: ".suffix" names hosts, "host:port" paths
        scheme_name = str(kwargs.get("blob_storage_scheme", "https"))
        host = f"{account}{endpoint}" if endpoint.startswith(".") else f"{endpoint}/{account}"
        out["azure_storage_endpoint"] = f"{scheme_name}://{host}"
        out["allow_http"] = str(scheme_name == "http").lower()
    return out


def _delta_gcs(opts: Mapping[str, str]) -> dict[str, str] | None:
    """An anonymous endpoint (an emulator) as delta-rs (object_store) takes it: a service-account key
    naming the base URL, without OAuth; otherwise its own chain (``GOOGLE_APPLICATION_CREDENTIALS``)."""
    kwargs: dict[str, object] = dict(opts)
    _split_scheme(kwargs, "endpoint_override", "scheme")
    anonymous = _flag(opts, "anonymous")
    if not kwargs.get("endpoint_override") or not anonymous:
        return None
    base = f"{kwargs.get('scheme', 'https')}://{kwargs['endpoint_override']}"
    key = {"gcs_base_url": base, "disable_oauth": True, "client_email": "", "private_key": "", "private_key_id": ""}
    return {"google_service_account_key": json.dumps(key)}


def delta_options(location: str) -> dict[str, str] | None:
    """delta-rs storage options for ``location`` (None: its own defaults, the standard chains)."""
    scheme = scheme_of(location)
    opts = storage_options().get(scheme, {})
    if not opts:
        return None
    if scheme == "abfss":
        return _delta_azure(normalize_location(location), opts)
    if scheme == "gs":
        return _delta_gcs(opts)
    if scheme != "s3":
        return None
    out = {key: opts[name] for name, key in _DELTA_S3.items() if name in opts}
    endpoint = opts.get("endpoint_override")
    if endpoint:
        scheme_name = opts.get("scheme", "https")
        if "://" in endpoint:
            scheme_name, endpoint = endpoint.split("://", 1)
        out["AWS_ENDPOINT_URL"] = f"{scheme_name}://{endpoint}"
        out["AWS_ALLOW_HTTP"] = str(scheme_name == "http").lower()
        out["AWS_VIRTUAL_HOSTED_STYLE_REQUEST"] = "false"
    out.setdefault("AWS_S3_ALLOW_UNSAFE_RENAME", "true")  # R2D2 writes a Delta table once, from one process
    return out


def delta_uri(location: str) -> str:
    """``location`` as delta-rs names it (a local path, or the URI)."""
    return normalize_location(location)


def is_local(fs: pafs.FileSystem) -> bool:
    return isinstance(fs, pafs.LocalFileSystem)


def join(location: str, relpath: str) -> str:
    """Location of ``relpath`` under ``location`` (absolute paths and URIs are returned as they are;
    the empty relative path is the location itself, for a table that is a single file)."""
    if not relpath:
        return location
    if is_uri(relpath) or relpath.startswith("/"):
        return relpath
    return posixpath.join(location, relpath)


def parent(path: str) -> str:
    """The folder holding ``path`` (a filesystem path or a location)."""
    return posixpath.dirname(path.rstrip("/"))


def printable(name: str) -> str:
    """A printable form of a (possibly surrogate-escaped, non-UTF-8) name."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def is_utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def info(fs: pafs.FileSystem, path: str) -> pafs.FileInfo:
    return fs.get_file_info(path)


def list_dir(fs: pafs.FileSystem, path: str) -> list[Entry]:
    """One listing of ``path`` (sizes and mtimes come from the listing, no extra stat per file).

    Raises ``OSError`` (``PermissionError``, ``FileNotFoundError``...) when the folder cannot be listed.
    Local folders are listed with :func:`os.scandir`, which also tells symbolic links apart (for free:
    the kind of an entry comes with the listing, only regular files and links are stat'ed); names that
    are not valid UTF-8 come back surrogate-escaped. Other filesystems are listed through pyarrow
    (GCS: see :func:`_gcs_tree`).
    """
    if is_local(fs):
        return _scandir(path)
    if _lists_objects_only(fs):
        gcs_options = _gcs_lister(fs)
        if gcs_options is not None:
            from r2d2.lake import gcs

            return gcs.list_folder(gcs_options, path)
        return _gcs_tree(fs, path)[path.rstrip("/")]
    infos = fs.get_file_info(pafs.FileSelector(path, allow_not_found=False, recursive=False))
    return [
        Entry(
            name=i.base_name,
            path=i.path,
            is_dir=i.type == pafs.FileType.Directory,
            is_file=i.type == pafs.FileType.File,
            size=i.size or 0,
            mtime_ns=i.mtime_ns or 0,
        )
        for i in infos
    ]


def _lists_objects_only(fs: pafs.FileSystem) -> bool:
    """Whether pyarrow's folder listing on ``fs`` misses folders that have no marker object.

    pyarrow's GCS listing returns objects only (files, and the folder marker objects pyarrow or Hadoop's
    connector write), never the prefixes GCS returns beside them: a folder that exists only through the
    names of the objects in it (uploaded by gsutil, most writers, a copy) would not be listed."""
    return isinstance(fs, pafs.GcsFileSystem)


def _gcs_lister(fs: pafs.FileSystem) -> dict[str, str] | None:
    """The storage options to list ``fs`` (a GCS filesystem) folder by folder with Google's client
    (:mod:`r2d2.lake.gcs`), or None when no client can be built here: then pyarrow lists whole trees."""
    from r2d2.lake import gcs

    made = _made_with.get(id(fs))
    if made is None or made[0] is not fs:
        return None  # not made from the storage options here: pyarrow lists it as it was made
    opts = made[1]
    if gcs.usable(opts):
        return opts
    if id(fs) not in _gcs_fallback_told:
        _gcs_fallback_told.add(id(fs))
        log.warning("GCS folders are listed with one recursive listing per tree (pages one after another): "
                    "Google's storage client could not be set up with the gs storage options")
    return None


_gcs_fallback_told: set[int] = set()


def _gcs_tree(fs: pafs.FileSystem, path: str) -> dict[str, list[Entry]]:
    """The entries of ``path`` and of every folder below it, from one recursive pyarrow listing
    (paginated by the store's client, pages one after another). Raises ``OSError`` when ``path`` cannot
    be listed."""
    base = path.rstrip("/")
    infos = fs.get_file_info(pafs.FileSelector(base, allow_not_found=False, recursive=True))
    return tree_of_objects(path, ((i.path, i.type == pafs.FileType.Directory, i.size or 0, i.mtime_ns or 0)
                                  for i in infos if i.type != pafs.FileType.NotFound))


def tree_of_objects(path: str, objects: Iterable[tuple[str, bool, int, int]]) -> dict[str, list[Entry]]:
    """The entries of ``path`` and of every folder below it, from the objects below it, each
    ``(filesystem path, is a folder marker, size, mtime_ns)``: a store's folders come from the objects'
    names and from marker objects. An object listed twice counts once."""
    base = path.rstrip("/")
    tree: dict[str, dict[tuple[str, bool], Entry]] = {base: {}}

    def folder_of(parent: str, name: str) -> str:
        child = f"{parent}/{name}"
        tree[parent].setdefault((name, True), Entry(name, child, True, False, 0, 0))
        tree.setdefault(child, {})
        return child

    for object_path, is_marker, size, mtime_ns in objects:
        if not object_path.startswith(base + "/"):
            continue
        *folders, name = object_path[len(base) + 1:].strip("/").split("/")
        if not name:
            continue  # the folder's own marker
        parent = base
        for part in folders:
            parent = folder_of(parent, part)
        if is_marker:
            folder_of(parent, name)
        else:
            tree[parent][(name, False)] = Entry(name, object_path, False, True, size, mtime_ns)
    out = {folder: list(entries.values()) for folder, entries in tree.items()}
    out.setdefault(path, out[base])  # the folder as the caller spelt it
    return out


def _scandir(path: str) -> list[Entry]:
    # Hot on a re-scan (one call per folder of the lake): the kind of an entry comes from the listing
    # (d_type), so only files and links cost a stat; entries are built positionally.
    out: list[Entry] = []
    append = out.append
    with os.scandir(path) as it:
        for d in it:
            link = False
            try:
                if d.is_dir(follow_symlinks=False):  # a folder, not a link to one
                    append(Entry(d.name, d.path, True, False, 0, 0, False))
                    continue
                link = d.is_symlink()
                st = d.stat()
            except OSError:  # a dangling link, or an entry gone since the listing
                append(Entry(d.name, d.path, False, False, 0, 0, link))
                continue
            mode = st.st_mode
            if stat_mod.S_ISREG(mode):
                append(Entry(d.name, d.path, False, True, st.st_size, st.st_mtime_ns, link))
            else:
                append(Entry(d.name, d.path, stat_mod.S_ISDIR(mode), False, 0, 0, link))
    return out


def real_path(fs: pafs.FileSystem, path: str) -> str:
    """Identity of a folder for cycle detection (symlinks resolved on local filesystems)."""
    if is_local(fs):
        return os.path.realpath(path)
    return path


def child_real_path(fs: pafs.FileSystem, parent_real: str, entry: Entry) -> str:
    """:func:`real_path` of ``entry``, a sub-folder of the folder whose real path is ``parent_real``.

    Only a symbolic link needs resolving: the real path of any other child is its parent's real path
    plus its name (so a walk resolves paths only where it follows a link).
    """
    if not is_local(fs):
        return entry.path
    if entry.is_link:
        return os.path.realpath(entry.path)
    return parent_real + entry.name if parent_real.endswith("/") else f"{parent_real}/{entry.name}"


# --- operations on a location, the same for every store -------------------------------------------------

def exists(location: str) -> bool:
    fs, path = resolve(location)
    return fs.get_file_info(path).type != pafs.FileType.NotFound


def is_file(location: str) -> bool:
    fs, path = resolve(location)
    return fs.get_file_info(path).type == pafs.FileType.File


def makedirs(location: str) -> None:
    """Create the folder (a no-op on object stores without folders, which pyarrow handles).

    Raises :class:`~r2d2.errors.FolderBlockedError` when a file is where the folder or a parent should be."""
    fs, path = resolve(location)
    try:
        fs.create_dir(path, recursive=True)
    except (FileExistsError, NotADirectoryError) as exc:
        blocker = path
        while blocker and fs.get_file_info(blocker).type not in (pafs.FileType.File, pafs.FileType.Unknown):
            up = posixpath.dirname(blocker.rstrip("/"))
            blocker = "" if up == blocker else up
        at = f"{blocker} is a file" if blocker else "a file is in the way"
        raise FolderBlockedError(f"cannot create the folder {location}: {at}; move it away or choose another "
                                 "folder") from exc


def files_under(location: str) -> list[tuple[str, int]]:
    """``(relative path, size)`` of every file under ``location`` (``""`` when it is itself a file),
    sorted; empty when nothing is there. One recursive listing (paginated by the store's client)."""
    fs, path = resolve(location)
    info = fs.get_file_info(path)
    if info.type == pafs.FileType.File:
        return [("", info.size or 0)]
    if info.type == pafs.FileType.NotFound:
        return []
    found = fs.get_file_info(pafs.FileSelector(path, recursive=True, allow_not_found=True))
    base = path.rstrip("/") + "/"
    return sorted((i.path[len(base):], i.size or 0) for i in found if i.type == pafs.FileType.File)


def tree_bytes(location: str, suffix: str = "") -> int:
    """Bytes of the files under ``location`` whose names end with ``suffix``."""
    return sum(size for rel, size in files_under(location) if rel.endswith(suffix))


def remove(location: str) -> None:
    """Remove the file or folder tree at ``location`` (nothing there: nothing to do)."""
    fs, path = resolve(location)
    info = fs.get_file_info(path)
    if info.type == pafs.FileType.File:
        fs.delete_file(path)
    elif info.type == pafs.FileType.Directory:
        try:
            fs.delete_dir(path)
        except FileNotFoundError:
            # GCS: a folder that exists only through its objects' names has no marker object, and
            # pyarrow's delete_dir fails deleting that marker once it has deleted the objects.
            if fs.get_file_info(path).type != pafs.FileType.NotFound:
                raise


def copy_file(src: str, dst: str) -> None:
    """Copy one file between any two locations (same store: the store's own copy)."""
    sfs, spath = resolve(src)
    dfs, dpath = resolve(dst)
    if sfs is dfs and not is_local(sfs):
        sfs.copy_file(spath, dpath)
        return
    pafs.copy_files(spath, dpath, source_filesystem=sfs, destination_filesystem=dfs)


def write_bytes(location: str, data: bytes) -> None:
    fs, path = resolve(location)
    with fs.open_output_stream(path) as out:
        out.write(data)


def read_bytes(location: str) -> bytes:
    fs, path = resolve(location)
    with fs.open_input_stream(path) as stream:
        return bytes(stream.read())


def children(location: str) -> list[Entry]:
    """The entries of the folder ``location`` (empty when it does not exist)."""
    fs, path = resolve(location)
    if fs.get_file_info(path).type != pafs.FileType.Directory:
        return []
    return list_dir(fs, path)


def walk(fs: pafs.FileSystem, path: str, *, descend: Callable[[Entry], bool],
         threads: int = LIST_THREADS) -> dict[str, list[Entry] | OSError]:
    """The listing of ``path`` and of every folder below it that ``descend`` accepts, listed level by
    level with ``threads`` listings at a time (each paginated by the store's client), so that a prefix
    of many folders is not listed one request after another. Keys are filesystem paths; a folder that
    could not be listed maps to its error.

    On GCS, where pyarrow cannot list a folder's sub-folders (:func:`_lists_objects_only`), the whole
    tree comes from recursive listings of ``path``: ``threads`` key ranges at once through Google's
    client (:func:`r2d2.lake.gcs.tree`), or, where that client cannot be set up, one pyarrow listing
    whose pages follow one another."""
    out: dict[str, list[Entry] | OSError] = {}
    frontier = [path]
    whole_tree = _lists_objects_only(fs)
    gcs_options = _gcs_lister(fs) if whole_tree else None

    def one(folder: str) -> dict[str, list[Entry]] | OSError:
        try:
            if gcs_options is not None:
                from r2d2.lake import gcs

                return gcs.tree(gcs_options, folder, threads=max(1, threads))
            return _gcs_tree(fs, folder) if whole_tree else {folder: list_dir(fs, folder)}
        except OSError as exc:
            return exc

    with ThreadPoolExecutor(max(1, threads), thread_name_prefix="r2d2-list") as pool:
        while frontier:
            level = frontier
            frontier = []
            for folder, listed in zip(level, pool.map(one, level), strict=True):
                if isinstance(listed, OSError):
                    out[folder] = listed
                    continue
                todo = [folder]  # a GCS listing holds the whole tree below folder: no need to list again
                while todo:
                    current = todo.pop()
                    out[current] = listed[current]
                    for e in listed[current]:
                        if e.is_dir and not e.is_link and e.path not in out and descend(e):
                            (todo if e.path in listed else frontier).append(e.path)
    return out


class Listing:
    """Listings of a tree fetched ahead (:func:`walk`), served folder by folder like :func:`list_dir`."""

    def __init__(self, fs: pafs.FileSystem, listed: Mapping[str, list[Entry] | OSError]) -> None:
        self.fs = fs
        self.listed = dict(listed)

    def list_dir(self, path: str) -> list[Entry]:
        found = self.listed.pop(path, None)
        if found is None:
            return list_dir(self.fs, path)
        if isinstance(found, OSError):
            raise found
        return found


def dataset(location: str, **kwargs: object):  # -> pyarrow.dataset.Dataset
    """A Parquet dataset at ``location`` (a folder of part files) on its filesystem."""
    import pyarrow.dataset as ds

    fs, path = resolve(location)
    return ds.dataset(path, filesystem=fs, format="parquet", **kwargs)


def modified_ns(location: str) -> int | None:
    """Last change of the file or folder at ``location`` (a folder on an object store: its newest
    object); None when nothing is there."""
    fs, path = resolve(location)
    info = fs.get_file_info(path)
    if info.type == pafs.FileType.NotFound:
        return None
    if info.mtime_ns is not None:
        return int(info.mtime_ns)
    found = fs.get_file_info(pafs.FileSelector(path, recursive=True, allow_not_found=True))
    times = [i.mtime_ns for i in found if i.mtime_ns is not None]
    return max(times) if times else 0
