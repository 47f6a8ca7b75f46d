"""A tlog-tiles log on the file system, and reading one over HTTP.

Layout of a log directory (servable as static files by any HTTP server)::

    checkpoint              latest signed checkpoint
    checkpoint.<N>          every checkpoint the log signed, by tree size
    tile/<L>/<N>[.p/<W>]    Merkle tiles
    tile/entries/<N>[.p/<W>] entry bundles
    .attestkit-log          state: origin, vkey, the sequenced size and its root (JSON, not secret)
    .lock                   the writer lock (fcntl)

The log key lives outside the directory (default ``<DIR>.key``) so publishing the
directory never publishes the key.

Crash safety: tiles and bundles are written first (each to a temporary file, fsynced,
renamed, directories fsynced), then the state, then ``checkpoint.<N>``, then
``checkpoint``. Every write command first checks that the state, the tiles and the last
signed checkpoint agree; it repairs what an interrupted command left half done and refuses
anything else.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import re
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from attestkit.adapters.files import open_fresh, read_bounded, refuse_in_dev
from attestkit.adapters.secret_files import read_private_file, shown_secret_reference
from attestkit.core.crypto.keys import PrivateKey
from attestkit.core.textsafe import shown_argument
from attestkit.core.tlog.audit import AuditReport, audit_log, check_consistent
from attestkit.core.tlog.checkpoint import Checkpoint, SignedCheckpoint, open_checkpoint
from attestkit.core.tlog.merkle import EMPTY_ROOT, inclusion_proof, tree_hash, verify_inclusion
from attestkit.core.tlog.note import (
    ALG_ED25519,
    Signer,
    Verifier,
    b64decode,
    b64encode,
    parse_skey,
    parse_vkey,
    signer_from_key,
)
from attestkit.core.tlog.tiles import TILE_WIDTH, TileHashSource, append_tiles, split_tile, tile_path, tile_width
from attestkit.errors import (
    AttestkitError,
    FetchError,
    InputFileError,
    LogCorruptError,
    LogStateError,
    TlogConfigError,
)

if TYPE_CHECKING:
    from attestkit.adapters.http import HttpClient

STATE_FILE = ".attestkit-log"
LOCK_FILE = ".lock"
TMP_DIR = ".tmp"
STATE_FORMAT = "attestkit-log/v1"
_HISTORY = re.compile(r"checkpoint\.(0|[1-9][0-9]*)\Z")
MAX_TILE_BYTES = TILE_WIDTH * 32
MAX_BUNDLE_BYTES = TILE_WIDTH * (2 + 0xFFFF)
MAX_CHECKPOINT_BYTES = 1 << 20


def default_key_path(directory: str) -> str:
    """Where ``log init`` puts the log key by default: next to the directory, never inside it."""
    return os.path.abspath(directory).rstrip("/") + ".key"


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _read(path: str, what: str, limit: int) -> bytes:
    # A log directory may be a copy from anywhere: a FIFO or device in it is refused (opened
    # without blocking), never waited on.
    if not os.path.lexists(path):
        raise LogCorruptError(f"{path}: {what} is missing")
    try:
        return read_bounded(path, what, limit, regular_only=True)
    except InputFileError as exc:
        if exc.code == "too-large":
            raise LogCorruptError(f"{path}: {what} is larger than {limit} bytes") from None
        raise


def _own_directory(path: str) -> bool:
    """Whether *path* is a directory itself (not a link to one); a link or other file is refused."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return False
    if not stat.S_ISDIR(info.st_mode):
        raise LogStateError(f"{path}: is not a directory of the log's own (a link or a file); remove it")
    return True


