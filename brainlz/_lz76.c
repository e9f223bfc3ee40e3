/*
 * brainlz._lz76 -- exact LZ76 phrase count (Lempel & Ziv 1976, the exhaustive-history parse scanned by
 * Kaspar & Schuster 1987) of many binary sequences at once.
 *
 * Plain C against the CPython API and the buffer protocol only (no numpy headers), so that it builds on any
 * CPython >= 3.11 with a C compiler.  The Python front end is brainlz/lzc.py, which validates the input,
 * makes it a C-contiguous uint8 array of shape (n_seq, n) and hands it here together with an int64 output
 * array of n_seq items.
 *
 * Algorithm (bit-parallel, exact).  A phrase starting at p is the longest prefix s[p:p+k] of the rest that
 * also starts at an earlier position q < p (the copy may overlap the phrase), plus one more symbol; an
 * incomplete last phrase counts.  Keep the set E of "end" positions e = q + k of all earlier starts q whose
 * s[q:q+k] equals s[p:p+k], as a bitset of 64-bit words.  E_0 = {0, ..., p-1}.  With c = s[p+k]:
 * M = E & B_c (B_c: bitset of the positions holding symbol c).  If M is empty, the phrase ends at p+k and
 * the next one starts at p+k+1; otherwise E = M << 1 and k += 1.  If p+k reaches n, the last, incomplete
 * phrase counts and the parse ends.  Every e in E satisfies e <= p+k-1 < n, so the bitsets need
 * ceil(n/64) words.
 *
 * Speed.  B_c is extended to the bitsets G_x of the 4-grams x, so that one step E = (E & G_x) << 4 consumes
 * four symbols (single-symbol steps finish a phrase whose 4-gram step came out empty, and the last three
 * symbols of the sequence).  The first step of a phrase uses an 8-gram (G_x & (G_y >> 4)); if it leaves at
 * most LZ_CAND earlier starts, as it usually does in irregular sequences, the phrase is finished by
 * comparing the raw bytes of each candidate eight at a time (the copy part of the phrase is the longest
 * common prefix over the candidates).  Otherwise (long runs such as the silent stretches of sparse spike
 * rasters, periodic stretches) the bitset steps go on; they touch only the range [lo, hi] of words that
 * can be non-zero, trimmed after every step, and switch to byte comparison as soon as at most LZ_FEW
 * candidates in at most two words are left.  Worst case O(n * n / 64) word operations per sequence; about
 * 10 microseconds for a random sequence of n = 1024 and a few for a sparse one on a current x86-64 core.
 *
 * Long sequences (n >= LZ_SAM_MIN) are parsed in linear time with a suffix automaton instead (see
 * lz76_sam below): the bitsets cost O(n^2 / 64), e.g. 212 s for n = 10^7 with 1 % ones against 1.6 s
 * (benchmarks/bench_lz76_long.py).
 *
 * Interrupts.  The GIL is released while counting, and the kernels poll every few tens of milliseconds of
 * work (lz_poll): from the main thread they take the GIL back for a moment and run PyErr_CheckSignals, so that
 * Ctrl+C raises KeyboardInterrupt promptly; from worker threads (lzc.py, threads > 1) they read a cancel flag
 * that the calling thread sets when it is interrupted.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__linux__)
#include <sys/mman.h>
#endif

#if defined(__GNUC__) || defined(__clang__)
#define LZ_CTZ64(x) ((int)__builtin_ctzll(x))
#else
static int LZ_CTZ64(uint64_t x)
{
    int r = 0;
    while (!(x & 1u)) {
        x >>= 1;
        r++;
    }
    return r;
}
#endif

#if (defined(__BYTE_ORDER__) && defined(__ORDER_LITTLE_ENDIAN__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__) \
    || defined(_M_X64) || defined(_M_IX86) || defined(_M_ARM64)
#define LZ_LITTLE_ENDIAN 1
#else
#define LZ_LITTLE_ENDIAN 0
#endif

#if defined(__GNUC__) || defined(__clang__)
#define LZ_PREFETCH(p) __builtin_prefetch((p), 1, 1)
#else
#define LZ_PREFETCH(p) ((void)0)
#endif

#define LZ_HI_BITS 0xFEFEFEFEFEFEFEFEULL /* bits that must be 0 in eight bytes holding 0/1 values */

/* Pack n bytes (0/1) into the bitsets b1 (symbol 1) and b0 (symbol 0), nw words each, bits past n cleared.
   Returns 0 if every byte is 0 or 1, else -1. */
static int
pack_bits(const uint8_t *s, Py_ssize_t n, Py_ssize_t nw, uint64_t *b0, uint64_t *b1)
{
    uint64_t bad = 0;
    Py_ssize_t w;
    for (w = 0; w < nw; w++) {
        Py_ssize_t base = w << 6;
        Py_ssize_t m = n - base;
        uint64_t word = 0;
        if (m > 64)
            m = 64;
#if LZ_LITTLE_ENDIAN
        if (m == 64) {
            int j;
            for (j = 0; j < 8; j++) {
                uint64_t x;
                memcpy(&x, s + base + 8 * j, 8);
                bad |= x & LZ_HI_BITS;
                /* gathers the low bit of byte t into bit 56 + t (no carries: all partial products distinct) */
                word |= (((x & 0x0101010101010101ULL) * 0x0102040810204080ULL) >> 56) << (8 * j);
            }
        }
        else
#endif
        {
            Py_ssize_t i;
            for (i = 0; i < m; i++) {
                uint8_t v = s[base + i];
                bad |= (uint64_t)(v & 0xFE);
                word |= (uint64_t)(v & 1u) << i;
            }
        }
        b1[w] = word;
        b0[w] = ~word & (m == 64 ? ~0ULL : ((1ULL << m) - 1));
    }
    return bad ? -1 : 0;
}

