"""Reading events from ROOT files and writing NanoAOD-style TTrees, atomically.

Writing: :class:`NanoAODWriter` takes chunks of events (a mapping of event-level branches and
collections, see :meth:`NanoAODWriter.extend`) and writes one TTree in the NanoAOD layout: a
collection ``Jet`` becomes a counter branch ``nJet`` (int32) and one jagged branch per field
(``Jet_pt``, ``Jet_genJetIdx``, ...). The file appears under its final name only when everything
was written; an interrupted job leaves nothing behind.

Reading: :func:`open_events` and :func:`require_branches` turn the usual ways an input can be wrong
into one-line :class:`~flashsim.exceptions.InputError` messages.
"""

from __future__ import annotations

import contextlib
import difflib
import errno
import json
import os
import secrets
import signal
import threading
from collections.abc import Collection, Iterable, Iterator, Mapping
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, TypeAlias

import awkward as ak
import numpy as np
import uproot

from flashsim.exceptions import InputError, OutputError, Terminated

__all__ = [
    "DEFAULT_COMPRESSION",
    "PROVENANCE_KEY",
    "NanoAODWriter",
    "check_branch_layout",
    "check_output_path",
    "close_names",
    "from_nanoevents",
    "install_termination_handler",
    "missing_field",
    "open_events",
    "read_entries",
    "read_provenance",
    "require_branches",
]

PROVENANCE_KEY = "flashsim_provenance"
"""Name of the JSON string (TObjString) that records how a file was made."""

DEFAULT_COMPRESSION = uproot.ZSTD(1)
"""Compression of the files we write: as small as ZLIB level 1 and about 7x faster to write."""

_ROOT_MAGIC = b"root"
_DISK_FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT}

# A column's identity, compared between chunks: the dtype of an event-level branch, or the
# field -> dtype mapping of a collection.
_Signature: TypeAlias = "np.dtype | dict[str, np.dtype]"


def check_output_path(path: str | os.PathLike[str], *, overwrite: bool) -> Path:
    """Check that an output file can be written, before any expensive work starts.

    Arguments:
        path: the output file.
        overwrite: whether an existing file at ``path`` may be replaced.

    Returns:
        ``path`` as a :class:`pathlib.Path`.

    Raises:
        OutputError: ``path`` exists and ``overwrite`` is false, ``path`` is a directory, or its
            parent directory does not exist or is not writable.
    """
    out = Path(path)
    if out.is_dir():
        msg = f"output {out} is a directory; give a file name such as {out / 'events.root'}"
        raise OutputError(msg)
    if (out.exists() or out.is_symlink()) and not overwrite:
        msg = f"output {out} exists; pass --overwrite to replace it"
        raise OutputError(msg)
    parent = out.parent
    if not parent.exists():
        msg = f"cannot write {out}: directory {parent} does not exist; create it first"
        raise OutputError(msg)
    if not parent.is_dir():
        msg = f"cannot write {out}: {parent} is not a directory"
        raise OutputError(msg)
    if not os.access(parent, os.W_OK | os.X_OK):
        msg = f"cannot write {out}: directory {parent} is not writable; choose another output path"
        raise OutputError(msg)
    return out


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

    The events go to a temporary file ``.NAME.tmp-<pid>-<random>`` beside the output, which is
    renamed to the output when the ``with`` block ends normally. On any exception, including
    :class:`KeyboardInterrupt` and :class:`SystemExit` (see :func:`install_termination_handler`
    for SIGTERM), the temporary file is deleted and an existing output is left untouched.

    Arguments:
        path: the output ROOT file; checked with :func:`check_output_path` on construction.
        tree: the name of the TTree.
        overwrite: whether an existing output may be replaced.
        metadata: JSON-serialisable provenance, stored as the JSON string ``flashsim_provenance``
            and read back by :func:`read_provenance`.
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
        name = f".{self.path.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}"
        self._tmp = self.path.parent / name
        try:
            with _disk_full_as_output_error(self.path):
                self._file = uproot.recreate(self._tmp, compression=self.compression)
        except OSError as err:
            _unlink_quietly(self._tmp)
            msg = f"cannot write {self.path}: {err.strerror or err}"
            raise OutputError(msg) from err
        except BaseException:
            # e.g. SIGTERM (Terminated) while uproot creates the file: __exit__ will not run
            # for a failed __enter__, so the temporary file is removed here.
            _unlink_quietly(self._tmp)
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
            if not self.overwrite and self.path.exists():
                msg = f"output {self.path} appeared while writing; pass --overwrite to replace it"
                raise OutputError(msg)
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


