"""ARPTable: IP-to-Ethernet mappings, and the packets waiting for one.

The table keeps what the fast path reads in numpy rows: each entry owns a
row of `_ip`, `_mac` (6 bytes), `_live` (when it was last confirmed, loop
seconds) and `_known`; a sorted copy of the addresses with their rows lets
ARPQuerier look a whole batch of next hops up with one `searchsorted`.
That index is rebuilt only when addresses come or go, not when an entry
is refreshed.  The rest (held packets, query pacing, age order for
eviction) is per-entry Python state, touched only on the slow paths:
misses, replies, timers and handlers.
"""
from __future__ import annotations

from collections import OrderedDict, deque

import numpy as np

from vforward.args import ArgumentError, ip_address, mac_address, seconds, unsigned
from vforward.element import Element, HandlerError, read_handler, write_handler

from .ethernet import BROADCAST_MAC, unparse_ip, unparse_mac

from vforward import kernels

_ether = kernels.load("ether")

# Click's defaults (ARPTable, ARPQuerier).
DEFAULT_CAPACITY = 2048
DEFAULT_TIMEOUT = 300.0
DEFAULT_SLIM_FACTOR = 2
# Most entries by default.  Click leaves this unbounded; a scan of a large
# subnet (or a flood of unsolicited replies) would then grow the table until
# entries time out, so we bound it as Linux bounds its neighbour table
# (gc_thresh3), evicting unresolved entries first.
DEFAULT_ENTRY_CAPACITY = 4096

# Query pacing per address: at most 10 a second, then one every 2 s after
# 10 queries without an answer (Click's ARPEntry::allow_poll).
POLL_INTERVAL = 0.1
SLOW_POLL_INTERVAL = 2.0
SLOW_POLL_AFTER = 10

# append_query results
DROPPED, HELD, HELD_QUERY = -1, 0, 1


class _Entry:
    __slots__ = ("ip", "row", "polled_at", "polls", "held")

    def __init__(self, ip: int, row: int, now: float):
        self.ip = ip
        self.row = row
        self.polled_at = now - 1.0      # a first query may go at once
        self.polls = 0                  # queries since the last answer
        self.held: deque[int] = deque()  # slots waiting for this address

    def allow_poll(self, now: float) -> bool:
        wait = SLOW_POLL_INTERVAL if self.polls >= SLOW_POLL_AFTER else POLL_INTERVAL
        return now >= self.polled_at + wait

    def mark_poll(self, now: float) -> None:
        self.polled_at = now
        self.polls = min(self.polls + 1, 255)