/* Length of the longest common prefix of a[0:limit] and b[0:limit]. */
static Py_ssize_t
common_prefix(const uint8_t *a, const uint8_t *b, Py_ssize_t limit)
{
    Py_ssize_t j = 0;
#if LZ_LITTLE_ENDIAN
    while (j + 8 <= limit) {
        uint64_t x, y, d;
        memcpy(&x, a + j, 8);
        memcpy(&y, b + j, 8);
        d = x ^ y;
        if (d)
            return j + (LZ_CTZ64(d) >> 3);
        j += 8;
    }
#endif
    while (j < limit && a[j] == b[j])
        j++;
    return j;
}

#define LZ_GRAM 4  /* symbols consumed by one step of the 4-gram bitsets */
#define LZ_FEW 4   /* at most this many candidates (in at most two words): finish by direct comparison */
#define LZ_CAND 16 /* the same after the first (8-gram) step */

/* Scratch bitsets of one sequence, nw = ceil(n/64) words each (e and f: nw + 1). */
typedef struct {
    Py_ssize_t nw;
    uint64_t *b[2];   /* b[c]: positions i with s[i] == c */
    uint64_t *g2[4];  /* g2[a + 2b]: positions i with s[i] == a, s[i+1] == b */
    uint64_t *g4[16]; /* g4[x]: positions i with s[i] + 2 s[i+1] + 4 s[i+2] + 8 s[i+3] == x */
    uint64_t *e, *f;  /* the candidate set E and the buffer for the next one */
} lz_scratch;

static size_t
lz_scratch_words(Py_ssize_t nw)
{
    return (size_t)(2 + 4 + 16) * (size_t)nw + 2 * (size_t)(nw + 1);
}

static void
lz_scratch_init(lz_scratch *sc, uint64_t *mem, Py_ssize_t nw)
{
    int i;
    sc->nw = nw;
    for (i = 0; i < 2; i++, mem += nw)
        sc->b[i] = mem;
    for (i = 0; i < 4; i++, mem += nw)
        sc->g2[i] = mem;
    for (i = 0; i < 16; i++, mem += nw)
        sc->g4[i] = mem;
    sc->e = mem;
    sc->f = mem + nw + 1;
}

/* Word w of the bitset x moved down by j bits (bit i of the result is bit i + j of x), 0 < j < 64. */
static inline uint64_t
window_down(const uint64_t *x, Py_ssize_t nw, Py_ssize_t w, int j)
{
    uint64_t v = x[w] >> j;
    if (w + 1 < nw)
        v |= x[w + 1] << (64 - j);
    return v;
}

static void
build_grams(lz_scratch *sc)
{
    const Py_ssize_t nw = sc->nw;
    Py_ssize_t w;
    int a, b;
    for (a = 0; a < 2; a++)
        for (b = 0; b < 2; b++)
            for (w = 0; w < nw; w++)
                sc->g2[a + 2 * b][w] = sc->b[a][w] & window_down(sc->b[b], nw, w, 1);
    for (a = 0; a < 4; a++)
        for (b = 0; b < 4; b++)
            for (w = 0; w < nw; w++)
                sc->g4[a + 4 * b][w] = sc->g2[a][w] & window_down(sc->g2[b], nw, w, 2);
}

/* Index of the 4-gram s[0:4] in lz_scratch.g4. */
static inline int
gram4(const uint8_t *s)
{
    return s[0] | (s[1] << 1) | (s[2] << 2) | (s[3] << 3);
}

/* out = (in & mask) << S over the words [lo, hi] of in (out may gain word hi + 1).  Returns 0 if in & mask
   is empty (out is then garbage), else 1 with the range of the non-zero words of out in *plo, *phi. */
static inline int
lz_step(const uint64_t *in, uint64_t *out, Py_ssize_t lo, Py_ssize_t hi, const uint64_t *mask, int S,
        Py_ssize_t *plo, Py_ssize_t *phi)
{
    uint64_t carry = 0, any = 0;
    Py_ssize_t w, nlo, nhi;
    for (w = lo; w <= hi; w++) {
        uint64_t m = in[w] & mask[w];
        out[w] = (m << S) | carry;
        carry = m >> (64 - S);
        any |= m;
    }
    if (!any)
        return 0;
    nhi = hi;
    if (carry)
        out[++nhi] = carry;
    nlo = lo;
    while (out[nlo] == 0)
        nlo++;
    while (out[nhi] == 0)
        nhi--;
    *plo = nlo;
    *phi = nhi;
    return 1;
}

