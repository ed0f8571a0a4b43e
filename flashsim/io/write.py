"""Writing NanoAOD-style TTrees, atomically.

:class:`NanoAODWriter` takes chunks of events (a mapping of event-level branches and collections,
see :meth:`NanoAODWriter.extend`) and writes one TTree in the NanoAOD layout: a collection
``Jet`` becomes a counter branch ``nJet`` (int32) and one jagged branch per field (``Jet_pt``,
``Jet_genJetIdx``, ...). The file appears under its final name only when everything was written;
an interrupted job leaves nothing behind. :func:`check_output_path` checks an output before any
expensive work starts.

Only regular files are ever replaced (:func:`flashsim.atomic.check_replaceable`): an output that is
a device such as ``/dev/null``, a FIFO, a socket, a directory or a symbolic link is refused, both
before the run and again just before the rename. The temporary file is created exclusively
(``O_EXCL | O_NOFOLLOW``, a random name, :func:`flashsim.atomic.exclusive_temporary`) and written
through its descriptor, so a symbolic link planted at its name is never followed; temporaries
left by killed runs are removed by the next writer of the same output
(:func:`flashsim.atomic.remove_stale_temporaries`).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, TypeAlias

import awkward as ak
import numpy as np
import uproot

from flashsim.atomic import check_replaceable, exclusive_temporary, remove_stale_temporaries
from flashsim.exceptions import OutputError
from flashsim.io.paths import check_output_path
from flashsim.io.provenance import PROVENANCE_KEY

__all__ = ["DEFAULT_COMPRESSION", "NanoAODWriter", "check_output_path"]

DEFAULT_COMPRESSION = uproot.ZSTD(1)
"""Compression of the files we write: as small as ZLIB level 1 and about 7x faster to write."""

_DISK_FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT}

# A column's identity, compared between chunks: the dtype of an event-level branch, or the
# field -> dtype mapping of a collection.
_Signature: TypeAlias = "np.dtype | dict[str, np.dtype]"


@contextlib.contextmanager
def _disk_full_as_output_error(path: Path) -> Iterator[None]:
    """Re-raise a full disk or quota as an :class:`OutputError` naming ``path``."""
    try:
        yield
    except OSError as err:
        if err.errno in _DISK_FULL_ERRNOS:
            msg = f"disk full while writing {path} ({err.strerror}); free space or write elsewhere"
            raise OutputError(msg) from err
        raise


class NanoAODWriter:
    """Write chunks of events to a NanoAOD-style TTree, atomically.

    The events go to a temporary file ``.NAME.tmp-<host>-<pid>-<random>`` beside the output,
    created exclusively (:func:`flashsim.atomic.exclusive_temporary`) and written through its
    descriptor, which is renamed to the output when the ``with`` block ends normally (after
    checking again that the output, if it exists, is a regular file). On any exception, including
    :class:`KeyboardInterrupt` and :class:`SystemExit` (the command line turns SIGTERM into one,
    see :func:`flashsim.cli.signals.install_termination_handler`), the temporary file is deleted
    and an existing output is left untouched.

    Arguments:
        path: the output ROOT file; checked with :func:`check_output_path` on construction.
        tree: the name of the TTree.
        overwrite: whether an existing output may be replaced.
        metadata: JSON-serialisable provenance, stored as the JSON string ``flashsim_provenance``
            and read back by :func:`~flashsim.io.provenance.read_provenance`.
        compression: the baskets' compression (an ``uproot.compression.Compression``); the
            default, ZSTD level 1, writes files as small as ZLIB level 1 (uproot's default)
            about seven times faster, and ROOT reads it since 6.20.

    Raises:
        OutputError: the output cannot be written (see :func:`check_output_path`), or the disk
            filled up while writing.
        TypeError: ``metadata`` is not JSON-serialisable.

    Example:
        >>> with NanoAODWriter(path, metadata={"seed": 1}) as writer:  # doctest: +SKIP
        ...     writer.extend({"run": run, "Jet": ak.zip({"pt": pt, "eta": eta})})
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        tree: str = "Events",
        overwrite: bool = False,
        metadata: Mapping[str, Any] | None = None,
        compression: Any = DEFAULT_COMPRESSION,
    ) -> None:
        self.path = check_output_path(path, overwrite=overwrite)
        self.compression = compression
        self.tree_name = tree
        self.overwrite = overwrite
        self.n_events = 0
        self._provenance: str | None = None
        if metadata is not None:
            self.set_metadata(metadata)
        self._tmp: Path | None = None
        self._file: Any = None
        self._tree: Any = None
        self._signature: dict[str, _Signature] | None = None

    def set_metadata(self, metadata: Mapping[str, Any]) -> None:
        """Replace the provenance record; it is written when the ``with`` block ends.

        Raises:
            TypeError: ``metadata`` is not JSON-serialisable.
        """
        try:
            self._provenance = json.dumps(dict(metadata), sort_keys=True)
        except (TypeError, ValueError) as err:
            msg = f"metadata for {self.path} is not JSON-serialisable: {err}"
            raise TypeError(msg) from err

    def __enter__(self) -> NanoAODWriter:
        if self._file is not None:
            msg = f"the writer for {self.path} is already open"
            raise RuntimeError(msg)
        remove_stale_temporaries(self.path.parent, self.path.name)
        # One try block around the creation: SIGTERM (Terminated) can arrive at any statement,
        # also between the temporary's creation and the point where __exit__ would see it
        # (__exit__ does not run for a failed __enter__), so the temporary is removed here.
        tmp: Path | None = None
        stream: Any = None
        try:
            # uproot writes through a file object on our exclusively created descriptor:
            # reopening the temporary by name could follow a link planted there meanwhile.
            with exclusive_temporary(self.path) as (fd, tmp):
                stream = os.fdopen(os.dup(fd), "r+b")
            self._tmp = tmp
            with _disk_full_as_output_error(self.path):
                self._file = uproot.recreate(stream, compression=self.compression)
        except BaseException as err:
            self._tmp = None
            if stream is not None:
                _close_quietly(stream)
            if tmp is not None:
                _unlink_quietly(tmp)
            if isinstance(err, OSError):
                msg = f"cannot write {self.path}: {err.strerror or err}"
                raise OutputError(msg) from err
            raise
        return self

    def extend(self, chunk: Mapping[str, np.ndarray | ak.Array]) -> None:
        """Append one chunk of events.

        Arguments:
            chunk: maps names to columns, all with the same number of events (zero is fine).
                A name is either an event-level branch (``run``, ``genWeight``, ``MET_pt``) with
                a 1-D numpy or flat awkward array, or a collection (``Jet``, ``GenPart``; no
                underscore) with a jagged awkward record array, ``ak.zip({"pt": ..., ...})``,
                one list per event, whose fields are numbers or booleans. A collection
                ``Jet`` is written as the counter ``nJet`` (int32) and ``Jet_<field>`` branches.

        Raises:
            ValueError: a column has an unsupported type, the columns differ in length, or the
                names or types differ from those of the first chunk.
            OutputError: the disk filled up.
        """
        if self._file is None:
            msg = "NanoAODWriter.extend needs an open writer: use `with NanoAODWriter(...) as w:`"
            raise RuntimeError(msg)
        data, signature, n_events = _prepare_chunk(chunk)
        with _disk_full_as_output_error(self.path):
            if self._signature is None:
                self._tree = self._file.mktree(
                    self.tree_name,
                    {name: _branch_type(column) for name, column in data.items()},
                    counter_name=_counter_name,
                    field_name=_field_name,
                )
                self._signature = signature
            elif signature != self._signature:
                msg = (
                    f"chunk for {self.path} does not match the first chunk: "
                    f"{_describe_difference(self._signature, signature)}"
                )
                raise ValueError(msg)
            if n_events:
                self._tree.extend(data)
        self.n_events += n_events

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        file, self._file = self._file, None
        tmp = self._tmp
        if tmp is None:
            return
        if exc_type is not None:
            _close_quietly(file)
            _unlink_quietly(tmp)
            return
        try:
            if self._signature is None:
                msg = f"nothing was written to {self.path}: call extend() at least once"
                raise RuntimeError(msg)
            with _disk_full_as_output_error(self.path):
                if self._provenance is not None:
                    file[PROVENANCE_KEY] = self._provenance
                file.close()
            if not self.overwrite and os.path.lexists(self.path):
                msg = f"output {self.path} appeared while writing; pass --overwrite to replace it"
                raise OutputError(msg)
            check_replaceable(self.path)
            os.replace(tmp, self.path)
        except BaseException:
            _close_quietly(file)
            _unlink_quietly(tmp)
            raise