def read_provenance(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Return the metadata that :class:`NanoAODWriter` stored in ``path``.

    Raises:
        InputError: the file cannot be read, or holds no ``flashsim_provenance`` record.
    """
    file = _open_root_file(Path(path))
    with file:
        if PROVENANCE_KEY not in file:
            msg = f"{path} has no {PROVENANCE_KEY} record; was it written by flashsim?"
            raise InputError(msg)
        text = str(file[PROVENANCE_KEY])
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        msg = f"{path}: the {PROVENANCE_KEY} record is not valid JSON ({err})"
        raise InputError(msg) from err


@contextlib.contextmanager
def install_termination_handler() -> Iterator[None]:
    """Within the block, turn SIGTERM into a :class:`~flashsim.exceptions.Terminated` exception.

    The exception unwinds the stack, so ``with NanoAODWriter(...)`` blocks delete their temporary
    files before the process ends (status 143). A second SIGTERM while unwinding is ignored so
    that the cleanup can finish. The previous handler is restored on exit. Outside the main
    thread (where Python cannot install signal handlers) this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _raise_terminated(signum: int, frame: FrameType | None) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise Terminated

    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)


def _open_root_file(path: Path) -> Any:
    """Open ``path`` with uproot, or raise an :class:`InputError` saying why it cannot be read."""
    if not path.exists():
        msg = f"input file {path} does not exist"
        raise InputError(msg)
    if path.is_dir():
        msg = f"input {path} is a directory, not a ROOT file"
        raise InputError(msg)
    try:
        with path.open("rb") as stream:
            magic = stream.read(len(_ROOT_MAGIC))
    except OSError as err:
        msg = f"cannot read input file {path}: {err.strerror or err}"
        raise InputError(msg) from err
    if magic != _ROOT_MAGIC:
        msg = f"input file {path} is not a ROOT file (it does not start with {_ROOT_MAGIC!r})"
        raise InputError(msg)
    try:
        # Plain file reads in threads: uproot's default (fsspec) reads through an asyncio loop
        # that, stopped by SIGTERM mid-read, prints "coroutine ... was never awaited" at exit.
        return uproot.open(path, handler=uproot.MultithreadedFileSource)
    except Exception as err:
        reason = (str(err).splitlines() or [type(err).__name__])[0].rstrip(",")
        msg = f"input file {path} is corrupted or truncated: {reason}"
        raise InputError(msg) from err


def open_events(path: str | os.PathLike[str], *, tree: str = "Events") -> Any:
    """Open the TTree ``tree`` of a ROOT file for reading.

    Returns:
        the ``uproot.TTree``; its file stays open until ``tree.file.close()``.

    Raises:
        InputError: the file is missing, is not a ROOT file or is corrupted, or has no TTree
            called ``tree`` (the message lists the trees it has).
    """
    file_path = Path(path)
    file = _open_root_file(file_path)
    try:
        classname = file.classname_of(tree) if tree in file else None
        if classname != "TTree":
            trees = ", ".join(file.keys(filter_classname="TTree", cycle=False)) or "none"
            what = "no tree" if classname is None else f"a {classname}, not a TTree, as"
            msg = f"input file {file_path} has {what} {tree!r}; trees in the file: {trees}"
            raise InputError(msg)
        return file[tree]
    except InputError:
        file.close()
        raise
    except Exception as err:
        file.close()
        reason = (str(err).splitlines() or [type(err).__name__])[0].rstrip(",")
        msg = f"input file {file_path} is corrupted: cannot read tree {tree!r}: {reason}"
        raise InputError(msg) from err