/* ------------------------------------------------------------------------------------------------ sparse path
 * A sequence with few symbols of one kind (a spike train: few ones among zeros; or the complement) is parsed
 * on its run lengths instead of its bitsets.  The phrase count is the same for the sequence and its complement
 * (the parse only compares symbols), so let the m rarer symbols ("marks") sit at o[0] < ... < o[m-1] and set
 * o[-1] = -1, o[m] = n (a sentinel, not a symbol).  g[r] = o[r] - o[r-1] - 1 is the number of the other
 * symbols ("gaps") before mark r, and g[m] those after the last mark.
 *
 * A phrase starts at p with o[j-1] < p <= o[j] (j <= m): the rest begins with a = o[j] - p gap symbols.
 * - j < m (a mark follows).  An earlier start q < p copies the gaps and the mark iff q + a is a mark
 *   o[i] with i < j and g[i] >= a.  From there source and phrase agree while g[i+t] == g[j+t] (t = 1, 2, ...);
 *   the first t where they differ ends the copy min(g[i+t], g[j+t]) symbols after o[j+t-1] -- the next symbol
 *   is the phrase's last -- unless j + t == m, where the phrase's gaps run to the end of the sequence: then a
 *   source with g[i+t] >= g[m] copies the whole rest (an incomplete last phrase), and otherwise it stops after
 *   g[i+t].  The phrase ends at the farthest of these ends.  With no such source, only gap symbols are copied:
 *   if the run of gap symbols holding p started before p, q = p - 1 copies all a of them and the mark ends
 *   the phrase; otherwise the longest earlier run of gap symbols, Z = max(g[0..j-1]) < a, is copied and one
 *   more gap symbol ends the phrase.
 * - j = m (only gap symbols are left, a = n - p).  The rest is copied (incomplete last phrase) if its run
 *   started before p or an earlier run is at least as long (Z >= a); otherwise the phrase is Z + 1 gap
 *   symbols.
 * Cost: per phrase, one pass over the earlier marks, each followed as far as its gaps agree; since the copies
 * of the phrases cover at most m gaps in all, at most about 2 m^2 steps per sequence.  Used for m <= LZ_SPARSE:
 * on n = 1024 with m marks at random places it took 0.3 / 0.9 / 2.1 / 4.1 / 8.1 us for m = 5 / 20 / 40 / 64 /
 * 100 against 2.5 / 4.0 / 5.3 / 6.5 / 8.4 us for the bitsets (break-even near m = 100).
 */
#define LZ_SPARSE 64

static int64_t
lz76_sparse(const Py_ssize_t *o, const Py_ssize_t *g, Py_ssize_t m, Py_ssize_t n)
{
    int64_t count = 1; /* the first symbol is always a phrase of its own */
    Py_ssize_t p = 1, j = 0, z_prev = 0;
    while (p < n) {
        Py_ssize_t a, i, best = -1;
        while (o[j] < p) {
            if (g[j] > z_prev)
                z_prev = g[j];
            j++;
        }
        a = o[j] - p;
        if (j == m) {
            if (p > o[j - 1] + 1 || z_prev >= a)
                return count + 1; /* the rest is a copy: an incomplete last phrase */
            count++;
            p += z_prev + 1;
            continue;
        }
        for (i = 0; i < j; i++) {
            Py_ssize_t t, end;
            if (g[i] < a)
                continue;
            for (t = 1; j + t < m && g[i + t] == g[j + t]; t++)
                ;
            if (j + t == m) {
                if (g[i + t] >= g[m])
                    return count + 1; /* the rest is a copy */
                end = o[j + t - 1] + 1 + g[i + t];
            }
            else
                end = o[j + t - 1] + 1 + (g[i + t] < g[j + t] ? g[i + t] : g[j + t]);
            if (end > best)
                best = end;
        }
        count++;
        if (best >= 0)
            p = best + 1;
        else if (p > o[j - 1] + 1)
            p = o[j] + 1;
        else
            p += z_prev + 1;
    }
    return count;
}

/* The marks (set bits of the bitset x, nw words, m of them) and gaps of the sparse path; o and g point one
   past the start of arrays of m + 2 items (o[-1] = -1, o[m] = n). */
static void
sparse_marks(const uint64_t *x, Py_ssize_t nw, Py_ssize_t n, Py_ssize_t *o, Py_ssize_t *g)
{
    Py_ssize_t w, r = 0;
    o[-1] = -1;
    for (w = 0; w < nw; w++) {
        uint64_t t;
        for (t = x[w]; t; t &= t - 1) {
            o[r] = (w << 6) + LZ_CTZ64(t);
            g[r] = o[r] - o[r - 1] - 1;
            r++;
        }
    }
    o[r] = n;
    g[r] = n - o[r - 1] - 1;
}

static inline int
popcount64(uint64_t x)
{
#if defined(__GNUC__) || defined(__clang__)
    return __builtin_popcountll(x);
#else
    int c = 0;
    for (; x; x &= x - 1)
        c++;
    return c;
#endif
}

/* ------------------------------------------------------------------------------------------------ interrupts */

/* Polling: the kernels add their work (about one unit per word operation) to ctx->work and call lz_poll when it
   passes LZ_POLL_WORK (some 10-50 ms on a current core); the suffix automaton polls every LZ_SAM_POLL symbols. */