def read_key_file(path: str, *, alg: int = ALG_ED25519) -> Signer:
    """Load an skey file; refuse one readable by group or others.

    A *path* that may be the key itself pasted in its place (``--key "$(cat log.key)"``) is
    described, never repeated (:func:`~attestkit.adapters.secret_files.shown_secret_reference`).
    """
    if not os.path.lexists(path):
        raise LogStateError(f"{shown_secret_reference(path, 'key file')}: key file not found")
    data = read_private_file(path, "key file", 4096)  # the chmod 600 refusal every secret file gets
    shown = shown_argument(path, "key file")
    try:
        signer = parse_skey(data.decode("ascii"))
    except (UnicodeDecodeError, TlogConfigError):
        raise TlogConfigError(f"{shown}: not a note signing key (PRIVATE+KEY+name+id+key)") from None
    if signer.alg != alg:
        raise TlogConfigError(f"{shown}: key has signature type 0x{signer.alg:02x}, expected 0x{alg:02x}")
    return signer


def write_key_file(path: str, signer: Signer) -> None:
    """Write an skey with mode 0600; never overwrite an existing key (nor make one in /dev)."""
    refuse_in_dev(os.path.dirname(path), path)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise LogStateError(f"{path}: a key file already exists; refusing to overwrite it") from None
    except OSError as exc:
        raise InputFileError(f"{path}: cannot write key: {exc.strerror}") from None
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(signer.skey + "\n")
        handle.flush()
        os.fsync(handle.fileno())


@dataclass(frozen=True)
class LogState:
    """The sequenced size of the log, its root, and who it is."""

    origin: str
    vkey: str
    size: int
    root: bytes

    def encode(self) -> bytes:
        """The state file's bytes."""
        value = {
            "format": STATE_FORMAT,
            "origin": self.origin,
            "vkey": self.vkey,
            "size": self.size,
            "root": b64encode(self.root),
        }
        return (json.dumps(value, indent=1) + "\n").encode()


