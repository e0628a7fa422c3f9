"""Stream a deleted table, rebuilt from its recipe, as Parquet or Arrow IPC.

The library rebuilds (and verifies) into a *private* scratch folder that the server picks under
``<home>/api-reconstruct/<random>/`` — no path in the request reaches the filesystem. The response
body is then read from that folder: the Parquet file as is, or its record batches re-encoded as an
Arrow IPC *stream*. The folder is removed when the body has been sent or the client went away (the
generator's ``finally``), and leftovers of a killed server are removed at the next start-up.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyarrow.parquet as pq

from r2d2.catalog import Catalog
from r2d2.config import Settings
from r2d2.errors import ReconstructError

StreamFormat = Literal["parquet", "arrow"]
CHUNK_BYTES = 1 << 20
BATCH_ROWS = 64 * 1024
MEDIA_TYPES: dict[str, str] = {
    "parquet": "application/vnd.apache.parquet",
    "arrow": "application/vnd.apache.arrow.stream",
}
SUFFIXES = {"parquet": ".parquet", "arrow": ".arrows"}


def scratch_root(settings: Settings) -> Path:
    """Local (the rebuilt file is streamed from here): under the settings' local work folder."""
    return settings.work_dir / "api-reconstruct"


def clear_scratch(settings: Settings) -> None:
    """Remove rebuilds left by a server that stopped while streaming."""
    shutil.rmtree(scratch_root(settings), ignore_errors=True)


@dataclass(frozen=True)
class Rebuilt:
    """A rebuilt table in a scratch folder owned by this request."""

    folder: Path
    file: Path
    rows: int
    checksum: str

    def discard(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def rebuild(catalog: Catalog, settings: Settings, spark_factory: Callable[[], Any], location: str) -> Rebuilt:
    """Rebuild the deleted table at ``location`` (from the catalog) into a fresh scratch folder (a
    ``reconstruct`` run, as ``r2d2 reconstruct`` records)."""
    from r2d2 import operations
    from r2d2.reconstruct.rebuild import DATA_FILE

    folder = scratch_root(settings) / uuid.uuid4().hex
    folder.mkdir(parents=True, mode=0o700)
    try:
        out = operations.reconstruct(catalog, spark_factory, location, str(folder / "table")).value
        file = folder / "table" / DATA_FILE
        if not file.is_file():
            raise ReconstructError(f"{location}: the rebuild wrote no {DATA_FILE}")
        return Rebuilt(folder, file, int(out["rows"]), str(out["checksum"]))
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise


def parquet_body(rebuilt: Rebuilt) -> Iterator[bytes]:
    """The rebuilt Parquet file, in chunks; the scratch folder goes when the iterator ends or closes."""
    try:
        with rebuilt.file.open("rb") as f:
            while chunk := f.read(CHUNK_BYTES):
                yield chunk
    finally:
        rebuilt.discard()


class _Chunks:
    """A write-only file object collecting what pyarrow writes, handed out between batches."""

    closed = False

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._pos = 0

    def write(self, data: Any) -> int:
        b = bytes(data)
        self._parts.append(b)
        self._pos += len(b)
        return len(b)

    def tell(self) -> int:
        return self._pos

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True

    def writable(self) -> bool:
        return True

    def take(self) -> bytes:
        out, self._parts = b"".join(self._parts), []
        return out


def arrow_body(rebuilt: Rebuilt) -> Iterator[bytes]:
    """The rebuilt table as an Arrow IPC stream (schema, record batches, end-of-stream marker)."""
    try:
        parquet = pq.ParquetFile(str(rebuilt.file))
        sink = _Chunks()
        with pa.ipc.new_stream(sink, parquet.schema_arrow) as writer:
            for batch in parquet.iter_batches(batch_size=BATCH_ROWS):
                writer.write_batch(batch)
                if chunk := sink.take():
                    yield chunk
        if chunk := sink.take():
            yield chunk
    finally:
        rebuilt.discard()


def body(rebuilt: Rebuilt, fmt: StreamFormat) -> Iterator[bytes]:
    return parquet_body(rebuilt) if fmt == "parquet" else arrow_body(rebuilt)
