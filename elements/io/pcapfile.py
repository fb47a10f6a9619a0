"""Reading and writing libpcap capture files, the format of `tcpdump -w`.

A pcap file is a 24-byte file header (magic, version, snaplen, link type)
followed by records: a 16-byte record header (seconds, fraction, captured
length, length on the wire) and the captured bytes.  The magic number says
the byte order of every header field and whether the fraction counts
microseconds (0xa1b2c3d4) or nanoseconds (0xa1b23c4d).

`PcapReader` maps the whole file into memory and copies records straight
into a `PacketPool`, a batch at a time: one Python step per record (unpack
its 16-byte header, one buffer-to-buffer copy of its bytes), no per-packet
numpy array.  `PcapWriter` builds a batch's records in one bytearray and
writes it with one call.  FromDump and ToDump are the elements on top; the
functions here know nothing of elements or routers.

A corrupt or cut-short file never crashes a reader: the first bad record
ends the reading and `PcapReader.error` says which file, which record and
which byte offset, and what was wrong there.
"""
from __future__ import annotations

import gzip
import mmap
import os
import struct
import time

import numpy as np

MAGIC_MICRO = 0xA1B2C3D4
MAGIC_NANO = 0xA1B23C4D
_MAGIC_PCAPNG = 0x0A0D0D0A
_MAGIC_MODIFIED = 0xA1B2CD34   # Alexey Kuznetsov's patched libpcap: longer record headers

LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101             # raw IPv4 or IPv6, what libpcap writes for DLT_RAW
LINKTYPE_IPV4 = 228
_LINKTYPE_MASK = 0x03FFFFFF    # the high bits carry an FCS length, not the link type

FILE_HEADER_LEN = 24
RECORD_HEADER_LEN = 16
# libpcap's max_snaplen_for_dlt: a record that claims more is corrupt, not big.
MAX_RECORD_LEN = 262144

# ENCAP names, as Click spells them, and the link types they read and write.
ENCAP_LINKTYPES = {"ETHER": LINKTYPE_ETHERNET, "IP": LINKTYPE_RAW}
_LINKTYPE_ENCAPS = {LINKTYPE_ETHERNET: "ETHER", LINKTYPE_RAW: "IP", LINKTYPE_IPV4: "IP"}


class PcapError(Exception):
    """A pcap file that cannot be opened, read or written; the message names
    the file and, for corrupt contents, the byte offset of the trouble."""


def encap_name(linktype: int) -> str:
    """ETHER, IP, or LINKTYPE_<n> for link types FromDump passes on untouched."""
    return _LINKTYPE_ENCAPS.get(linktype, f"LINKTYPE_{linktype}")


def encap_linktype(name: str) -> int:
    """The link type of an ENCAP name (ETHER, IP, LINKTYPE_<n>); ValueError if unknown."""
    key = name.strip().upper()
    if key in ENCAP_LINKTYPES:
        return ENCAP_LINKTYPES[key]
    if key.startswith("LINKTYPE_") and key[9:].isdigit():
        return int(key[9:])
    raise ValueError(f"unknown encapsulation {name!r}; use ETHER or IP")


class PcapHeader:
    """The fields of a pcap file header."""

    __slots__ = ("byteorder", "nano", "version", "snaplen", "linktype")

    def __init__(self, byteorder: str, nano: bool, version: tuple[int, int], snaplen: int,
                 linktype: int):
        self.byteorder = byteorder   # "<" or ">"
        self.nano = nano
        self.version = version
        self.snaplen = snaplen
        self.linktype = linktype

    @property
    def encap(self) -> str:
        return encap_name(self.linktype)


