/* The ceiling for bench_fib.py: the plainest C loop over Fib's own tables.
 *
 * Same DIR-24-8 layout as cext/fib.pyx: a tbl24 entry with bit 31 set points
 * to a 256-entry tbl8 group (bits 0..30 = group number); otherwise its low 16
 * bits hold the next hop inverted (so ~entry is the next hop, 0xFFFF = none).
 * Compiled at bench time with gcc -O3 -march=native and loaded with ctypes;
 * not part of the package.
 */
#include <stddef.h>
#include <stdint.h>

void fib_lookup_ceiling(const uint32_t *tbl24, const uint32_t *tbl8,
                        const uint32_t *addrs, uint16_t *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t a = addrs[i];
        uint32_t e = tbl24[a >> 8];
        if (e & 0x80000000u)
            e = tbl8[((size_t)(e & 0x7FFFFFFFu) << 8) | (a & 0xFFu)];
        out[i] = (uint16_t)~e;
    }
}