#define LZ_POLL_WORK (1 << 25)
#define LZ_SAM_POLL (1 << 18)

typedef struct {
    PyThreadState **save;          /* not NULL: this thread released the GIL into *save and checks signals */
    const volatile uint8_t *cancel; /* not NULL: stop when *cancel becomes non-zero */
    int64_t work;                  /* work since the last poll */
    int stopped;                   /* 1: a signal handler raised (exception set), 2: cancelled */
} lz_ctx;

#if defined(__GNUC__) || defined(__clang__)
#define LZ_INLINE inline __attribute__((always_inline))
#define LZ_COLD __attribute__((noinline, cold))
#define LZ_UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define LZ_INLINE inline
#define LZ_COLD
#define LZ_UNLIKELY(x) (x)
#endif

/* Returns 0 to go on, -1 to stop (ctx->stopped says why). */
static LZ_COLD int
lz_poll(lz_ctx *ctx)
{
    ctx->work = 0;
    if (ctx->cancel != NULL && *ctx->cancel) {
        ctx->stopped = 2;
        return -1;
    }
    if (ctx->save != NULL) {
        int r;
        PyEval_RestoreThread(*ctx->save);
        r = PyErr_CheckSignals();
        *ctx->save = PyEval_SaveThread();
        if (r < 0) {
            ctx->stopped = 1;
            return -1;
        }
    }
    return 0;
}

#define LZ_WORK(ctx, amount)                                                                                  \
    do {                                                                                                      \
        if (LZ_UNLIKELY(((ctx)->work += (amount)) >= LZ_POLL_WORK) && lz_poll(ctx) < 0)                       \
            return -2;                                                                                        \
    } while (0)

/* The same on a local counter `work` (kept in a register in the hot loops of lz76_bits), only where `fine`
   (a constant in each copy of lz76_bits), and a return that hands the counter back to ctx. */
#define LZ_WORK_LOCAL(amount)                                                                                 \
    do {                                                                                                      \
        if (fine && LZ_UNLIKELY((work += (amount)) >= LZ_POLL_WORK)) {                                        \
            if (lz_poll(ctx) < 0)                                                                             \
                return -2;                                                                                    \
            work = 0;                                                                                         \
        }                                                                                                     \
    } while (0)
#define LZ_RETURN(value)                                                                                      \
    do {                                                                                                      \
        ctx->work = work;                                                                                     \
        return (value);                                                                                       \
    } while (0)

/* ------------------------------------------------------------------------------------- long sequences: SAM
 * The suffix automaton (directed acyclic word graph; Blumer et al. 1985, built online as in Crochemore &
 * Hancart 1997) of the prefix s[0:j] has one state per class of substrings of s[0:j] with the same set of
 * end positions; from the state of a substring u, the transition on c exists iff uc is a substring of s[0:j].
 * The LZ76 parse asks, for a phrase that starts at p and has copied s[p:j] so far, whether s[p:j+1] occurs
 * starting at some q < p -- the same as being a substring of s[0:j] (the copy may overlap the phrase).  So:
 * keep the automaton of s[0:j] and the state `cur` of s[p:j]; look up the transition of cur on s[j], then add
 * s[j] to the automaton (j += 1).  With a transition the copy goes on: cur moves along it to the state of
 * s[p:j+1] -- unless adding s[j] split that state, moving its strings of length <= len(clone) to a new clone
 * state, and s[p:j+1] is one of them: then cur is the clone.  Without a transition the phrase ends with s[j]
 * and cur goes back to the root (the empty string).
 * A copy that reaches the end is the incomplete last phrase.  Amortised O(1) per symbol (binary alphabet):
 * O(n) time, at most 2n + 1 states of 16 bytes (close to 2n on random sequences and spike trains: 32 bytes
 * per symbol, 320 MB for n = 10^7; about n on periodic ones).
 * States are int32: used for n <= LZ_SAM_MAX.
 */
#define LZ_SAM_MIN 6144 /* auto: the automaton from this length on, the bitsets below it (break-even near 5000) */
#define LZ_SAM_MAX ((Py_ssize_t)1 << 29)

typedef struct {
    int32_t next[2]; /* transitions on 0 and 1; 0 = none (no transition leads to the root) */
    int32_t link;    /* suffix link; -1 for the root */
    int32_t len;     /* length of the longest substring of the state */
} lz_state;

static size_t
lz_sam_states(Py_ssize_t n)
{
    return 2 * (size_t)n + 2;
}

/* Memory of the automaton: on Linux an anonymous mapping advised to use transparent huge pages (the automaton
   is read at random places: 4 KiB pages cost a TLB miss on most steps), else PyMem_RawMalloc.  Pages are
   touched only as states are created. */
#if defined(__linux__) && defined(MADV_HUGEPAGE)
#define LZ_MMAP 1
#else
#define LZ_MMAP 0
#endif

static lz_state *
lz_sam_alloc(size_t bytes)
{
#if LZ_MMAP
    void *mem = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED)
        return NULL;
    (void)madvise(mem, bytes, MADV_HUGEPAGE); /* advice only: ignored where huge pages are off */
    return (lz_state *)mem;
#else
    return (lz_state *)PyMem_RawMalloc(bytes);
#endif
}

