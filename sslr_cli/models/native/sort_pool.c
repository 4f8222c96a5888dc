/*
 * FSPool's graph-free forward and backward for SRN's inner steps, in bfloat16.
 *
 * Built and loaded at first use by sslr_cli/models/native/__init__.py with the system C compiler (plain C99,
 * no Python or torch headers); without a compiler the same operations run as torch ops.
 *
 * For h (B, n, C) bfloat16, contiguous, n <= 16, and piece weights w (n, C):
 *   pool:    out[b, c] = sum_i sorted_i(h[b, :, c]) * w[i, c]      (sorted descending)
 *            order[b, i, c] = the element the i-th largest value of feature c came from
 *   unpool:  grad[b, order[b, i, c], c] = g[b, c] * w'[i, c]
 * with torch's arithmetic, so the results are the bits torch gives for
 *   (h.sort(dim=1, descending=True).values * w).sum(dim=1)   and   empty_like(h).scatter_(1, idx, g[:, None] * w')
 * each product rounded to bfloat16, the sum accumulated in float32 from i = 0 upwards and rounded once
 * (torch's order for a bfloat16 reduction over a non-innermost dimension), ties in element order (torch's
 * insertion sort for n <= 16), NaN largest, -0.0 equal to 0.0. (Not float32: torch reduces the feature
 * columns past the last full vector block in another order, so a float32 kernel would not give its bits.)
 *
 * The sort is a sorting network (Batcher's odd-even merge sort on 16 slots, the slots past n holding
 * -inf after every element) run on 16 features at once: the same comparators for every feature, so the
 * compiler turns each into a few vector instructions. Comparing (value, element index) pairs makes every
 * key distinct, so the network's result is the stable sort's.
 */
#include <stdint.h>
#include <string.h>

#define SLOTS 16
#define LANES 16

#if defined(SSLR_TARGET_CLONES)
#define HOT __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define HOT
#endif

static int n_comparators = 0;
static int comparators[SLOTS * SLOTS][2];

static void build_network(void) { /* Batcher's odd-even merge sort, as a list of (earlier, later) slot pairs */
    int m = 0;
    for (int p = 1; p < SLOTS; p <<= 1)
        for (int k = p; k >= 1; k >>= 1)
            for (int j = k % p; j <= SLOTS - 1 - k; j += 2 * k)
                for (int i = 0; i <= k - 1 && i <= SLOTS - j - k - 1; i++)
                    if ((i + j) / (2 * p) == (i + j + k) / (2 * p)) {
                        comparators[m][0] = i + j;
                        comparators[m][1] = i + j + k;
                        m++;
                    }
    n_comparators = m;
}

int sslr_sort_pool_init(void) {
    if (!n_comparators) build_network();
    return n_comparators;
}

/* 1 where the vector clones run: without AVX2 the network is slower than torch's ops and is not used */
int sslr_sort_pool_vectorised(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") || __builtin_cpu_supports("avx512f");
}

/* Sort lanes [0, nl) of v[SLOTS][LANES] descending, carrying element indices in id. */
static inline void sort_lanes(float v[SLOTS][LANES], int32_t id[SLOTS][LANES], int nl) {
    for (int k = 0; k < n_comparators; k++) {
        float *va = v[comparators[k][0]], *vb = v[comparators[k][1]];
        int32_t *ia = id[comparators[k][0]], *ib = id[comparators[k][1]];
        for (int l = 0; l < nl; l++) {
            float a = va[l], b = vb[l];
            int32_t x = ia[l], y = ib[l];
            int a_nan = a != a, b_nan = b != b;
            /* does b come before a? larger value first, NaN largest, ties (and NaN pairs) by element index */
            int swap = (b_nan & !a_nan) | (!a_nan & !b_nan & (b > a)) | (((a == b) | (a_nan & b_nan)) & (y < x));
            va[l] = swap ? b : a;
            vb[l] = swap ? a : b;
            ia[l] = swap ? y : x;
            ib[l] = swap ? x : y;
        }
    }
}

static inline float bf16_bits_to_float(uint32_t bits16) {
    uint32_t u = bits16 << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static inline uint32_t float_to_bf16_bits(float f) { /* round to nearest even, NaN -> 0x7FC0, as c10::BFloat16 */
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    uint32_t r = (u + 0x7FFFu + ((u >> 16) & 1u)) >> 16;
    return f != f ? 0x7FC0u : r;
}

static inline float round_to_bf16(float f) { return bf16_bits_to_float(float_to_bf16_bits(f)); }

HOT void sslr_sort_pool_bf16(const uint16_t *h, const uint16_t *w, int64_t B, int64_t n, int64_t C,
                             uint16_t *out, uint8_t *order) {
    float v[SLOTS][LANES];
    int32_t id[SLOTS][LANES];
    if (!n_comparators) build_network();
    for (int64_t b = 0; b < B; b++) {
        const uint16_t *hb = h + b * n * C;
        for (int64_t c0 = 0; c0 < C; c0 += LANES) {
            int nl = (int)(C - c0 < LANES ? C - c0 : LANES);
            for (int i = 0; i < SLOTS; i++)
                for (int l = 0; l < nl; l++) {
                    v[i][l] = i < n ? bf16_bits_to_float(hb[i * C + c0 + l]) : -__builtin_inff();
                    id[i][l] = i;
                }
            sort_lanes(v, id, nl);
            float acc[LANES];
            for (int l = 0; l < nl; l++) acc[l] = 0.0f;
            for (int64_t i = 0; i < n; i++)
                for (int l = 0; l < nl; l++) {
                    acc[l] += round_to_bf16(v[i][l] * bf16_bits_to_float(w[i * C + c0 + l]));
                    order[(b * n + i) * C + c0 + l] = (uint8_t)id[i][l];
                }
            for (int l = 0; l < nl; l++) out[b * C + c0 + l] = (uint16_t)float_to_bf16_bits(acc[l]);
        }
    }
}

HOT void sslr_unpool_bf16(const uint16_t *g, const uint16_t *w, const uint8_t *order, int64_t B, int64_t n,
                          int64_t C, uint16_t *grad) {
    for (int64_t b = 0; b < B; b++) {
        uint16_t *gb = grad + b * n * C;
        for (int64_t i = 0; i < n; i++)
            for (int64_t c = 0; c < C; c++)
                gb[order[(b * n + i) * C + c] * C + c] =
                    (uint16_t)float_to_bf16_bits(bf16_bits_to_float(g[b * C + c]) * bf16_bits_to_float(w[i * C + c]));
    }
}