def _counter_name(collection: str) -> str:
    return "n" + collection


def _field_name(outer: str, inner: str) -> str:
    return inner if outer == "" else outer + "_" + inner


def _prepare_chunk(
    chunk: Mapping[str, np.ndarray | ak.Array],
) -> tuple[dict[str, np.ndarray | ak.Array], dict[str, _Signature], int]:
    """Check a chunk's columns; return them, their signature and the number of events."""
    if not chunk:
        msg = "a chunk needs at least one column"
        raise ValueError(msg)
    data: dict[str, np.ndarray | ak.Array] = {}
    signature: dict[str, _Signature] = {}
    lengths: dict[str, int] = {}
    for name, column in chunk.items():
        if isinstance(column, ak.Array) and column.ndim > 1:
            data[name], signature[name] = _prepare_collection(name, column)
        else:
            data[name], signature[name] = _prepare_flat(name, column)
        lengths[name] = len(column)
    for name, sig in signature.items():
        if isinstance(sig, dict) and _counter_name(name) in signature:
            msg = f"branch {_counter_name(name)!r} clashes with the counter of collection {name!r}"
            raise ValueError(msg)
    if len(set(lengths.values())) > 1:
        msg = f"columns of a chunk differ in length (number of events): {lengths}"
        raise ValueError(msg)
    return data, signature, next(iter(lengths.values()))