static void
lz_sam_free(lz_state *st, size_t bytes)
{
    if (st == NULL)
        return;
#if LZ_MMAP
    munmap((void *)st, bytes);
#else
    (void)bytes;
    PyMem_RawFree(st);
#endif
}

/* LZ76 phrase count of s[0:n] (bytes 0/1, already checked), st: lz_sam_states(n) states.  -2 if stopped. */
static int64_t
lz76_sam(const uint8_t *s, Py_ssize_t n, lz_state *st, lz_ctx *ctx)
{
    int32_t size = 1, last = 0, cur = 0;
    Py_ssize_t p = 0, j, poll = LZ_SAM_POLL;
    int64_t count = 0;

    st[0].next[0] = st[0].next[1] = 0;
    st[0].link = -1;
    st[0].len = 0;
    for (j = 0; j < n; j++) {
        const int c = s[j];
        const int32_t nx = st[cur].next[c]; /* s[p:j+1] in s[0:j]? (before s[j] is added) */
        int32_t z = size++, v = last, split = -1, half = 0;

        LZ_PREFETCH(&st[nx]); /* read in the next step; the automaton is far larger than the caches */
        /* add s[j]: the automaton of s[0:j+1] */
        st[z].len = (int32_t)(j + 1);
        st[z].next[0] = st[z].next[1] = 0;
        while (v >= 0 && st[v].next[c] == 0) {
            st[v].next[c] = z;
            v = st[v].link;
        }
        if (v < 0)
            st[z].link = 0;
        else {
            const int32_t q = st[v].next[c];
            if (st[v].len + 1 == st[q].len)
                st[z].link = q;
            else { /* split q: its strings of length <= len(v) + 1 move to the clone */
                const int32_t cl = size++;
                st[cl] = st[q];
                st[cl].len = st[v].len + 1;
                while (v >= 0 && st[v].next[c] == q) {
                    st[v].next[c] = cl;
                    v = st[v].link;
                }
                st[q].link = cl;
                st[z].link = cl;
                split = q;
                half = cl;
            }
        }
        last = z;
        LZ_PREFETCH(&st[st[z].link]); /* the first state the next step's walk reads */

        if (nx) { /* the copy goes on: cur = state of s[p:j+1] */
            cur = nx;
            if (nx == split && st[half].len >= j + 1 - p)
                cur = half; /* nx was split by adding s[j]; s[p:j+1] is in the shorter half */
        }
        else { /* the phrase ends with s[j] */
            count++;
            p = j + 1;
            cur = 0;
        }
        if (--poll == 0) {
            poll = LZ_SAM_POLL;
            if (lz_poll(ctx) < 0)
                return -2;
        }
    }
    if (p < n)
        count++; /* the rest is a copy: an incomplete last phrase */
    return count;
}

/* Check that s[0:n] holds only 0 and 1 and count its ones; -1 if a byte is neither. */
static int
scan_bytes(const uint8_t *s, Py_ssize_t n, Py_ssize_t *ones)
{
    Py_ssize_t i, total = 0;
    uint8_t bad = 0;
    for (i = 0; i < n; i++) {
        bad |= s[i];
        total += s[i];
    }
    *ones = total;
    return (bad & 0xFE) ? -1 : 0;
}

/* The marks (positions of the symbol `mark`, m of them) and gaps of the sparse path, from the bytes. */
static void
sparse_marks_bytes(const uint8_t *s, Py_ssize_t n, uint8_t mark, Py_ssize_t *o, Py_ssize_t *g)
{
    Py_ssize_t i, r = 0;
    o[-1] = -1;
    for (i = 0; i < n; i++)
        if (s[i] == mark) {
            o[r] = i;
            g[r] = i - o[r - 1] - 1;
            r++;
        }
    o[r] = n;
    g[r] = n - o[r - 1] - 1;
}

/* Methods of lz76_batch: LZ_AUTO chooses (run lengths for <= LZ_SPARSE marks, else the automaton for
   LZ_SAM_MIN <= n <= LZ_SAM_MAX, else the bitsets); LZ_BITSETS is the run lengths or the bitsets (as before
   the automaton existed); LZ_SAM is the automaton alone (tests). */
#define LZ_AUTO 0
#define LZ_BITSETS 1
#define LZ_SAM 2

static int
lz_uses_sam(Py_ssize_t n, int method)
{
    if (n > LZ_SAM_MAX)
        return 0;
    return method == LZ_SAM || (method == LZ_AUTO && n >= LZ_SAM_MIN);
}

/* LZ76 phrase count of one long sequence with the automaton (or the run lengths, if it has few marks).
   -1 if a byte is neither 0 nor 1, -2 if stopped. */
static int64_t
lz76_long(const uint8_t *s, Py_ssize_t n, lz_state *st, int method, lz_ctx *ctx)
{
    Py_ssize_t ones;
    if (scan_bytes(s, n, &ones) < 0)
        return -1;
    LZ_WORK(ctx, n >> 5);
    if (method == LZ_AUTO && (ones <= LZ_SPARSE || n - ones <= LZ_SPARSE)) {
        Py_ssize_t o[LZ_SPARSE + 2], g[LZ_SPARSE + 2];
        const Py_ssize_t m = ones <= LZ_SPARSE ? ones : n - ones;
        sparse_marks_bytes(s, n, ones <= LZ_SPARSE ? 1 : 0, o + 1, g + 1);
        return lz76_sparse(o + 1, g + 1, m, n);
    }
    return lz76_sam(s, n, st, ctx);
}