def parse_file_header(head: bytes, path: str) -> PcapHeader:
    """Decode the 24-byte file header; PcapError naming `path` when it is not one."""
    if len(head) < 4:
        raise PcapError(f"'{path}' is not a pcap file: it is {len(head)} bytes long, "
                        f"shorter than the {FILE_HEADER_LEN}-byte pcap file header")
    for order in "<>":
        magic = struct.unpack_from(order + "I", head)[0]
        if magic in (MAGIC_MICRO, MAGIC_NANO):
            break
    else:
        magic = struct.unpack_from("<I", head)[0]
        if magic == _MAGIC_PCAPNG:
            raise PcapError(f"'{path}' is a pcapng file; FromDump reads pcap files: convert it "
                            f"with 'editcap -F pcap {path} out.pcap' (or tshark -F pcap)")
        if _MAGIC_MODIFIED in (magic, struct.unpack_from(">I", head)[0]):
            raise PcapError(f"'{path}' is a 'modified' (Kuznetsov) pcap file, which FromDump "
                            f"does not read; convert it with 'editcap -F pcap'")
        raise PcapError(f"'{path}' is not a pcap file: byte offset 0 holds 0x{magic:08x}, "
                        f"not the pcap magic number 0xa1b2c3d4 or 0xa1b23c4d")
    if len(head) < FILE_HEADER_LEN:
        raise PcapError(f"'{path}' is cut short at byte offset {len(head)}: the pcap file "
                        f"header needs {FILE_HEADER_LEN} bytes")
    _, major, minor, _zone, _sigfigs, snaplen, linktype = struct.unpack_from(order + "IHHiIII",
                                                                             head)
    return PcapHeader(order, magic == MAGIC_NANO, (major, minor), snaplen,
                      linktype & _LINKTYPE_MASK)


def read_file_header(path: str) -> PcapHeader:
    """Only the file header of `path` (to learn its encapsulation before reading it)."""
    try:
        with open(path, "rb") as f:
            head = f.read(FILE_HEADER_LEN)
            if head[:2] == b"\x1f\x8b":
                f.seek(0)
                head = gzip.GzipFile(fileobj=f).read(FILE_HEADER_LEN)
    except OSError as e:
        raise PcapError(f"cannot read pcap file '{path}': {e.strerror or e}") from None
    return parse_file_header(head, path)