class ARPTable(Element):
    """ARPTable(KEYWORDS) -- store IP-to-Ethernet mappings

    Ports: none (an information element).

    Holds IP-to-Ethernet mappings for the ARP protocol, and the packets
    waiting for a mapping to be found.  ARPQuerier normally keeps a private
    ARPTable; declare one and name it in several ARPQueriers' TABLE keyword
    to let them share it.

    An entry expires TIMEOUT after it was last confirmed; a timer removes
    expired entries (and drops the packets they held) every TIMEOUT.  While
    packets keep arriving for an unresolved address its entry is kept just
    short of expiring.  When more than CAPACITY packets are held, the
    oldest entries' packets are dropped until CAPACITY - CAPACITY /
    CAPACITY_SLIM_FACTOR remain, and unresolved entries left with no
    packet go (CAPACITY counts at most a quarter of the router's packet
    pool, so that packets waiting for answers never starve its inputs); when a new entry would exceed ENTRY_CAPACITY, the oldest
    unresolved entries go (with their packets), then the oldest resolved
    ones.  So a scan of a large subnet neither grows the table without end
    nor pushes out the next hops traffic is using.

    Keyword arguments:
      CAPACITY (integer, default 2048)          most packets held in all; 0 for no limit
      ENTRY_CAPACITY (integer, default 4096)    most entries; 0 for no limit
      ENTRY_PACKET_CAPACITY (integer, default 0)  most packets held per entry; 0 for no limit
      CAPACITY_SLIM_FACTOR (integer, default 2)   how far to slim past CAPACITY (see above)
      TIMEOUT (time, default 5min)              entry lifetime; 0 for never

    Handlers:
      table (read)    one entry per line, oldest first: IP OK ETH AGE, where OK is
                      1 for a valid mapping and AGE the seconds since it was confirmed
      count (read)    entries in the table
      length (read)   packets held
      drops (read)    packets dropped for timeouts or capacity limits
      insert (write)  "IP ETH": add or refresh a mapping; the packets held for IP
                      leave by the first ARPQuerier that uses this table
      delete (write)  "IP": remove the entry, dropping any packets it holds
      clear (write)   remove every entry
    """
    PORTS = "0/0"
    PROCESSING = "a/a"
    # How the table keys its rows: IPv4 addresses as uint32 here; the IPv6
    # neighbour table (elements/ip6/neighbortable.py) keys 16-byte rows.
    ADDRESS_DTYPE = np.uint32

    @staticmethod
    def address_value(ip: int):
        """The form of ip stored in the address column."""
        return ip

    @staticmethod
    def address_text(ip: int) -> str:
        return unparse_ip(ip)

    def configure(self, args):
        self.set_limits(
            capacity=args.keyword("CAPACITY", unsigned, default=DEFAULT_CAPACITY),
            entry_capacity=args.keyword("ENTRY_CAPACITY", unsigned,
                                        default=DEFAULT_ENTRY_CAPACITY),
            entry_packet_capacity=args.keyword("ENTRY_PACKET_CAPACITY", unsigned, default=0),
            slim_factor=args.keyword("CAPACITY_SLIM_FACTOR", unsigned, default=DEFAULT_SLIM_FACTOR),
            timeout=args.keyword("TIMEOUT", seconds, default=DEFAULT_TIMEOUT),
            where=args.where)
        args.finish()

    def set_limits(self, capacity=DEFAULT_CAPACITY, entry_capacity=DEFAULT_ENTRY_CAPACITY,
                   entry_packet_capacity=0,
                   slim_factor=DEFAULT_SLIM_FACTOR, timeout=DEFAULT_TIMEOUT, where=None):
        """Configure a table (also how ARPQuerier sets up its private one)."""
        if slim_factor == 0:
            raise ArgumentError(f"{where or self.name}: CAPACITY_SLIM_FACTOR cannot be zero; "
                                "use 2 to slim to half of CAPACITY")
        self.capacity = capacity
        self.entry_capacity = entry_capacity
        self.entry_packet_capacity = entry_packet_capacity
        self.slim_factor = slim_factor
        self.timeout = timeout
        self.drops = 0
        self.n_held = 0
        self._pool = None
        self._timer = None
        self._users = []                       # ARPQueriers sending for this table
        self._entries: OrderedDict[int, _Entry] = OrderedDict()   # oldest first
        self._row_entry: list[_Entry | None] = []
        self._free_rows: list[int] = []
        self._grow(16)
        self._index_dirty = True
        self._sorted_ips = np.zeros(0, dtype=self.ADDRESS_DTYPE)
        self._sorted_rows = np.zeros(0, dtype=np.intp)

    def _grow(self, size: int) -> None:
        old = len(self._row_entry)
        self._ip = _resized(getattr(self, "_ip", None), size, self.ADDRESS_DTYPE)
        self._mac = _resized(getattr(self, "_mac", None), size, np.uint8, 6)
        self._live = _resized(getattr(self, "_live", None), size, np.float64)
        self._known = _resized(getattr(self, "_known", None), size, np.bool_)
        self._used = _resized(getattr(self, "_used", None), size, np.bool_)
        self._row_entry += [None] * (size - old)
        self._free_rows += range(size - 1, old - 1, -1)

    # -- life cycle -----------------------------------------------------------
    def initialize(self):
        if self.timeout:
            self._timer = self.router.call_later(self.timeout, self._expire_tick)

    def _expire_tick(self):
        self.slim(self.router.now())
        self._timer = self.router.call_later(self.timeout, self._expire_tick)

    def cleanup(self):
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.clear()

    def add_user(self, querier) -> None:
        """An ARPQuerier that sends the packets this table releases from its handlers."""
        self._users.append(querier)

    def entry_count(self) -> int:
        return len(self._entries)

    def now(self) -> float:
        return self.router.now()

    # -- the fast path ---------------------------------------------------------
    def lookup(self, ips: np.ndarray, now: float) -> tuple[np.ndarray, np.ndarray]:
        """(rows, known) for a vector of host-order addresses: each address's
        row (-1 when absent) and whether it has a valid, unexpired mapping."""
        if self._index_dirty:
            self._rebuild_index()
        n = len(ips)
        keys = self._sorted_ips
        if not len(keys):
            return np.full(n, -1, dtype=np.intp), np.zeros(n, dtype=bool)
        pos = np.minimum(np.searchsorted(keys, ips), len(keys) - 1)
        found = keys[pos] == ips
        rows = np.where(found, self._sorted_rows[pos], -1)
        known = found.copy()
        r = rows[found]
        ok = self._known[r]
        if self.timeout:
            ok &= self._live[r] + self.timeout >= now
        known[found] = ok
        return rows, known

    def frame_known(self, pool, idx: np.ndarray, src_mac: np.ndarray, now: float,
                    poll_timeout: float, out: np.ndarray) -> int:
        """Push the Ethernet header (next hop's MAC, src_mac, IPv4) on every packet
        whose next hop is known, unexpired and not due for a refresh query, in one
        compiled pass; out[i] = 1 marks those.  Returns how many."""
        if self._index_dirty:
            self._rebuild_index()
        if not len(self._sorted_ips):
            return 0
        return _ether.frame_known(
            pool, idx, self._sorted_ips, self._sorted_rows, self._known.view(np.uint8),
            self._live, self._mac, src_mac, now - self.timeout if self.timeout else -np.inf,
            now - poll_timeout if poll_timeout else -np.inf, out)

    def known_row(self, ip: int, now: float) -> int:
        """lookup for one address: its row when it has a valid, unexpired mapping,
        else -1 (the fast path of a batch of one packet)."""
        entry = self._entries.get(ip)
        if entry is None:
            return -1
        r = entry.row
        if not self._known.item(r) or (self.timeout and self._live.item(r) + self.timeout < now):
            return -1
        return r

    def macs(self, rows: np.ndarray) -> np.ndarray:
        """The (len(rows), 6) Ethernet addresses of rows."""
        return self._mac[rows]

    def due_polls(self, rows: np.ndarray, now: float, poll_timeout: float) -> list[int]:
        """Of known rows, those older than poll_timeout whose address may be
        asked again now; marks them as asked.  Returns their addresses."""
        old = rows[self._live[rows] + poll_timeout <= now]
        if not len(old):
            return []
        due = []
        for row in np.unique(old).tolist():
            entry = self._row_entry[row]
            if entry.allow_poll(now):
                entry.mark_poll(now)
                due.append(entry.ip)
        return due

    def mac_of(self, ip: int) -> bytes | None:
        entry = self._entries.get(ip)
        return None if entry is None else self._mac[entry.row].tobytes()

    def _rebuild_index(self) -> None:
        rows = np.flatnonzero(self._used)
        order = np.argsort(self._ip[rows], kind="stable")
        self._sorted_rows = rows[order].astype(np.intp)
        self._sorted_ips = self._ip[self._sorted_rows]
        self._index_dirty = False

    # -- entries ----------------------------------------------------------------
    def _known_now(self, entry: _Entry, now: float) -> bool:
        r = entry.row
        return bool(self._known[r]) and (not self.timeout or self._live[r] + self.timeout >= now)

    def _ensure(self, ip: int, now: float) -> _Entry:
        entry = self._entries.get(ip)
        if entry is not None:
            return entry
        if self.entry_capacity and len(self._entries) + 1 > self.entry_capacity:
            self.slim(now, new_entries=1)
        if not self._free_rows:
            self._grow(2 * len(self._row_entry))
        row = self._free_rows.pop()
        entry = _Entry(ip, row, now)
        self._ip[row] = self.address_value(ip)
        self._mac[row] = 0xFF
        self._live[row] = now
        self._known[row] = False
        self._used[row] = True
        self._row_entry[row] = entry
        self._entries[ip] = entry
        self._index_dirty = True
        return entry

    def _remove(self, entry: _Entry) -> list[int]:
        """Take entry out of the table; returns the slots it held (not freed)."""
        del self._entries[entry.ip]
        self._used[entry.row] = False
        self._known[entry.row] = False
        self._row_entry[entry.row] = None
        self._free_rows.append(entry.row)
        self._index_dirty = True
        held = list(entry.held)
        self.n_held -= len(held)
        return held

    def _kill(self, slots: list[int]) -> None:
        if slots:
            self.drops += len(slots)
            self._pool.free(np.array(slots, dtype=np.uint32))

    def insert(self, ip: int, eth: bytes, now: float, release: bool = True) -> list[int]:
        """Add or refresh ip -> eth (a broadcast eth makes the entry unresolved).
        Returns the slots held for ip, in arrival order, now the caller's to send;
        with release=False they stay held."""
        entry = self._ensure(ip, now)
        r = entry.row
        self._mac[r] = np.frombuffer(eth, dtype=np.uint8)
        self._known[r] = eth != BROADCAST_MAC
        self._live[r] = now
        entry.polls = 0
        entry.polled_at = now - 1.0
        self._entries.move_to_end(ip)
        if not release or not entry.held:
            return []
        held = list(entry.held)
        entry.held.clear()
        self.n_held -= len(held)
        return held

    def append_query(self, ip: int, slot: int, pool, now: float) -> int:
        """Hold slot until ip is resolved (the caller has found ip unknown).
        Returns DROPPED (slot freed and counted), HELD, or HELD_QUERY when a
        query for ip is due."""
        self._pool = pool
        entry = self._ensure(ip, now)
        r = entry.row
        if self._known[r]:
            # An expired mapping: unresolved again until a new answer comes.
            self._known[r] = False
            self._mac[r] = 0xFF
        if self.timeout and self._live[r] < now - self.timeout:
            # Keep an entry that packets still wait on just short of expiring,
            # and first in line for eviction.
            self._live[r] = now - self.timeout
            self._entries.move_to_end(ip, last=False)
        if self.entry_packet_capacity and len(entry.held) >= self.entry_packet_capacity:
            self._kill([slot])
            return DROPPED
        if self.n_held + 1 > self._held_limit():
            self.slim(now, new_packets=1)
        entry.held.append(slot)
        self.n_held += 1
        if entry.allow_poll(now):
            entry.mark_poll(now)
            return HELD_QUERY
        return HELD

    def delete(self, ip: int) -> bool:
        entry = self._entries.get(ip)
        if entry is None:
            return False
        self._kill(self._remove(entry))
        return True

    def clear(self) -> None:
        dead = []
        for entry in list(self._entries.values()):
            dead += self._remove(entry)
        self._kill(dead)

    def slim(self, now: float, new_entries: int = 0, new_packets: int = 0) -> None:
        """Remove expired entries, evict the oldest past ENTRY_CAPACITY, and
        drop the oldest held packets past CAPACITY (Click's ARPTable::slim).
        new_entries/new_packets count what the caller is about to add."""
        dead = []
        if self.timeout and self._entries:
            expired = np.flatnonzero(self._used & (self._live + self.timeout < now))
            for row in expired.tolist():
                dead += self._remove(self._row_entry[row])
        while self.entry_capacity and self._entries and \
                len(self._entries) + new_entries > self.entry_capacity:
            dead += self._remove(self._oldest_unresolved() or next(iter(self._entries.values())))
        limit = self._held_limit()
        if self.n_held + new_packets > limit:
            target = max(1, limit - limit // self.slim_factor)
            # Oldest entries first, each emptied before the next, as Click.  An
            # entry left without packets stays (its answer may still come and be
            # useful); ENTRY_CAPACITY and TIMEOUT bound how many there are.
            for entry in self._entries.values():
                while entry.held and self.n_held + new_packets > target:
                    dead.append(entry.held.popleft())
                    self.n_held -= 1
                if self.n_held + new_packets <= target:
                    break
        self._kill(dead)

    def _held_limit(self) -> float:
        """CAPACITY, but never more than a quarter of the packet pool: packets
        waiting for answers that may never come (a scan) must not take the
        slots the router needs to receive anything else."""
        limit = self.capacity or float("inf")
        if self._pool is not None:
            limit = min(limit, max(1, self._pool.n_slots // 4))
        return limit

    def _oldest_unresolved(self) -> _Entry | None:
        for entry in self._entries.values():
            if not self._known[entry.row]:
                return entry
        return None

    # -- handlers ---------------------------------------------------------------
    def table_text(self) -> str:
        now = self.now()
        lines = []
        for entry in self._entries.values():
            r = entry.row
            ok = 1 if self._known_now(entry, now) else 0
            age = max(0.0, now - float(self._live[r]))
            lines.append(f"{self.address_text(entry.ip)} {ok} {unparse_mac(self._mac[r].tobytes())} "
                         f"{age:.6f}\n")
        return "".join(lines)

    @read_handler("table")
    def read_table(self):
        return self.table_text()

    @read_handler("count")
    def read_count(self):
        return self.entry_count()

    @read_handler("length")
    def read_length(self):
        return self.n_held

    @read_handler("drops")
    def read_drops(self):
        return self.drops

    @staticmethod
    def parse_insert(value: str) -> tuple[int, bytes]:
        return parse_insert(value)

    @staticmethod
    def parse_delete(value: str) -> int:
        return parse_delete(value)

    @write_handler("insert")
    def write_insert(self, value):
        ip, eth = self.parse_insert(value)
        release = bool(self._users)
        held = self.insert(ip, eth, self.now(), release=release)
        if held:
            self._users[0].send_released(held)

    @write_handler("delete")
    def write_delete(self, value):
        ip = self.parse_delete(value)
        if not self.delete(ip):
            raise HandlerError(f"{self.address_text(ip)} is not in the table; read the table "
                               "handler for its entries")

    @write_handler("clear")
    def write_clear(self, value):
        self.clear()


def parse_insert(value: str) -> tuple[int, bytes]:
    """An insert handler's "IP ETH"."""
    words = value.split()
    try:
        if len(words) != 2:
            raise ArgumentError("")
        return ip_address(words[0]), mac_address(words[1])
    except ArgumentError:
        raise HandlerError(f"insert expects \"IP ETH\" such as \"10.0.0.2 00:11:22:33:44:55\", "
                           f"got {value.strip()!r}") from None


def parse_delete(value: str) -> int:
    try:
        return ip_address(value.strip())
    except ArgumentError:
        raise HandlerError(f"delete expects an IP address such as 10.0.0.2, "
                           f"got {value.strip()!r}") from None


def _resized(old: np.ndarray | None, size: int, dtype, width: int = 0) -> np.ndarray:
    new = np.zeros((size, width) if width else size, dtype=dtype)
    if old is not None:
        new[:len(old)] = old
    return new