/* ------------------------------------------------------------------------------------------ the bitsets */

/* LZ76 phrase count of one sequence s[0:n], n >= 1, with the run lengths or the bitsets.  Returns -1 if a byte
   is neither 0 nor 1, -2 if stopped (lz_poll).  With fine = 1 it counts its work as it goes and polls (long
   sequences: up to O(n^2 / 64) word operations); with fine = 0 (n < LZ_SAM_MIN: at most a few ms) it does not,
   and lz76_one accounts for the whole sequence at once, so that the hot loops of short sequences are those of
   the kernel before polling existed. */
static LZ_INLINE int64_t
lz76_bits(const uint8_t *s, Py_ssize_t n, lz_scratch *sc, lz_ctx *ctx, const int fine)
{
    int64_t count, work = ctx->work;
    Py_ssize_t p;

    if (pack_bits(s, n, sc->nw, sc->b[0], sc->b[1]) < 0)
        return -1;
    LZ_WORK_LOCAL(32 + 24 * sc->nw);
    {
        Py_ssize_t ones = 0, w;
        for (w = 0; w < sc->nw; w++)
            ones += popcount64(sc->b[1][w]);
        if (ones <= LZ_SPARSE || n - ones <= LZ_SPARSE) {
            Py_ssize_t o[LZ_SPARSE + 2], g[LZ_SPARSE + 2];
            const Py_ssize_t m = ones <= LZ_SPARSE ? ones : n - ones;
            sparse_marks(sc->b[ones <= LZ_SPARSE ? 1 : 0], sc->nw, n, o + 1, g + 1);
            LZ_RETURN(lz76_sparse(o + 1, g + 1, m, n));
        }
    }
    build_grams(sc);

    /* The first symbol is always a phrase of its own: there is no earlier start. */
    count = 1;
    p = 1;
    while (p < n) {
        uint64_t *E = sc->e, *F = sc->f, *T;
        Py_ssize_t k = 0, lo = 0, hi, w;
        const Py_ssize_t top = (p - 1) >> 6; /* last word of {0, ..., p-1} */
        const uint64_t top_mask = (p & 63) ? ((1ULL << (p & 63)) - 1) : ~0ULL;

        if (p + 2 * LZ_GRAM <= n) {
            /* First step with an 8-gram: the earlier starts q < p with s[q:q+8] == s[p:p+8], as end
               positions q + 8 in E.  Few of them (the usual case in irregular sequences): finish the phrase
               by direct comparison; many (long runs, periodic stretches): go on with the bitsets. */
            const uint64_t *ga = sc->g4[gram4(s + p)], *gb = sc->g4[gram4(s + p + LZ_GRAM)];
            const Py_ssize_t nw = sc->nw;
            uint64_t carry = 0, any = 0;
            Py_ssize_t cand[LZ_CAND + 1];
            int ncand = 0;
            LZ_WORK_LOCAL(top + 1);
            for (w = 0; w <= top; w++) {
                uint64_t m = ga[w] & window_down(gb, nw, w, LZ_GRAM);
                if (w == top)
                    m &= top_mask;
                E[w] = (m << (2 * LZ_GRAM)) | carry;
                carry = m >> (64 - 2 * LZ_GRAM);
                if (m) {
                    uint64_t t;
                    any |= m;
                    for (t = m; t && ncand <= LZ_CAND; t &= t - 1)
                        cand[ncand++] = (w << 6) + LZ_CTZ64(t);
                }
            }
            if (any) {
                if (ncand <= LZ_CAND) {
                    const Py_ssize_t limit = n - p;
                    Py_ssize_t best = 2 * LZ_GRAM;
                    int i;
                    for (i = 0; i < ncand && best < limit; i++) {
                        Py_ssize_t l = 2 * LZ_GRAM + common_prefix(s + cand[i] + 2 * LZ_GRAM,
                                                                   s + p + 2 * LZ_GRAM, limit - 2 * LZ_GRAM);
                        if (l > best)
                            best = l;
                    }
                    LZ_WORK_LOCAL(ncand * (best >> 3));
                    count++;
                    if (best >= limit)
                        LZ_RETURN(count); /* the rest is a copy: an incomplete last phrase */
                    p += best + 1;
                    continue;
                }
                hi = top;
                if (carry)
                    E[++hi] = carry;
                while (E[lo] == 0)
                    lo++;
                while (E[hi] == 0)
                    hi--;
                k = 2 * LZ_GRAM;
                if (p + k >= n)
                    LZ_RETURN(count + 1); /* incomplete last phrase */
                goto bitsets;
            }
        }

        /* E_0 = {0, ..., p-1} */
        for (w = 0; w < top; w++)
            E[w] = ~0ULL;
        E[top] = top_mask;
        lo = 0;
        hi = top;

    bitsets:
        for (;;) {
            /* Invariant: E (words [lo, hi], non-empty) holds the end positions q + k of the earlier starts
               q < p with s[q:q+k] == s[p:p+k], and p + k < n. */
            LZ_WORK_LOCAL(hi - lo + 1);
            if (hi - lo <= 1) {
                uint64_t x0 = E[lo], x1 = hi > lo ? E[hi] : 0, t;
                int cnt = 0;
                for (t = x0; t && cnt <= LZ_FEW; t &= t - 1)
                    cnt++;
                for (t = x1; t && cnt <= LZ_FEW; t &= t - 1)
                    cnt++;
                if (cnt <= LZ_FEW) {
                    /* The phrase goes on while some candidate matches: its copy part is k plus the longest
                       common prefix of s[e:] and s[p+k:] over the candidates e. */
                    const Py_ssize_t limit = n - (p + k);
                    Py_ssize_t best = 0;
                    int part;
                    for (part = 0; part < 2 && best < limit; part++) {
                        Py_ssize_t base = (part ? hi : lo) << 6;
                        for (t = part ? x1 : x0; t && best < limit; t &= t - 1) {
                            Py_ssize_t l = common_prefix(s + base + LZ_CTZ64(t), s + p + k, limit);
                            if (l > best)
                                best = l;
                        }
                    }
                    LZ_WORK_LOCAL(best >> 2);
                    count++;
                    if (best >= limit)
                        LZ_RETURN(count); /* the rest is a copy: an incomplete last phrase */
                    p += k + best + 1;
                    goto next_phrase;
                }
            }
            if (p + k + LZ_GRAM <= n) {
                if (lz_step(E, F, lo, hi, sc->g4[gram4(s + p + k)], LZ_GRAM, &lo, &hi)) {
                    T = E, E = F, F = T;
                    k += LZ_GRAM;
                    if (p + k >= n)
                        LZ_RETURN(count + 1); /* incomplete last phrase */
                    continue;
                }
            }
            /* One symbol at a time: the phrase or the sequence ends within LZ_GRAM steps. */
            for (;;) {
                LZ_WORK_LOCAL(hi - lo + 1);
                if (!lz_step(E, F, lo, hi, sc->b[s[p + k]], 1, &lo, &hi)) {
                    /* no earlier start continues: the phrase ends with s[p+k] */
                    count++;
                    p += k + 1;
                    goto next_phrase;
                }
                T = E, E = F, F = T;
                k++;
                if (p + k >= n)
                    LZ_RETURN(count + 1); /* incomplete last phrase */
            }
        }
    next_phrase:;
    }
    LZ_RETURN(count);
}