class PcapReader:
    """Records of one pcap file, read straight into packet pools.

    The file is mapped into memory (gzip files are decompressed into it);
    `pos` is the byte offset of the next record.  Reading stops for good at
    the end of the file or at the first malformed record: then `exhausted`
    is true and, for a malformed one, `error` says what and where.
    """

    def __init__(self, path: str):
        self.path = path
        self._map = None
        try:
            with open(path, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                if size > 0:
                    self._map = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
                    buf = self._map
                else:
                    buf = b""
                if buf[:2] == b"\x1f\x8b":
                    buf = self._gunzip(f)
        except OSError as e:
            self.close()
            raise PcapError(f"cannot read pcap file '{path}': {e.strerror or e}") from None
        try:
            self.header = parse_file_header(bytes(buf[:FILE_HEADER_LEN]), path)
        except PcapError:
            self.close()
            raise
        self._buf = memoryview(buf)
        self.size = len(buf)
        self.pos = FILE_HEADER_LEN
        self.index = 0            # records read (or skipped) so far
        self.error: str | None = None
        self.oversize = 0         # records cut to fit a pool slot
        self._exhausted = False
        self._record = struct.Struct(self.header.byteorder + "IIII")
        self._frac_ns = 1 if self.header.nano else 1000
        self._flat_pool = None
        self._flat = None

    def _gunzip(self, f) -> bytes:
        if self._map is not None:
            self._map.close()
            self._map = None
        f.seek(0)
        try:
            return gzip.GzipFile(fileobj=f).read()
        except (EOFError, gzip.BadGzipFile, OSError) as e:
            raise PcapError(f"cannot decompress gzip pcap file '{self.path}': {e}") from None

    @property
    def encap(self) -> str:
        return self.header.encap

    @property
    def linktype(self) -> int:
        return self.header.linktype

    @property
    def exhausted(self) -> bool:
        """True once no record is left: end of file or a malformed record."""
        return self._exhausted or self.pos >= self.size

    # -- record headers ------------------------------------------------------
    def _next_header(self):
        """(ts_ns, caplen, wirelen) of the record at pos, or None (end or malformed)."""
        pos, size = self.pos, self.size
        if self._exhausted or pos >= size:
            return None
        if pos + RECORD_HEADER_LEN > size:
            self._fail(f"the file ends inside the header of record {self.index + 1} "
                       f"({size - pos} of {RECORD_HEADER_LEN} bytes present): "
                       "the capture was cut short")
            return None
        sec, frac, caplen, wirelen = self._record.unpack_from(self._buf, pos)
        if caplen > MAX_RECORD_LEN:
            self._fail(f"record {self.index + 1} claims {caplen} captured bytes, more than "
                       f"the {MAX_RECORD_LEN} a pcap record may hold: the file is corrupt")
            return None
        if pos + RECORD_HEADER_LEN + caplen > size:
            self._fail(f"record {self.index + 1} claims {caplen} captured bytes but only "
                       f"{size - pos - RECORD_HEADER_LEN} remain: the capture was cut short")
            return None
        return sec * 1_000_000_000 + frac * self._frac_ns, caplen, wirelen

    def _fail(self, what: str) -> None:
        self.error = f"pcap file '{self.path}', byte offset {self.pos}: {what}"
        self._exhausted = True

    def peek_ts_ns(self) -> int | None:
        """Timestamp of the next record, without reading it; None when none is left."""
        h = self._next_header()
        return None if h is None else h[0]

    def first_ts_ns(self) -> int | None:
        """Timestamp of the file's first record (None for a file without records)."""
        if self.size < FILE_HEADER_LEN + RECORD_HEADER_LEN:
            return None
        sec, frac, _, _ = self._record.unpack_from(self._buf, FILE_HEADER_LEN)
        return sec * 1_000_000_000 + frac * self._frac_ns

    def skip_before(self, ts_ns: int) -> int:
        """Skip the leading records stamped before ts_ns; returns how many were skipped."""
        n = 0
        while True:
            h = self._next_header()
            if h is None or h[0] >= ts_ns:
                return n
            self.pos += RECORD_HEADER_LEN + h[1]
            self.index += 1
            n += 1

    # -- the batch read ---------------------------------------------------------
    def read_into(self, pool, idx: np.ndarray, limit_ns: int | None = None) -> int:
        """Copy the next records into the slots idx (freshly allocated: offset at
        the headroom); returns how many were filled, idx[:k].  Sets each packet's
        length and ts_ns.  Stops early at the end of the file, at a malformed
        record, or before the first record stamped at or after limit_ns."""
        if self._flat_pool is not pool:
            self._flat = memoryview(pool.data).cast("B")
            self._flat_pool = pool
        if self._exhausted:
            return 0
        flat, buf, unpack = self._flat, self._buf, self._record.unpack_from
        size, frac_ns = self.size, self._frac_ns
        room = pool.slot_size - pool.headroom
        slot_size, headroom = pool.slot_size, pool.headroom
        limit = (1 << 64) if limit_ns is None else limit_ns
        lengths, stamps = [], []
        pos = self.pos
        # The loop is _next_header inlined (the hot path); anything unusual goes
        # back to _next_header, which reports it.
        for slot in idx.tolist():
            start = pos + RECORD_HEADER_LEN
            if start > size:
                break
            sec, frac, caplen, _ = unpack(buf, pos)
            end = start + caplen
            if caplen > MAX_RECORD_LEN or end > size:
                break
            ts = sec * 1_000_000_000 + frac * frac_ns
            if ts >= limit:
                break
            n = caplen
            if n > room:
                n = room
                self.oversize += 1
            base = slot * slot_size + headroom
            flat[base:base + n] = buf[start:start + n]
            lengths.append(n)
            stamps.append(ts)
            pos = end
        k = len(lengths)
        self.pos = pos
        self.index += k
        if k < len(idx):
            self._next_header()   # records why we stopped, if the file is malformed
        if k:
            filled = idx[:k]
            pool.length[filled] = lengths
            pool.ts_ns[filled] = stamps
        return k

    def records(self):
        """(ts_ns, bytes, wire length) for every remaining record (tests, tools)."""
        while True:
            h = self._next_header()
            if h is None:
                return
            ts, caplen, wirelen = h
            start = self.pos + RECORD_HEADER_LEN
            data = bytes(self._buf[start:start + caplen])
            self.pos = start + caplen
            self.index += 1
            yield ts, data, wirelen

    def close(self) -> None:
        """Release the file; numpy views handed out earlier must be gone."""
        self._flat = self._flat_pool = None
        buf = getattr(self, "_buf", None)
        if buf is not None:
            buf.release()
            self._buf = None
        if self._map is not None:
            self._map.close()
            self._map = None


class PcapWriter:
    """Writes packets of a pool as pcap records, one write call per batch."""

    def __init__(self, path: str, linktype: int = LINKTYPE_ETHERNET, snaplen: int = 0,
                 nano: bool = False, unbuffered: bool = False, stream=None):
        self.path = path
        self.linktype = linktype
        self.snaplen = snaplen          # 0: whole packets
        self.nano = nano
        self.unbuffered = unbuffered
        self.count = 0
        self._flat_pool = None
        self._flat = None
        self._own = stream is None
        if stream is None:
            try:
                stream = open(path, "wb", buffering=1 << 20)
            except OSError as e:
                raise PcapError(f"cannot write pcap file '{path}': {e.strerror or e}") from None
        self._file = stream
        magic = MAGIC_NANO if nano else MAGIC_MICRO
        self._write(struct.pack("<IHHiIII", magic, 2, 4, 0, 0, snaplen or MAX_RECORD_LEN,
                                linktype))

    def _write(self, data) -> None:
        try:
            self._file.write(data)
            if self.unbuffered:
                self._file.flush()
        except OSError as e:
            raise PcapError(f"cannot write pcap file '{self.path}': {e.strerror or e}") from None

    def write_batch(self, pool, idx: np.ndarray, now_ns: int | None = None,
                    stamp_now: bool = False) -> None:
        """Append one record per packet: its ts_ns annotation (now when 0, or
        always with stamp_now), its bytes cut at the snaplen, its whole length
        as the wire length."""
        n = len(idx)
        if n == 0:
            return
        if self._flat_pool is not pool:
            self._flat = memoryview(pool.data).cast("B")
            self._flat_pool = pool
        wire = pool.length[idx].astype(np.uint32)
        cap = np.minimum(wire, self.snaplen) if self.snaplen else wire
        ts = pool.ts_ns[idx]
        unstamped = ts == 0
        if stamp_now:
            ts = np.full(n, now_ns or time.time_ns(), dtype=np.uint64)
        elif unstamped.any():
            ts = np.where(unstamped, np.uint64(now_ns or time.time_ns()), ts)
        headers = np.empty((n, 4), dtype="<u4")
        headers[:, 0] = ts // 1_000_000_000
        frac = ts % 1_000_000_000
        headers[:, 1] = frac if self.nano else frac // 1000
        headers[:, 2] = cap
        headers[:, 3] = wire
        hb = memoryview(headers.tobytes())
        starts = (idx.astype(np.int64) * pool.slot_size + pool.off[idx]).tolist()
        flat = self._flat
        out = bytearray()
        at = 0
        for start, c in zip(starts, cap.tolist()):
            out += hb[at:at + RECORD_HEADER_LEN]
            out += flat[start:start + c]
            at += RECORD_HEADER_LEN
        self._write(out)
        self.count += n

    def flush(self) -> None:
        if self._file is not None:
            self._file.flush()

    def close(self) -> None:
        self._flat = self._flat_pool = None
        f, self._file = self._file, None
        if f is None:
            return
        try:
            f.flush()
        finally:
            if self._own:
                f.close()


def write_records(path: str, records, linktype: int = LINKTYPE_ETHERNET, nano: bool = False,
                  byteorder: str = "<", snaplen: int = MAX_RECORD_LEN) -> None:
    """The plain writer beside PcapWriter: records are (ts_ns, bytes) or
    (ts_ns, bytes, wire length), written as given, in either byte order
    (tests and tools; PcapWriter is the one elements use)."""
    magic = MAGIC_NANO if nano else MAGIC_MICRO
    with open(path, "wb") as f:
        f.write(struct.pack(byteorder + "IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype))
        for rec in records:
            ts, data = rec[0], bytes(rec[1])
            wirelen = rec[2] if len(rec) > 2 else len(data)
            sec, frac = divmod(ts, 1_000_000_000)
            f.write(struct.pack(byteorder + "IIII", sec, frac if nano else frac // 1000,
                                len(data), wirelen))
            f.write(data)