def close_names(name: str, available: Iterable[str]) -> list[str]:
    """Up to three names of ``available`` close to ``name`` (case-insensitive), for "did you
    mean" hints."""
    by_lower = {n.lower(): n for n in sorted(available)}
    return [by_lower[c] for c in difflib.get_close_matches(name.lower(), by_lower, 3, 0.8)]


def require_branches(tree: Any, names: Collection[str]) -> None:
    """Check that an uproot TTree has every branch in ``names``.

    Raises:
        InputError: naming each missing branch, with close existing names as suggestions.
    """
    available = set(tree.keys())
    missing = [name for name in names if name not in available]
    if not missing:
        return
    described = []
    for name in missing:
        close = close_names(name, available)
        hint = f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""
        described.append(f"{name!r}{hint}")
    source = f"{tree.file.file_path}:{tree.name}" if hasattr(tree, "file") else str(tree.name)
    plural = "es" if len(missing) > 1 else ""
    msg = f"input {source} lacks branch{plural} {', '.join(described)}"
    raise InputError(msg)


def check_branch_layout(
    tree: Any,
    required: Collection[str],
    flat: Collection[str],
    passthrough: Collection[str],
    *,
    booleans: Collection[str] = (),
) -> None:
    """Check that the branches a job reads have the types and shapes it expects.

    Arguments:
        tree: the uproot TTree.
        required: the branches the models read: numbers (integers or floats); jagged (a
            collection field ``X_f`` with its counter ``nX``) unless listed in ``flat``.
        flat: the branches of ``required`` with one number per event.
        passthrough: branches copied to the output: numbers or booleans, flat or collection
            fields.
        booleans: branches of ``required`` that may hold booleans (reco ID flags).

    Raises:
        InputError: naming the branch, what it holds and what was expected.
    """
    source = f"{tree.file.file_path}:{tree.name}" if hasattr(tree, "file") else str(tree.name)
    names = set(tree.keys())
    for name in sorted(set(required) | set(passthrough)):
        if name not in names:
            continue
        jagged, dtype = _branch_layout(tree[name])
        allowed = "iuf" if name in required and name not in booleans else "iufb"
        if dtype is None or dtype.kind not in allowed:
            what = "numbers" if name in required else "numbers or booleans"
            msg = (
                f"input {source}: branch {name!r} holds {_describe_type(tree[name], dtype)}; "
                f"flashsim expects {what} there: fix the file or the branch name"
            )
            raise InputError(msg)
        prefix, _, inner = name.partition("_")
        if name in required:
            want_jagged = name not in flat
            if jagged != want_jagged:
                shape = "one list per event" if jagged else "one number per event"
                want = (
                    f"a field of collection {prefix} (counter n{prefix}, one list per event)"
                    if want_jagged
                    else "one number per event"
                )
                msg = f"input {source}: branch {name!r} has {shape}; flashsim expects {want}"
                raise InputError(msg)
        if jagged and (not inner or f"n{prefix}" not in names):
            msg = (
                f"input {source}: branch {name!r} is jagged but not a NanoAOD collection field "
                f"(X_field with a counter nX); rename it, or drop it from the spec's passthrough"
            )
            raise InputError(msg)


def _branch_layout(branch: Any) -> tuple[bool, np.dtype | None]:
    """(jagged?, dtype of the numbers) of an uproot branch; dtype ``None`` when not numbers."""
    interpretation = branch.interpretation
    jagged = isinstance(interpretation, uproot.AsJagged)
    inner = interpretation.content if jagged else interpretation
    if not isinstance(inner, uproot.AsDtype):
        return jagged, None
    dtype = np.dtype(inner.to_dtype)
    if dtype.shape or dtype.names:  # fixed-size arrays or structs per entry
        return jagged, None
    return jagged, dtype


def _describe_type(branch: Any, dtype: np.dtype | None) -> str:
    if dtype is not None:
        return f"{dtype.name} values"
    typename = getattr(branch, "typename", None) or type(branch.interpretation).__name__
    return f"values of type {typename}"


