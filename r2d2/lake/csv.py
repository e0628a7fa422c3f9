"""CSV tables: schema inference (pyarrow, first block of the first file).

The CSV rule, applied everywhere (profiling, reading, rebuilding; :mod:`r2d2.lake.arrow_read` reads
every CSV file, on the driver or in Spark's Python workers): a header row is required; an empty
field, quoted (``""``) or not, is null for every column type; quoting follows RFC 4180 (``""`` inside
a quoted field is one quote). Types are inferred by pyarrow from the first block of the table's
first file and mapped to a small set (int64, double, bool, date, timestamp with zone UTC -- naive
values are UTC wall-clock -- or string; a column with no value in that block is a string); every
file is then read with that explicit schema, so a value that does not parse, or a row with the wrong
number of fields, fails the table instead of becoming a silent null. A file with a header and no row
is a table of zero rows.
"""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.types as pat

from r2d2.errors import TableReadError
from r2d2.lake import fs as lakefs
from r2d2.lake.arrow_read import FALSE_VALUES, TRUE_VALUES
from r2d2.types import FileEntry

BLOCK_SIZE = 1 << 20


def _mapped(dtype: pa.DataType) -> pa.DataType:
    if pat.is_integer(dtype):
        return pa.int64()
    if pat.is_floating(dtype):
        return pa.float64()
    if pat.is_boolean(dtype):
        return pa.bool_()
    if pat.is_date(dtype):
        return pa.date32()
    if pat.is_timestamp(dtype):
        return pa.timestamp("us", tz="UTC")
    return pa.string()


def _check_header(location: str, names: Sequence[str]) -> None:
    def numeric(name: str) -> bool:
        try:
            float(name)
        except ValueError:
            return False
        return True

    lowered = [n.strip().lower() for n in names]
    if any(not n for n in lowered) or len(set(lowered)) != len(lowered) or all(numeric(n) for n in names):
        raise TableReadError(
            f"{location}: CSV header row missing or invalid (a header row with unique, non-empty "
            f"column names is required; got {list(names)[:10]})",
            location=location,
        )


def infer_schema(location: str, first: FileEntry) -> pa.Schema:
    """Arrow schema of a CSV table, from the first block of its first file."""
    full = lakefs.join(location, first.path)
    shown = lakefs.printable(full)
    try:
        fs, path = lakefs.resolve(full)
        compression = "gzip" if path.lower().endswith(".gz") else None
        # The reader is closed before its stream (its read-ahead must not outlive the file it reads).
        with fs.open_input_stream(path, compression=compression) as stream, pacsv.open_csv(
            stream,
            read_options=pacsv.ReadOptions(block_size=BLOCK_SIZE),
            convert_options=pacsv.ConvertOptions(
                null_values=[""],
                strings_can_be_null=True,
                quoted_strings_can_be_null=True,
                true_values=TRUE_VALUES,
                false_values=FALSE_VALUES,
            ),
        ) as reader:
            schema = reader.schema
            reader.read_next_batch()  # parse the first block: ragged rows fail here
    except StopIteration:
        pass
    except Exception as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise TableReadError(
            f"{location}: cannot read CSV file {shown}: {reason}", location=location, path=full
        ) from exc
    _check_header(location, schema.names)
    return pa.schema([pa.field(f.name, _mapped(f.type)) for f in schema])