class FileLog:
    """A log directory; reads need no lock, writes run inside :meth:`writer`."""

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self._lock_fd: int | None = None

    # ---- reading ------------------------------------------------------------------

    def path(self, relative: str) -> str:
        """An absolute path inside the log."""
        return os.path.join(self.directory, relative)

    def read_tile(self, level: int | None, index: int, width: int) -> bytes:
        """A tile or entry bundle; a missing or oversized one is corruption."""
        relative = tile_path(level, index, width)
        limit = MAX_BUNDLE_BYTES if level is None else MAX_TILE_BYTES
        return _read(self.path(relative), "tile" if level is not None else "entry bundle", limit)

    def state(self) -> LogState:
        """The state file; refuse a directory that is not an attestkit log."""
        path = self.path(STATE_FILE)
        if not os.path.isdir(self.directory):
            raise LogStateError(f"{self.directory}: no such log directory")
        if not os.path.exists(path):
            raise LogStateError(f"{self.directory}: not an attestkit log (no {STATE_FILE}; run 'attestkit log init')")
        try:
            value = json.loads(_read(path, "log state", 64 * 1024))
            if value.get("format") != STATE_FORMAT:
                raise ValueError("format")
            state = LogState(
                str(value["origin"]), str(value["vkey"]), int(value["size"]), b64decode(value["root"], "root")
            )
            if state.size < 0 or len(state.root) != 32:
                raise ValueError("size")
        except (ValueError, KeyError, TypeError, AttributeError):
            raise LogCorruptError(f"{path}: log state is not valid {STATE_FORMAT} JSON") from None
        return state

    def verifier(self) -> Verifier:
        """The log's public key, from its state."""
        try:
            return parse_vkey(self.state().vkey)
        except TlogConfigError as exc:
            raise LogCorruptError(f"{self.path(STATE_FILE)}: {exc}") from None

    def history(self) -> list[int]:
        """The sizes of every ``checkpoint.<N>`` file, ascending."""
        try:
            names = os.listdir(self.directory)
        except OSError as exc:
            raise LogStateError(f"{self.directory}: cannot list the log: {exc.strerror}") from None
        return sorted(int(m.group(1)) for m in map(_HISTORY.match, names) if m)

    def read_checkpoint(self, name: str, keys: Sequence[Verifier]) -> SignedCheckpoint:
        """Open a stored checkpoint file with *keys*."""
        path = self.path(name)
        try:
            return open_checkpoint(_read(path, "checkpoint", MAX_CHECKPOINT_BYTES), keys)
        except AttestkitError as exc:
            if isinstance(exc, (LogCorruptError, InputFileError)):  # already name the file
                raise
            raise LogCorruptError(f"{path}: {exc}") from None

    # ---- writing ------------------------------------------------------------------

    @contextlib.contextmanager
    def writer(self) -> Iterator[FileLog]:
        """Hold the writer lock (non-blocking: a second writer is refused, not queued)."""
        if not os.path.isdir(self.directory):
            raise LogStateError(f"{self.directory}: no such log directory")
        try:
            fd = os.open(self.path(LOCK_FILE), os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise LogStateError(f"{self.path(LOCK_FILE)}: cannot open the log's lock: {exc.strerror}") from None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                    raise LogStateError(f"{self.directory}: another attestkit command is writing this log") from None
                raise
            self._lock_fd = fd
            tmp = self.path(TMP_DIR)
            if _own_directory(tmp):
                for name in os.listdir(tmp):  # debris of an interrupted write
                    try:
                        os.unlink(os.path.join(tmp, name))
                    except OSError as exc:  # a directory: not ours
                        raise LogStateError(
                            f"{os.path.join(tmp, name)}: cannot remove it from the log's temp directory: "
                            f"{exc.strerror}; remove it"
                        ) from None
            yield self
        finally:
            self._lock_fd = None
            os.close(fd)  # releases the lock

    def _require_lock(self) -> None:
        if self._lock_fd is None:
            raise LogStateError("internal: log write outside the writer lock")

    def write_files(self, files: dict[str, bytes]) -> None:
        """Write each file atomically and durably (temp file, fsync, rename, fsync the directories)."""
        self._require_lock()
        tmp = self.path(TMP_DIR)
        if not _own_directory(tmp):
            os.mkdir(tmp)
        touched: set[str] = set()
        for number, (relative, data) in enumerate(files.items()):
            target = self.path(relative)
            parent = os.path.dirname(target)
            missing = parent
            while not os.path.isdir(missing):  # every new directory's parent must be fsynced too
                missing = os.path.dirname(missing)
                touched.add(missing)
            os.makedirs(parent, exist_ok=True)
            temp = os.path.join(tmp, f"{number}.tmp")
            with open_fresh(temp) as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            self._before_rename(relative)
            os.replace(temp, target)
            touched.add(parent)
        for directory in sorted(touched, key=len, reverse=True):
            _fsync_dir(directory)

    def _before_rename(self, relative: str) -> None:
        """A hook for crash tests: called before each file goes into place."""

    # ---- checks and commands ------------------------------------------------------

    def recover(self) -> tuple[LogState, SignedCheckpoint | None]:
        """Check state, tiles and the last signed checkpoint agree; finish an interrupted checkpoint.

        Refuses (``LogStateError``/``LogCorruptError``) a state behind the last checkpoint,
        tiles that do not give the recorded roots, or a checkpoint the log key did not sign.
        """
        self._require_lock()
        state = self.state()
        key = self.verifier()
        sizes = self.history()
        last: SignedCheckpoint | None = None
        if sizes:
            last = self.read_checkpoint(f"checkpoint.{sizes[-1]}", [key])
            if last.checkpoint.size != sizes[-1]:
                raise LogCorruptError(f"{self.path(f'checkpoint.{sizes[-1]}')}: holds size {last.checkpoint.size}")
            if last.checkpoint.origin != state.origin:
                raise LogCorruptError(f"{self.directory}: checkpoint origin differs from the log's {state.origin!r}")
            if state.size < last.checkpoint.size:
                raise LogStateError(
                    f"{self.directory}: the log state (size {state.size}) is behind the last signed checkpoint"
                    f" (size {last.checkpoint.size}); restored from an old copy? refusing to fork the log"
                )
        source = TileHashSource(state.size, self.read_tile)
        if tree_hash(source, state.size) != state.root:
            raise LogCorruptError(f"{self.directory}: the tiles do not give the root recorded for size {state.size}")
        if last is not None:
            try:
                check_consistent(last.checkpoint, Checkpoint(state.origin, state.size, state.root), self.read_tile)
            except AttestkitError as exc:
                raise LogCorruptError(
                    f"{self.directory}: tiles disagree with the last signed checkpoint: {exc}"
                ) from None
            published = self.path("checkpoint")
            current = None
            with contextlib.suppress(OSError):
                current = _read(published, "checkpoint", MAX_CHECKPOINT_BYTES)
            if current is None or current.decode("utf-8", "replace") != last.raw:
                # An interrupted `log checkpoint`: publish the last signed one again. A cosigned copy
                # of the same checkpoint (the log's own signature first) is kept as it is.
                if current is None or not self._same_checkpoint(current, key, last.checkpoint):
                    self.write_files({"checkpoint": last.raw.encode()})
        return state, last

    @staticmethod
    def _same_checkpoint(data: bytes, key: Verifier, checkpoint: Checkpoint) -> bool:
        try:
            return open_checkpoint(data, [key]).checkpoint == checkpoint
        except AttestkitError:
            return False

    def append(self, entries: Sequence[bytes]) -> tuple[int, LogState]:
        """Sequence *entries*; returns the index of the first one and the new state."""
        state, _ = self.recover()
        result = append_tiles(state.size, entries, self.read_tile)
        self.write_files(result.files)
        root = tree_hash(TileHashSource(result.size, self.read_tile), result.size)
        new_state = LogState(state.origin, state.vkey, result.size, root)
        self.write_files({STATE_FILE: new_state.encode()})
        return state.size, new_state

    def checkpoint(self, signer: Signer) -> tuple[SignedCheckpoint, bool]:
        """Sign a checkpoint of the sequenced size (consistent with the last one signed).

        Returns it and whether it is new (a checkpoint of that size already signed is reused).
        """
        state, last = self.recover()
        key = self.verifier()
        if (signer.name, signer.key_id, signer.verifier.public) != (key.name, key.key_id, key.public):
            raise TlogConfigError(f"the key is not this log's key ({key.vkey})")
        if last is not None and last.checkpoint.size == state.size:
            return last, False
        new = Checkpoint(state.origin, state.size, state.root)
        if last is not None:
            check_consistent(last.checkpoint, new, self.read_tile)
        text = new.sign(signer)
        self.write_files({f"checkpoint.{new.size}": text.encode()})
        self.write_files({"checkpoint": text.encode()})
        return open_checkpoint(text, [key]), True


def init_log(directory: str, origin: str, key_path: str) -> Signer:
    """Create an empty log in *directory* (absent or empty) with a new key at *key_path* (0600)."""
    signer = signer_from_key(origin, PrivateKey.generate())
    refuse_in_dev(directory, directory)
    if os.path.exists(directory):
        if not os.path.isdir(directory):
            raise LogStateError(f"{directory}: exists and is not a directory")
        if os.listdir(directory):
            raise LogStateError(f"{directory}: is not empty; a log starts in an empty directory")
    key_abs = os.path.abspath(key_path)
    if key_abs.startswith(os.path.abspath(directory).rstrip("/") + "/"):
        raise LogStateError(f"{key_path}: the log key must not live inside the published log directory")
    os.makedirs(directory, exist_ok=True)
    write_key_file(key_path, signer)
    log = FileLog(directory)
    state = LogState(origin, signer.verifier.vkey, 0, EMPTY_ROOT)
    with log.writer():
        log.write_files({STATE_FILE: state.encode()})
        text = Checkpoint(origin, 0, EMPTY_ROOT).sign(signer)
        log.write_files({"checkpoint.0": text.encode()})
        log.write_files({"checkpoint": text.encode()})
    return signer


def check_origin(origin: str) -> None:
    """An origin that is also a valid key name (no spaces, '+' or control characters)."""
    from attestkit.core.tlog.note import is_valid_name

    if not is_valid_name(origin) or "\n" in origin:
        raise TlogConfigError(f"origin {origin!r} must be non-empty with no spaces, '+' or control characters")


def audit_directory(log: FileLog | TileSource, key: Verifier) -> tuple[AuditReport, SignedCheckpoint]:
    """Verify a whole log: every checkpoint signature, every tile, consistency of each checkpoint with the next."""
    names = ["checkpoint", *(f"checkpoint.{n}" for n in log.history())]
    signed = [log.read_checkpoint(name, [key]) for name in names]
    latest = signed[0]
    for name, item in zip(names[1:], signed[1:], strict=True):
        if name != f"checkpoint.{item.checkpoint.size}":
            raise LogCorruptError(f"{log.path(name)}: holds the checkpoint of size {item.checkpoint.size}")
    size = max(s.checkpoint.size for s in signed)
    if isinstance(log, FileLog) and os.path.exists(log.path(STATE_FILE)):
        state = log.state()
        if state.size < size:
            raise LogCorruptError(f"{log.directory}: log state (size {state.size}) is behind its checkpoints")
        size = state.size
    distinct = list(dict.fromkeys(s.checkpoint for s in signed))  # `checkpoint` repeats its history file
    cache: dict[tuple[int | None, int, int], bytes] = {}

    def read_or_prefix(level: int | None, index: int, width: int) -> bytes:
        try:
            return log.read_tile(level, index, width)
        except LogCorruptError:
            # No partial tile for an older size (a checkpoint the log never wrote tiles for):
            # read the newest tile's prefix, so the check that follows names the real problem.
            wider = tile_width(size, 0 if level is None else level, index)
            if wider <= width:
                raise
            data = log.read_tile(level, index, wider)
            if level is None:
                from attestkit.core.tlog.tiles import decode_bundle, encode_bundle

                return encode_bundle(decode_bundle(data, wider, tile_path(None, index, wider))[:width])
            return data[: width * 32]

    def read(level: int | None, index: int, width: int) -> bytes:
        # Each checkpoint re-reads the right edge; hash tiles are small enough to keep (32 bytes an entry).
        if level is None:
            return read_or_prefix(level, index, width)
        key = (level, index, width)
        if key not in cache:
            cache[key] = read_or_prefix(level, index, width)
        return cache[key]

    report = audit_log(size, distinct, read)
    if isinstance(log, FileLog) and os.path.exists(log.path(STATE_FILE)) and report.root != log.state().root:
        raise LogCorruptError(f"{log.directory}: the tiles do not give the root in the log state")
    return report, latest


# ---- any log source: a directory or an HTTP prefix -----------------------------------


class TileSource:
    """A read-only tiled log over HTTP (``<prefix>/checkpoint``, ``<prefix>/tile/...``)."""

    def __init__(self, prefix: str, client: HttpClient | None = None) -> None:
        from attestkit.adapters.http import HttpClient

        self.prefix = prefix.rstrip("/")
        self.client = client if client is not None else HttpClient()
        self.requests = 0

    def path(self, relative: str) -> str:
        """The URL of *relative*."""
        return f"{self.prefix}/{relative}"

    def get(self, relative: str, limit: int) -> bytes | None:
        """GET a resource: its body, ``None`` for 404; anything else is a :class:`FetchError`."""
        self.requests += 1
        response = self.client.request("GET", self.path(relative), headers={"Accept-Encoding": "identity"})
        if response.status == 404:
            return None
        if response.status != 200:
            raise FetchError(f"{self.path(relative)}: HTTP {response.status}", status=response.status)
        body = response.body
        encoding = response.headers.get("content-encoding", "identity").strip().lower()
        if encoding == "gzip":
            import zlib

            inflater = zlib.decompressobj(wbits=31)
            try:
                body = inflater.decompress(body, limit + 1)
            except zlib.error:
                raise LogCorruptError(f"{self.path(relative)}: bad gzip encoding") from None
        elif encoding != "identity":
            raise FetchError(f"{self.path(relative)}: unsupported Content-Encoding {encoding[:20]!r}")
        if len(body) > limit:
            raise LogCorruptError(f"{self.path(relative)}: larger than {limit} bytes")
        return body

    def read_tile(self, level: int | None, index: int, width: int) -> bytes:
        """A tile or bundle; a missing partial tile falls back to the full one (the spec allows deleting partials)."""
        limit = MAX_BUNDLE_BYTES if level is None else MAX_TILE_BYTES
        data = self.get(tile_path(level, index, width), limit)
        if data is None and width < TILE_WIDTH:
            full = self.get(tile_path(level, index), limit)
            if full is not None:
                if level is None:
                    from attestkit.core.tlog.tiles import decode_bundle, encode_bundle

                    return encode_bundle(decode_bundle(full, TILE_WIDTH, self.path(tile_path(level, index)))[:width])
                return full[: width * 32]
        if data is None:
            raise LogCorruptError(f"{self.path(tile_path(level, index, width))}: not found")
        return data

    def history(self) -> list[int]:
        """A remote log's checkpoint history is not listable: only ``checkpoint`` is read."""
        return []

    def read_checkpoint(self, name: str, keys: Sequence[Verifier]) -> SignedCheckpoint:
        """Fetch and open a checkpoint."""
        data = self.get(name, MAX_CHECKPOINT_BYTES)
        if data is None:
            raise LogCorruptError(f"{self.path(name)}: not found")
        try:
            return open_checkpoint(data, keys)
        except AttestkitError as exc:
            raise LogCorruptError(f"{self.path(name)}: {exc}") from None


def open_source(location: str) -> FileLog | TileSource:
    """A log directory, or an ``http(s)://`` log prefix."""
    if location.startswith(("http://", "https://")):
        return TileSource(location)
    return FileLog(location)


def find_leaf(source: FileLog | TileSource, leaf: bytes, size: int) -> int | None:
    """The first index whose leaf hash is *leaf*, scanning the level-0 tiles of a tree of *size*."""
    for index in range((size + TILE_WIDTH - 1) // TILE_WIDTH):
        width = tile_width(size, 0, index)
        hashes = split_tile(source.read_tile(0, index, width), width, tile_path(0, index, width))
        for position, value in enumerate(hashes):
            if value == leaf:
                return index * TILE_WIDTH + position
    return None


def prove(
    source: FileLog | TileSource, leaf: bytes, signed: SignedCheckpoint, index: int | None = None
) -> tuple[int, list[bytes]]:
    """Index and inclusion proof of *leaf* in the checkpoint *signed*, checked before it is returned."""
    size = signed.checkpoint.size
    if index is None:
        index = find_leaf(source, leaf, size)
        if index is None:
            raise LogStateError(f"the entry is not in the log at size {size} (not appended, or not yet checkpointed)")
    tiles = TileHashSource(size, source.read_tile)
    proof = inclusion_proof(tiles, index, size)
    verify_inclusion(index, size, leaf, proof, signed.checkpoint.root)
    return index, proof


__all__ = [
    "STATE_FILE",
    "FileLog",
    "LogState",
    "TileSource",
    "audit_directory",
    "check_origin",
    "default_key_path",
    "find_leaf",
    "init_log",
    "open_source",
    "prove",
    "read_key_file",
    "write_key_file",
]