static int64_t
lz76_one(const uint8_t *s, Py_ssize_t n, lz_scratch *sc, lz_ctx *ctx)
{
    int64_t count;
    if (n >= LZ_SAM_MIN)
        return lz76_bits(s, n, sc, ctx, 1);
    count = lz76_bits(s, n, sc, ctx, 0);
    if (count >= 0)
        LZ_WORK(ctx, 32 + ((n * sc->nw) >> 3)); /* a bound of the work of a short sequence, in word operations */
    return count;
}

PyDoc_STRVAR(lz76_batch_doc,
"lz76_batch(bits, n_seq, n, out, method=0, cancel=None, check_signals=True)\n"
"--\n"
"\n"
"Exact LZ76 phrase counts of n_seq binary sequences of length n.\n"
"\n"
"bits: C-contiguous buffer of at least n_seq * n bytes, row-major (n_seq, n), each byte 0 or 1.\n"
"out: writable C-contiguous buffer of n_seq int64 items; receives the counts.\n"
"method: 0 chooses (run lengths for few marks, bitsets for n < SAM_MIN, else the linear-time suffix\n"
"automaton), 1 run lengths or bitsets only, 2 the suffix automaton only.\n"
"cancel: None, or a writable buffer whose first byte, once non-zero, stops the count (KeyboardInterrupt).\n"
"check_signals: take the GIL back every few tens of milliseconds to run the signal handlers (Ctrl+C);\n"
"pass False from threads other than the main one.\n"
"Raises ValueError if a byte is not 0 or 1 or a buffer is too small.  Releases the GIL while counting.");

