"""Half-open [start, end) address ranges: the one set of helpers the emulator and its policy share.

>>> merge([(4, 6), (0, 2), (2, 3)])
[(0, 3), (4, 6)]
>>> complement([(0, 3), (4, 6)], end=8)
[(3, 4), (6, 8)]
>>> contains([(0, 3)], 1, 2), contains([(0, 3)], 2, 2)
(True, False)
"""

SPACE_END = 1 << 32              # the emulator's physical address space: 4 GiB, paging off


def merge(ranges):
    """Merge ranges that touch or overlap: ``merge([(0, 2), (2, 4)]) == [(0, 4)]``."""
    out = []
    for lo, hi in sorted(ranges):
        if out and lo <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


def complement(ranges, end=SPACE_END):
    """The gaps of merged ``ranges`` inside [0, end)."""
    out, at = [], 0
    for lo, hi in ranges:
        if lo > at:
            out.append((at, min(lo, end)))
        at = max(at, hi)
        if at >= end:
            break
    if at < end:
        out.append((at, end))
    return out


def contains(ranges, start, size):
    """True when [start, start+size) lies in one of the merged ``ranges``."""
    return any(lo <= start and start + size <= hi for lo, hi in ranges)


def paint_pages(pages, at, data, page=0x1000):
    """Copy ``data`` (its address ``at``) into ``pages``: {page address: bytearray of one page}, a
    zeroed page added for each page it touches.

    >>> pages = {}; paint_pages(pages, 0xFFE, b"abcd"); sorted(pages), bytes(pages[0x1000][:2])
    ([0, 4096], b'cd')
    """
    pos = 0
    while pos < len(data):
        base = (at + pos) & ~(page - 1)
        start = (at + pos) - base
        n = min(page - start, len(data) - pos)
        pages.setdefault(base, bytearray(page))[start:start + n] = data[pos:pos + n]
        pos += n


def changed(old, new, base, chunk=16):
    """Ranges where ``new`` differs from ``old``, ``base`` their address: maximal runs, in order.

    >>> changed(b"abcdef", b"abXdeY", 0x100, chunk=2)
    [(258, 259), (261, 262)]
    """
    out = []
    _changed(bytes(old), memoryview(bytes(new)), 0, len(old), base, chunk, out)
    return out


def _changed(old, new, lo, hi, base, chunk, out):
    """Halve [lo, hi) while its halves differ: a stack or a buffer where a few bytes changed costs a
    few dozen compares, each a memcmp in place (``startswith`` of a memoryview: no slice is copied),
    not a Python loop over every byte."""
    if old.startswith(new[lo:hi], lo):
        return
    if hi - lo > chunk:
        mid = (lo + hi) // 2
        _changed(old, new, lo, mid, base, chunk, out)
        _changed(old, new, mid, hi, base, chunk, out)
        return
    for i in range(lo, hi):
        if old[i] != new[i]:
            start = base + i
            if out and out[-1][1] == start:
                out[-1] = (out[-1][0], start + 1)
            else:
                out.append((start, start + 1))
