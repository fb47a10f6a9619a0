/* The ceiling for bench_fib6.py: the plainest C loop over Fib6's own tables.
 *
 * Same poptrie layout as cext/fib6.pyx (read its docstring): `block` has one
 * uint32 per /16 (0: the answer is short[] of the /16; else 1 + the index of
 * the node of its first /26, the others follow), a node is {vector, leafvec, base0, base1,
 * inl[4]} (32 bytes; up to 4 leaves inside it) of 64 slots; a node at depth d
 * takes bits d..d+5, its child groups of 4 nodes the next 2 bits (d = 26, 34,
 * ..., 122).
 * One address at a time, no batching tricks: what gcc -O3 -march=native makes
 * of the textbook walk on this machine.  Host routes (/128) are not looked
 * at: the bench table's are checked apart.  Compiled at bench time and loaded
 * with ctypes; not part of the package.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct {
    uint64_t vector;
    uint64_t leafvec;
    uint32_t base0;
    uint32_t base1;
    uint16_t inl[4];
} node6;

static inline const uint16_t *leaf_src(const node6 *nd, const uint16_t *leaves)
{
    return __builtin_popcountll(nd->leafvec) <= 4 ? nd->inl : leaves + nd->base0;
}

static inline uint64_t be64(const uint8_t *p)
{
    uint64_t x;
    memcpy(&x, p, 8);
    return __builtin_bswap64(x);
}

/* bits d..d+7 of hi:lo, zeros past bit 127 */
static inline uint32_t bits8(uint64_t hi, uint64_t lo, int d)
{
    if (d <= 56)
        return (uint32_t)((hi >> (56 - d)) & 255);
    if (d >= 64)
        return d <= 120 ? (uint32_t)((lo >> (120 - d)) & 255) : (uint32_t)((lo << (d - 120)) & 255);
    return (uint32_t)(((hi << (d - 56)) | (lo >> (120 - d))) & 255);
}

void fib6_lookup_ceiling(const uint32_t *block, const uint16_t *shortp,
                         const node6 *nodes, const uint16_t *leaves,
                         const uint8_t *addrs, uint16_t *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint64_t hi = be64(addrs + 16 * i), lo = be64(addrs + 16 * i + 8);
        uint32_t b = block[hi >> 48];
        if (!b) {
            out[i] = shortp[hi >> 48];
            continue;
        }
        const node6 *nd = &nodes[b - 1 + ((hi >> 38) & 1023)];
        int d = 26;
        for (;;) {
            uint32_t x = bits8(hi, lo, d), v = x >> 2;
            uint64_t m = (2ull << v) - 1;
            if ((nd->vector >> v) & 1) {
                nd = &nodes[nd->base1 + 4 * (__builtin_popcountll(nd->vector & m) - 1) + (x & 3)];
                d += 8;
            } else {
                out[i] = leaf_src(nd, leaves)[__builtin_popcountll(nd->leafvec & m) - 1];
                break;
            }
        }
    }
}

/* The same walk, batched as cext/fib6.pyx batches it (a pass per level over
 * up to 128 lookups, each node prefetched a pass before it is read), in plain
 * C: what the batching itself is worth here, without Cython in between. */
void fib6_lookup_ceiling_batched(const uint32_t *block, const uint16_t *shortp,
                                 const node6 *nodes, const uint16_t *leaves,
                                 const uint8_t *addrs, uint16_t *out, size_t n)
{
    enum { LANES = 128 };
    uint64_t hi[LANES], lo[LANES];
    uint32_t cur[LANES], active[LANES], done[LANES];
    const uint16_t *leaf_at[LANES];
    for (size_t i = 0; i < n; i += LANES) {
        size_t m = n - i < LANES ? n - i : LANES, n_active = 0, n_done = 0;
        for (size_t k = 0; k < m; k++) {
            hi[k] = be64(addrs + 16 * (i + k));
            lo[k] = be64(addrs + 16 * (i + k) + 8);
        }
        for (size_t k = 0; k < m; k++) {
            uint32_t b = block[hi[k] >> 48];
            if (b) {
                cur[k] = b - 1 + (uint32_t)((hi[k] >> 38) & 1023);
                __builtin_prefetch(&nodes[cur[k]]);
                active[n_active++] = (uint32_t)k;
            } else {
                out[i + k] = shortp[hi[k] >> 48];
            }
        }
        for (int d = 26; n_active; d += 8) {
            size_t n_next = 0;
            for (size_t j = 0; j < n_active; j++) {
                uint32_t k = active[j];
                const node6 *nd = &nodes[cur[k]];
                uint32_t x = bits8(hi[k], lo[k], d), v = x >> 2;
                uint64_t msk = (2ull << v) - 1;
                uint32_t inner = (uint32_t)((nd->vector >> v) & 1);
                uint32_t child = nd->base1 + 4 * (__builtin_popcountll(nd->vector & msk) - 1) + (x & 3);
                leaf_at[k] = leaf_src(nd, leaves) + __builtin_popcountll(nd->leafvec & msk) - 1;
                cur[k] = inner ? child : cur[k];
                __builtin_prefetch(&nodes[cur[k]]);
                active[n_next] = k;
                n_next += inner;
                done[n_done] = k;
                n_done += 1 - inner;
            }
            n_active = n_next;
        }
        for (size_t j = 0; j < n_done; j++)
            __builtin_prefetch(leaf_at[done[j]]);
        for (size_t j = 0; j < n_done; j++)
            out[i + done[j]] = *leaf_at[done[j]];
    }
}