def _prepare_flat(name: str, column: np.ndarray | ak.Array) -> tuple[np.ndarray, np.dtype]:
    try:
        array = np.asarray(ak.to_numpy(column) if isinstance(column, ak.Array) else column)
    except ValueError as err:
        msg = f"column {name!r} cannot be written as a flat branch: {err}"
        raise ValueError(msg) from err
    if array.ndim != 1 or array.dtype.kind not in "biuf":
        msg = (
            f"event-level column {name!r} must be 1-D numbers or booleans, got "
            f"{array.ndim}-D {array.dtype}"
        )
        raise ValueError(msg)
    return array, array.dtype


def _prepare_collection(name: str, column: ak.Array) -> tuple[ak.Array, dict[str, np.dtype]]:
    if "_" in name:
        msg = f"collection name {name!r} must not contain '_' (NanoAOD splits branch names on it)"
        raise ValueError(msg)
    content = column.type.content
    if not (
        isinstance(content, ak.types.ListType | ak.types.RegularType)
        and isinstance(content.content, ak.types.RecordType)
        and not content.content.is_tuple
    ):
        msg = (
            f"collection {name!r} must be a jagged record array, ak.zip({{'pt': ..., ...}}) with "
            f"one list per event; got {column.type}"
        )
        raise ValueError(msg)
    fields: dict[str, np.dtype] = {}
    for field, field_type in zip(content.content.fields, content.content.contents, strict=True):
        if not isinstance(field_type, ak.types.NumpyType) or field_type.primitive in {
            "datetime64",
            "timedelta64",
            "complex64",
            "complex128",
        }:
            msg = f"field {name}.{field} must hold plain numbers or booleans, got {field_type}"
            raise ValueError(msg)
        fields[field] = np.dtype(field_type.primitive)
    packed = ak.to_packed(ak.without_parameters(column))
    if isinstance(content, ak.types.RegularType):
        packed = ak.from_regular(packed, axis=1)
    return packed, fields


def _branch_type(column: np.ndarray | ak.Array) -> Any:
    if isinstance(column, ak.Array):
        return column.type.content
    return column.dtype


def _describe_difference(first: dict[str, _Signature], other: dict[str, _Signature]) -> str:
    problems = []
    if missing := sorted(first.keys() - other.keys()):
        problems.append(f"missing {missing}")
    if extra := sorted(other.keys() - first.keys()):
        problems.append(f"unexpected {extra}")
    problems.extend(
        f"{name!r} is {_show(other[name])}, was {_show(first[name])}"
        for name in sorted(first.keys() & other.keys())
        if first[name] != other[name]
    )
    return "; ".join(problems)


def _show(signature: _Signature) -> str:
    if isinstance(signature, dict):
        return "{" + ", ".join(f"{k}: {v}" for k, v in signature.items()) + "}"
    return str(signature)


def _close_quietly(file: Any) -> None:
    if file is not None:
        with contextlib.suppress(Exception):
            file.close()


def _unlink_quietly(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink(missing_ok=True)