def read_entries(
    tree: Any,
    branches: Collection[str] | None,
    entry_start: int = 0,
    entry_stop: int | None = None,
    *,
    library: str = "ak",
) -> Any:
    """Entries ``[entry_start, entry_stop)`` of ``branches`` (all when ``None``) of an uproot
    TTree, as ``tree.arrays`` returns them for ``library``; a basket that cannot be read or
    decompressed is an :class:`InputError`.
    """
    entry_stop = tree.num_entries if entry_stop is None else entry_stop
    try:
        return tree.arrays(
            None if branches is None else list(branches),
            entry_start=entry_start,
            entry_stop=entry_stop,
            library=library,
        )
    except (MemoryError, KeyboardInterrupt, uproot.exceptions.KeyInFileError):
        raise
    except Exception as err:
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0].rstrip(",:")
        msg = (
            f"input {tree.file.file_path} is corrupted: cannot read entries {entry_start}-"
            f"{entry_stop - 1} of tree {tree.name!r} ({type(err).__name__}: {reason}); re-copy "
            "or regenerate it"
        )
        raise InputError(msg) from err


def missing_field(err: AttributeError) -> str | None:
    """The field name when ``err`` is awkward's "no field named 'x'", else ``None``."""
    text = str(err)
    prefix = "no field named "
    return text[len(prefix) :].strip("'\"") if text.startswith(prefix) else None


def from_nanoevents(events: Any, branches: Collection[str]) -> ak.Array:
    """The gen-level events :meth:`flashsim.pipeline.Pipeline.apply` takes, from coffea NanoEvents.

    Inside a coffea processor the events come as NanoEvents (``events.GenJet.pt``,
    ``events.Pileup.nTrueInt``); the pipeline reads NanoAOD branch names (``GenJet_pt``,
    ``Pileup_nTrueInt``) grouped by :func:`zip_collections`. This picks ``branches`` (e.g.
    ``pipeline.required_branches()``) out of the NanoEvents, without coffea's behaviours::

        gen = from_nanoevents(events, pipeline.required_branches())
        reco, counters = pipeline.apply(gen, np.random.default_rng(seed))

    The result equals ``zip_collections`` of the same branches read with uproot, so the output
    for a given generator is the same as ``flashsim run``'s.

    Raises:
        InputError: a branch is not in the events (named, with the fields that are).
    """
    fields = set(events.fields)
    collections: dict[str, dict[str, ak.Array]] = {}
    flat: dict[str, ak.Array] = {}
    for name in sorted(branches):
        prefix, _, inner = name.partition("_")
        if inner and prefix in fields and inner in events[prefix].fields:
            value = ak.without_parameters(events[prefix][inner])
        elif name in fields:
            value = ak.without_parameters(events[name])
        else:
            available = ", ".join(sorted(fields))
            msg = f"the events have no {name!r} (fields: {available}); is this the gen-level input?"
            raise InputError(msg)
        if value.ndim > 1:
            collections.setdefault(prefix, {})[inner] = value
        else:
            flat[name] = value
    return _zip_events(flat, collections)


def zip_collections(arrays: ak.Array) -> ak.Array:
    """Group flat NanoAOD branches into collections: ``Jet_pt`` -> ``events.Jet.pt``.

    Every ``X_*`` branch whose collection has a counter ``nX`` becomes a field of the jagged
    record ``X``; the counters are dropped and other branches (``run``, ``MET_pt``) stay flat.
    """
    fields = set(arrays.fields)
    collections: dict[str, dict[str, ak.Array]] = {}
    flat: dict[str, ak.Array] = {}
    for name in arrays.fields:
        prefix, _, inner = name.partition("_")
        if inner and f"n{prefix}" in fields and arrays[name].ndim > 1:
            collections.setdefault(prefix, {})[inner] = arrays[name]
        elif not (name.startswith("n") and any(f.startswith(name[1:] + "_") for f in fields)):
            flat[name] = arrays[name]
    return _zip_events(flat, collections)


def _zip_events(
    flat: dict[str, ak.Array], collections: Mapping[str, Mapping[str, ak.Array]]
) -> ak.Array:
    """One record per event: the flat branches, and each collection's fields zipped."""
    for prefix, members in collections.items():
        flat[prefix] = ak.zip(dict(members))
    return ak.zip(flat, depth_limit=1)
