"""Tile math for c2sp.org/tlog-tiles: paths, partial widths, entry bundles, tile-backed hashes.

The core never reads a file: a :class:`TileReader` callback supplies tile bytes, and
:func:`append_tiles` returns the new tiles and bundles for an adapter to write.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from attestkit.core.tlog.merkle import HASH_SIZE, leaf_hash, node_hash, root_of
from attestkit.errors import LogCorruptError, TlogConfigError

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT
MAX_ENTRY_BYTES = 0xFFFF
MAX_LEVEL = 63

# (level or None for entry bundles, tile index, width) -> bytes; raises when absent
TileReader = Callable[[int | None, int, int], bytes]


def index_path(n: int) -> str:
    """``N`` as zero-padded 3-digit elements, all but the last prefixed with ``x`` (1234067 -> x001/x234/067)."""
    if n < 0:
        raise TlogConfigError("tile index must be non-negative")
    parts = [f"{n % 1000:03d}"]
    n //= 1000
    while n:
        parts.append(f"x{n % 1000:03d}")
        n //= 1000
    return "/".join(reversed(parts))


def tile_path(level: int | None, index: int, width: int = TILE_WIDTH) -> str:
    """``tile/<L>/<N>[.p/<W>]`` or, for ``level=None``, ``tile/entries/<N>[.p/<W>]``."""
    if not 1 <= width <= TILE_WIDTH:
        raise TlogConfigError(f"tile width {width} is outside 1..256")
    if level is not None and not 0 <= level <= MAX_LEVEL:
        raise TlogConfigError(f"tile level {level} is outside 0..63")
    head = "entries" if level is None else str(level)
    suffix = "" if width == TILE_WIDTH else f".p/{width}"
    return f"tile/{head}/{index_path(index)}{suffix}"


def hashes_at_level(size: int, level: int) -> int:
    """How many tile hashes level *level* holds for a tree of *size* (complete 256^level blocks)."""
    return size >> (TILE_HEIGHT * level)


def tile_width(size: int, level: int, index: int) -> int:
    """The width of tile *index* at *level* in a tree of *size*: 256, a partial width, or 0 (absent)."""
    count = hashes_at_level(size, level)
    return max(0, min(TILE_WIDTH, count - index * TILE_WIDTH))


def tile_levels(size: int) -> int:
    """The number of tile levels that hold at least one hash."""
    level = 0
    while hashes_at_level(size, level) > 0:
        level += 1
    return level


def encode_bundle(entries: Sequence[bytes]) -> bytes:
    """An entry bundle: each entry prefixed by its big-endian uint16 length."""
    out = bytearray()
    for entry in entries:
        if len(entry) > MAX_ENTRY_BYTES:
            raise TlogConfigError(f"a log entry is at most {MAX_ENTRY_BYTES} bytes, this one is {len(entry)}")
        out += len(entry).to_bytes(2, "big") + entry
    return bytes(out)


def decode_bundle(data: bytes, expected: int, where: str = "entry bundle") -> list[bytes]:
    """Split a bundle into exactly *expected* entries; trailing or missing bytes are corruption."""
    entries: list[bytes] = []
    offset = 0
    while offset < len(data):
        if offset + 2 > len(data):
            raise LogCorruptError(f"{where}: truncated length prefix at byte {offset}")
        length = int.from_bytes(data[offset : offset + 2], "big")
        offset += 2
        if offset + length > len(data):
            raise LogCorruptError(f"{where}: entry {len(entries)} runs past the end of the bundle")
        entries.append(data[offset : offset + length])
        offset += length
    if len(entries) != expected:
        raise LogCorruptError(f"{where}: holds {len(entries)} entries, expected {expected}")
    return entries


def split_tile(data: bytes, width: int, where: str = "tile") -> list[bytes]:
    """The *width* hashes of a tile; any other length is corruption."""
    if len(data) != width * HASH_SIZE:
        raise LogCorruptError(f"{where}: is {len(data)} bytes, expected {width * HASH_SIZE} for width {width}")
    return [data[i : i + HASH_SIZE] for i in range(0, len(data), HASH_SIZE)]


def tile_root(hashes: Sequence[bytes]) -> bytes:
    """The hash a full tile contributes to the level above (the root of its 256 hashes)."""
    return root_of(hashes)


@dataclass
class TileHashSource:
    """A :class:`~attestkit.core.tlog.merkle.HashSource` reading tiles of a tree of *size*.

    Tiles are cached; ``reads`` counts tile fetches (for the O(log n) bound).
    """

    size: int
    read: TileReader
    reads: int = 0
    _cache: dict[tuple[int, int], list[bytes]] = field(default_factory=dict)

    def tile(self, level: int, index: int) -> list[bytes]:
        """The hashes of tile *index* at *level* as this tree size sees it."""
        key = (level, index)
        if key not in self._cache:
            width = tile_width(self.size, level, index)
            if width == 0:
                raise LogCorruptError(f"tile {level}/{index} does not exist at tree size {self.size}")
            self.reads += 1
            self._cache[key] = split_tile(self.read(level, index, width), width, tile_path(level, index, width))
        return self._cache[key]

    def node(self, level: int, index: int) -> bytes:
        """A complete subtree's hash, rebuilt from the tile that holds it."""
        if (index + 1) << level > self.size:
            raise LogCorruptError(f"subtree {level}/{index} is not complete at tree size {self.size}")
        tile_level, height = divmod(level, TILE_HEIGHT)
        first = index << height  # position among the tile level's hashes
        hashes = self.tile(tile_level, first // TILE_WIDTH)
        start = first % TILE_WIDTH
        span = hashes[start : start + (1 << height)]
        while len(span) > 1:
            span = [node_hash(span[i], span[i + 1]) for i in range(0, len(span), 2)]
        return span[0]


@dataclass(frozen=True)
class AppendResult:
    """What an append writes: tiles and bundles (path -> bytes) and the new leaf hashes."""

    files: dict[str, bytes]
    leaf_hashes: tuple[bytes, ...]
    size: int


def append_tiles(old_size: int, entries: Sequence[bytes], read: TileReader) -> AppendResult:
    """Compute the tiles and entry bundles that adding *entries* to a tree of *old_size* creates.

    Only the right edge is read back (the partial tile of each level and the partial bundle).
    """
    new_size = old_size + len(entries)
    files: dict[str, bytes] = {}
    leaves = [leaf_hash(e) for e in entries]
    # entry bundles
    first_bundle = old_size // TILE_WIDTH
    carried: list[bytes] = []
    if old_size % TILE_WIDTH:
        width = old_size % TILE_WIDTH
        carried = decode_bundle(read(None, first_bundle, width), width, tile_path(None, first_bundle, width))
    pending = carried + list(entries)
    for offset in range(0, len(pending), TILE_WIDTH):
        chunk = pending[offset : offset + TILE_WIDTH]
        files[tile_path(None, first_bundle + offset // TILE_WIDTH, len(chunk))] = encode_bundle(chunk)
    # hash tiles, level by level
    new_hashes = leaves
    level = 0
    while new_hashes:
        old_count = hashes_at_level(old_size, level)
        first_tile = old_count // TILE_WIDTH
        existing: list[bytes] = []
        if old_count % TILE_WIDTH:
            width = old_count % TILE_WIDTH
            existing = split_tile(read(level, first_tile, width), width, tile_path(level, first_tile, width))
        row = existing + new_hashes
        completed: list[bytes] = []
        for offset in range(0, len(row), TILE_WIDTH):
            chunk = row[offset : offset + TILE_WIDTH]
            files[tile_path(level, first_tile + offset // TILE_WIDTH, len(chunk))] = b"".join(chunk)
            if len(chunk) == TILE_WIDTH:
                completed.append(tile_root(chunk))
        new_hashes = completed
        level += 1
    return AppendResult(files, tuple(leaves), new_size)


__all__ = [
    "MAX_ENTRY_BYTES",
    "TILE_HEIGHT",
    "TILE_WIDTH",
    "AppendResult",
    "TileHashSource",
    "TileReader",
    "append_tiles",
    "decode_bundle",
    "encode_bundle",
    "hashes_at_level",
    "index_path",
    "split_tile",
    "tile_levels",
    "tile_path",
    "tile_root",
    "tile_width",
]