static PyObject *
lz76_batch(PyObject *self, PyObject *args)
{
    PyObject *bits_obj, *out_obj, *cancel_obj = Py_None;
    Py_ssize_t n_seq, n;
    Py_buffer bits, out, cancel;
    Py_ssize_t i, bad_row = -1;
    Py_ssize_t nw;
    int method = LZ_AUTO, check_signals = 1, has_cancel = 0, sam;
    uint64_t *scratch = NULL;
    lz_state *states = NULL;
    lz_ctx ctx;
    PyThreadState *save;

    (void)self;
    if (!PyArg_ParseTuple(args, "OnnO|iOp:lz76_batch", &bits_obj, &n_seq, &n, &out_obj, &method, &cancel_obj,
                          &check_signals))
        return NULL;
    if (n_seq < 0) {
        PyErr_SetString(PyExc_ValueError, "lz76_batch: n_seq must be >= 0");
        return NULL;
    }
    if (n < 1) {
        PyErr_SetString(PyExc_ValueError, "lz76_batch: n must be >= 1");
        return NULL;
    }
    if (method != LZ_AUTO && method != LZ_BITSETS && method != LZ_SAM) {
        PyErr_SetString(PyExc_ValueError, "lz76_batch: method must be 0 (auto), 1 (bitsets) or 2 (automaton)");
        return NULL;
    }
    if (n_seq > 0 && n > PY_SSIZE_T_MAX / n_seq) {
        PyErr_SetString(PyExc_OverflowError, "lz76_batch: n_seq * n overflows");
        return NULL;
    }
    if (PyObject_GetBuffer(bits_obj, &bits, PyBUF_C_CONTIGUOUS) < 0)
        return NULL;
    if (PyObject_GetBuffer(out_obj, &out, PyBUF_C_CONTIGUOUS | PyBUF_WRITABLE | PyBUF_FORMAT) < 0) {
        PyBuffer_Release(&bits);
        return NULL;
    }
    if (cancel_obj != Py_None) {
        if (PyObject_GetBuffer(cancel_obj, &cancel, PyBUF_C_CONTIGUOUS | PyBUF_WRITABLE) < 0)
            goto fail;
        has_cancel = 1;
        if (cancel.len < 1) {
            PyErr_SetString(PyExc_ValueError, "lz76_batch: cancel must hold at least one byte");
            goto fail;
        }
    }
    if (bits.len < n_seq * n) {
        PyErr_Format(PyExc_ValueError, "lz76_batch: bits holds %zd bytes, need n_seq * n = %zd", bits.len,
                     n_seq * n);
        goto fail;
    }
    if (out.itemsize != 8 || (out.format != NULL && out.format[0] != '\0'
                              && strchr("qlQL", out.format[strlen(out.format) - 1]) == NULL)) {
        PyErr_SetString(PyExc_ValueError, "lz76_batch: out must be a buffer of 8-byte integers");
        goto fail;
    }
    if (out.len < n_seq * 8) {
        PyErr_Format(PyExc_ValueError, "lz76_batch: out holds %zd bytes, need 8 * n_seq = %zd", out.len,
                     n_seq * 8);
        goto fail;
    }

    nw = (n + 63) >> 6;
    sam = lz_uses_sam(n, method);
    if (n_seq > 0) {
        if (sam)
            states = lz_sam_alloc(lz_sam_states(n) * sizeof(lz_state));
        else
            scratch = (uint64_t *)PyMem_RawCalloc(lz_scratch_words(nw), sizeof(uint64_t));
        if (states == NULL && scratch == NULL) {
            PyErr_NoMemory();
            goto fail;
        }
    }

    ctx.save = check_signals ? &save : NULL;
    ctx.cancel = has_cancel ? (const volatile uint8_t *)cancel.buf : NULL;
    ctx.work = 0;
    ctx.stopped = 0;
    save = PyEval_SaveThread();
    {
        const uint8_t *src = (const uint8_t *)bits.buf;
        int64_t *dst = (int64_t *)out.buf;
        lz_scratch sc;
        memset(&sc, 0, sizeof sc);
        if (scratch != NULL)
            lz_scratch_init(&sc, scratch, nw);
        for (i = 0; i < n_seq; i++) {
            int64_t c = sam ? lz76_long(src + i * n, n, states, method, &ctx)
                            : lz76_one(src + i * n, n, &sc, &ctx);
            if (c == -2)
                break;
            if (c < 0) {
                bad_row = i;
                break;
            }
            dst[i] = c;
        }
    }
    PyEval_RestoreThread(save);

    PyMem_RawFree(scratch);
    lz_sam_free(states, lz_sam_states(n) * sizeof(lz_state));
    if (ctx.stopped) {
        if (ctx.stopped == 2 || !PyErr_Occurred())
            PyErr_SetString(PyExc_KeyboardInterrupt, "lz76_batch: cancelled");
        goto fail;
    }
    if (bad_row >= 0) {
        PyErr_Format(PyExc_ValueError, "lz76_batch: sequence %zd holds a byte that is not 0 or 1", bad_row);
        goto fail;
    }
    if (has_cancel)
        PyBuffer_Release(&cancel);
    PyBuffer_Release(&bits);
    PyBuffer_Release(&out);
    Py_RETURN_NONE;

fail:
    if (has_cancel)
        PyBuffer_Release(&cancel);
    PyBuffer_Release(&bits);
    PyBuffer_Release(&out);
    return NULL;
}

static PyMethodDef lz76_methods[] = {
    {"lz76_batch", lz76_batch, METH_VARARGS, lz76_batch_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef lz76_module = {
    PyModuleDef_HEAD_INIT,
    "_lz76",
    "Compiled kernel of brainlz.lzc: exact LZ76 phrase counts of binary sequences (bit-parallel;\n"
    "a suffix automaton for long sequences).",
    -1,
    lz76_methods,
    NULL,
    NULL,
    NULL,
    NULL,
};

PyMODINIT_FUNC
PyInit__lz76(void)
{
    PyObject *m = PyModule_Create(&lz76_module);
    if (m == NULL)
        return NULL;
    if (PyModule_AddIntConstant(m, "SAM_MIN", (long)LZ_SAM_MIN) < 0
        || PyModule_AddIntConstant(m, "SAM_MAX", (long)LZ_SAM_MAX) < 0
        || PyModule_AddIntConstant(m, "SPARSE_MAX", (long)LZ_SPARSE) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
