/* qtok._native: the trainer's two hot loops in C (counting pieces, learning merges).
 *
 * Why C: counting pieces with Python's `regex` runs at ~5 MB/s and the merge loop over Python
 * dicts and sets at ~100 merges/s on 30 MB; rustbpe does both in Rust. This file has no
 * dependency beyond CPython's headers, so any machine with a C compiler builds it; where none
 * is, the extension is skipped (setup.py marks it optional) and qtok.train runs its pure-Python
 * path, which the tests prove gives the same tables.
 *
 * count(texts, classes, let_mask, max_digits) -> dict[str, int]
 *     The pieces of Qwen's pattern family, counted. The pattern is
 *         (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?LET+|\p{N}{1,D}| ?[^\s LET \p{N}]+[\r\n]*
 *         |\s*[\r\n]+|\s+(?!\S)|\s+
 *     with LET = \p{L} (Qwen-1..3, cl100k_base: D = 1 or 3) or [\p{L}\p{M}] (Qwen3.5, D = 1),
 *     matched as a backtracking engine does (leftmost alternative first), written out by hand.
 *     `classes` is one byte per code point (bit 1 L, 2 N, 4 White_Space, 8 M): tiktoken's own
 *     tables, from qtok.unicode, so the classes are the ones the engines use. A text that is not
 *     valid UTF-8 (a lone surrogate) is returned in the list of texts to count the slow way:
 *     count() returns (counts, those texts).
 *
 * learn(pieces, freqs, ranks, n_new, accept, encode_slow) -> int
 *     BPE continued from a base: each piece encoded with the base ranks (tiktoken's rule: the
 *     lowest-ranked adjacent pair first, the leftmost on ties), then `n_new` times the most
 *     frequent adjacent pair (ties: the smallest (left, right) ids) is offered to
 *     accept(left, right), which returns the new token's id, or None when the pair's bytes are
 *     already a token (the pair is then never offered again). Stops early when no pair occurs
 *     twice. encode_slow(piece) -> ids encodes a piece that has no UTF-8 (a lone surrogate).
 *     The same algorithm as qtok.train.extend_counts: pair counts updated only in the
 *     pieces that hold the merged pair, a max-heap with lazy deletion.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define C_L 1
#define C_N 2
#define C_WS 4
#define C_M 8

/* ---------------------------------------------------------------- byte-string hash table */

static uint64_t hash_bytes(const unsigned char *p, size_t n) {
    /* Eight bytes a step, then a final mix: pieces are short, and this is the scan's hot spot.
     * (Deterministic; it only orders the table, never the result.) */
    uint64_t h = 0x9E3779B97F4A7C15ULL ^ (uint64_t)n;
    while (n >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        h = (h ^ v) * 0xff51afd7ed558ccdULL;
        h ^= h >> 32;
        p += 8;
        n -= 8;
    }
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) v |= (uint64_t)p[i] << (8 * i);
    h = (h ^ v) * 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 29;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 32;
    return h;
}

/* Keys of up to 16 bytes (most pieces) are kept in the entry itself, so a lookup that hits
 * compares two words and touches no arena; longer ones live in the arena. The slots hold entry
 * indices (4 bytes each), so the table that is probed stays small and entries stay in insertion
 * order, the frequent pieces first, close together. */
#define INLINE 16

typedef struct {
    uint64_t hash;
    int64_t value; /* a count, or a rank */
    uint32_t len;
    uint32_t _pad;
    union {
        unsigned char inl[INLINE];
        int64_t off; /* into the arena, when len > INLINE */
    } key;
} Slot;

typedef struct {
    uint32_t *slots; /* entry index + 1; 0 = empty */
    size_t cap;
    Slot *entries;
    size_t used, ecap;
    char *arena;
    size_t arena_len, arena_cap;
} StrMap;

static int strmap_init(StrMap *m, size_t cap) {
    m->cap = cap;
    m->used = 0;
    m->ecap = cap / 2;
    m->slots = (uint32_t *)calloc(cap, sizeof(uint32_t));
    m->entries = (Slot *)malloc(m->ecap * sizeof(Slot));
    m->arena_cap = 1 << 16;
    m->arena_len = 0;
    m->arena = (char *)malloc(m->arena_cap);
    return m->slots && m->entries && m->arena ? 0 : -1;
}

static void strmap_free(StrMap *m) {
    free(m->slots);
    free(m->entries);
    free(m->arena);
    m->slots = NULL;
    m->entries = NULL;
    m->arena = NULL;
}

static inline const unsigned char *slot_key(const StrMap *m, const Slot *s) {
    return s->len <= INLINE ? s->key.inl : (const unsigned char *)m->arena + s->key.off;
}

static int strmap_grow(StrMap *m) {
    size_t ncap = m->cap * 2;
    uint32_t *ns = (uint32_t *)calloc(ncap, sizeof(uint32_t));
    Slot *ne = (Slot *)realloc(m->entries, (ncap / 2) * sizeof(Slot));
    if (!ns || !ne) {
        free(ns);
        if (ne) m->entries = ne;
        return -1;
    }
    m->entries = ne;
    m->ecap = ncap / 2;
    for (size_t e = 0; e < m->used; e++) {
        size_t j = m->entries[e].hash & (ncap - 1);
        while (ns[j]) j = (j + 1) & (ncap - 1);
        ns[j] = (uint32_t)(e + 1);
    }
    free(m->slots);
    m->slots = ns;
    m->cap = ncap;
    return 0;
}

static inline int key_equal(const StrMap *m, const Slot *s, const unsigned char *p, size_t n, uint64_t h) {
    return s->hash == h && s->len == n && memcmp(slot_key(m, s), p, n) == 0;
}

/* The entry of key p[0:n], inserted (value 0) when absent; NULL when out of memory. */
static Slot *strmap_upsert(StrMap *m, const unsigned char *p, size_t n, uint64_t h) {
    if ((m->used + 1) * 2 > m->cap && strmap_grow(m) < 0) return NULL;
    size_t j = h & (m->cap - 1);
    uint32_t e;
    while ((e = m->slots[j])) {
        Slot *s = &m->entries[e - 1];
        if (key_equal(m, s, p, n, h)) return s;
        j = (j + 1) & (m->cap - 1);
    }
    Slot *s = &m->entries[m->used];
    if (n > INLINE) {
        if (m->arena_len + n > m->arena_cap) {
            size_t ncap = m->arena_cap;
            while (m->arena_len + n > ncap) ncap *= 2;
            char *na = (char *)realloc(m->arena, ncap);
            if (!na) return NULL;
            m->arena = na;
            m->arena_cap = ncap;
        }
        memcpy(m->arena + m->arena_len, p, n);
        s->key.off = (int64_t)m->arena_len;
        m->arena_len += n;
    } else {
        memcpy(s->key.inl, p, n);
    }
    s->hash = h;
    s->len = (uint32_t)n;
    s->value = 0;
    m->slots[j] = (uint32_t)(++m->used);
    return s;
}

static const Slot *strmap_get(const StrMap *m, const unsigned char *p, size_t n) {
    uint64_t h = hash_bytes(p, n);
    size_t j = h & (m->cap - 1);
    uint32_t e;
    while ((e = m->slots[j])) {
        const Slot *s = &m->entries[e - 1];
        if (key_equal(m, s, p, n, h)) return s;
        j = (j + 1) & (m->cap - 1);
    }
    return NULL;
}

/* ---------------------------------------------------------------- counting pieces */

/* One code point of valid UTF-8 (CPython's own encoding of a str) at s[i]; its end in *next. */
static inline uint32_t utf8_at(const unsigned char *s, Py_ssize_t i, Py_ssize_t *next) {
    unsigned char c = s[i];
    if (c < 0x80) {
        *next = i + 1;
        return c;
    }
    if (c < 0xE0) {
        *next = i + 2;
        return ((uint32_t)(c & 0x1F) << 6) | (s[i + 1] & 0x3F);
    }
    if (c < 0xF0) {
        *next = i + 3;
        return ((uint32_t)(c & 0x0F) << 12) | ((uint32_t)(s[i + 1] & 0x3F) << 6) | (s[i + 2] & 0x3F);
    }
    *next = i + 4;
    return ((uint32_t)(c & 0x07) << 18) | ((uint32_t)(s[i + 1] & 0x3F) << 12) |
           ((uint32_t)(s[i + 2] & 0x3F) << 6) | (s[i + 3] & 0x3F);
}

typedef struct {
    const unsigned char *cls; /* 0x110000 bytes */
    unsigned let;             /* the letter run's class: C_L or C_L|C_M */
    int max_digits;
} Pattern;

static inline unsigned cls_at(const Pattern *p, const unsigned char *s, Py_ssize_t i, Py_ssize_t n,
                              uint32_t *cp, Py_ssize_t *next) {
    if (i >= n) {
        *next = i;
        *cp = 0xFFFFFFFF;
        return 0x80; /* past the end: in no class */
    }
    *cp = utf8_at(s, i, next);
    return p->cls[*cp];
}

/* The end of the run of characters in `mask` starting at i (any=1: their class meets mask;
 * any=0: it does not). */
static inline Py_ssize_t run_of(const Pattern *p, const unsigned char *s, Py_ssize_t i, Py_ssize_t n,
                                unsigned mask, int in) {
    while (i < n) {
        Py_ssize_t nx;
        uint32_t cp;
        unsigned c = cls_at(p, s, i, n, &cp, &nx);
        if (((c & mask) != 0) != in) break;
        i = nx;
    }
    return i;
}

static inline int is_nl(uint32_t cp) { return cp == '\r' || cp == '\n'; }

/* The end of the piece that starts at i (< n). */
static Py_ssize_t piece_end(const Pattern *p, const unsigned char *s, Py_ssize_t i, Py_ssize_t n) {
    uint32_t cp0, cp1;
    Py_ssize_t i1, i2;
    unsigned c0 = cls_at(p, s, i, n, &cp0, &i1);
    unsigned c1 = cls_at(p, s, i1, n, &cp1, &i2);
    unsigned punct_not = C_WS | C_N | p->let; /* [^\s LET \p{N}] */

    /* (?i:'s|'t|'re|'ve|'m|'ll|'d): simple case folding, as Rust's regex folds: s is also
     * U+017F LATIN SMALL LETTER LONG S. */
    if (cp0 == '\'' && i1 < n) {
        uint32_t f1 = cp1 < 0x80 ? (cp1 | 0x20) : cp1;
        if (f1 == 's' || f1 == 0x17F || f1 == 't' || f1 == 'm' || f1 == 'd') return i2;
        if ((f1 == 'r' || f1 == 'v' || f1 == 'l') && i2 < n && s[i2] < 0x80) {
            uint32_t f2 = s[i2] | 0x20;
            if ((f1 == 'l' && f2 == 'l') || (f1 != 'l' && f2 == 'e')) return i2 + 1;
        }
    }
    /* [^\r\n\p{L}\p{N}]?LET+ : the optional prefix is tried first. */
    if (!(c0 & (C_L | C_N)) && !is_nl(cp0) && (c1 & p->let) && i1 < n) return run_of(p, s, i1, n, p->let, 1);
    if (c0 & p->let) return run_of(p, s, i1, n, p->let, 1);
    /* \p{N}{1,D} */
    if (c0 & C_N) {
        Py_ssize_t j = i1;
        for (int k = 1; k < p->max_digits && j < n; k++) {
            uint32_t cp;
            Py_ssize_t nx;
            if (!(cls_at(p, s, j, n, &cp, &nx) & C_N)) break;
            j = nx;
        }
        return j;
    }
    /* ' ?[^\s LET \p{N}]+[\r\n]*' */
    if (cp0 == ' ' && i1 < n && !(c1 & punct_not)) {
        Py_ssize_t j = run_of(p, s, i2, n, punct_not, 0);
        while (j < n && (s[j] == '\r' || s[j] == '\n')) j++;
        return j;
    }
    if (!(c0 & punct_not)) {
        Py_ssize_t j = run_of(p, s, i1, n, punct_not, 0);
        while (j < n && (s[j] == '\r' || s[j] == '\n')) j++;
        return j;
    }
    /* Whitespace: \s*[\r\n]+ ends after the run's last newline; else \s+(?!\S) leaves the run's
     * last character to the next piece (unless the text ends); else \s+. */
    Py_ssize_t j = i, last_start = i, after_nl = -1;
    while (j < n) {
        uint32_t cp;
        Py_ssize_t nx;
        if (!(cls_at(p, s, j, n, &cp, &nx) & C_WS)) break;
        if (is_nl(cp)) after_nl = nx;
        last_start = j;
        j = nx;
    }
    if (after_nl >= 0) return after_nl;
    if (j == n || last_start == i) return j;
    return last_start;
}

typedef struct {
    const unsigned char *s;
    Py_ssize_t n;
} Text;

static int count_text(const Pattern *p, StrMap *m, const unsigned char *s, Py_ssize_t n) {
    Py_ssize_t i = 0;
    while (i < n) {
        Py_ssize_t e = piece_end(p, s, i, n);
        Slot *slot = strmap_upsert(m, s + i, (size_t)(e - i), hash_bytes(s + i, (size_t)(e - i)));
        if (!slot) return -1;
        slot->value++;
        i = e;
    }
    return 0;
}

static PyObject *native_count(PyObject *self, PyObject *args) {
    PyObject *texts, *seq = NULL, *slow = NULL, *out = NULL;
    Py_buffer classes;
    unsigned let;
    int max_digits;
    if (!PyArg_ParseTuple(args, "Oy*Ii", &texts, &classes, &let, &max_digits)) return NULL;
    if (classes.len != 0x110000) {
        PyErr_SetString(PyExc_ValueError, "classes must have one byte per code point (0x110000)");
        PyBuffer_Release(&classes);
        return NULL;
    }
    Pattern pat = {(const unsigned char *)classes.buf, let, max_digits < 1 ? 1 : max_digits};
    StrMap m = {0};
    Text *items = NULL;
    Py_ssize_t k = 0;
    int failed = 0;
    seq = PySequence_Fast(texts, "texts must be a list of str");
    if (!seq) goto done;
    Py_ssize_t count = PySequence_Fast_GET_SIZE(seq);
    items = (Text *)malloc(sizeof(Text) * (count ? count : 1));
    slow = PyList_New(0);
    if (!items || !slow || strmap_init(&m, 1 << 12) < 0) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t t = 0; t < count; t++) {
        PyObject *text = PySequence_Fast_GET_ITEM(seq, t);
        if (!PyUnicode_Check(text)) {
            PyErr_Format(PyExc_TypeError, "texts must be str, got %s", Py_TYPE(text)->tp_name);
            goto done;
        }
        Py_ssize_t n;
        const char *s = PyUnicode_AsUTF8AndSize(text, &n);
        if (!s) { /* a lone surrogate: no UTF-8; counted by the caller's regex path */
            PyErr_Clear();
            if (PyList_Append(slow, text) < 0) goto done;
            continue;
        }
        items[k].s = (const unsigned char *)s;
        items[k].n = n;
        k++;
    }
    /* The texts stay alive (seq holds them) and their UTF-8 is cached in them: the scan needs
     * no Python object, so other threads may run meanwhile. */
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t t = 0; t < k && !failed; t++) failed = count_text(&pat, &m, items[t].s, items[t].n) < 0;
    Py_END_ALLOW_THREADS
    if (failed) {
        PyErr_NoMemory();
        goto done;
    }
    out = PyDict_New();
    if (!out) goto done;
    for (size_t j = 0; j < m.used; j++) {
        const Slot *sl = &m.entries[j];
        PyObject *key = PyUnicode_DecodeUTF8((const char *)slot_key(&m, sl), sl->len, "strict");
        PyObject *val = key ? PyLong_FromLongLong(sl->value) : NULL;
        int bad = !val || PyDict_SetItem(out, key, val) < 0;
        Py_XDECREF(key);
        Py_XDECREF(val);
        if (bad) {
            Py_CLEAR(out);
            goto done;
        }
    }
done:
    PyBuffer_Release(&classes);
    strmap_free(&m);
    free(items);
    Py_XDECREF(seq);
    if (!out) {
        Py_XDECREF(slow);
        return NULL;
    }
    PyObject *res = Py_BuildValue("(NN)", out, slow);
    return res;
}

/* ---------------------------------------------------------------- encoding with the base */

/* tiktoken's byte_pair_merge on piece s[0:n] (n >= 2), the ids into out; returns their number.
 * Quadratic in n, the fastest way for short pieces; bpe_long below takes the long ones. */
static Py_ssize_t bpe_piece(const StrMap *ranks, const unsigned char *s, Py_ssize_t n, int32_t *out,
                            Py_ssize_t *start, int64_t *rank) {
    const int64_t NONE = INT64_MAX;
    Py_ssize_t parts = n + 1; /* boundaries 0..n */
    for (Py_ssize_t i = 0; i <= n; i++) start[i] = i;
    for (Py_ssize_t i = 0; i + 1 < n; i++) {
        const Slot *sl = strmap_get(ranks, s + i, 2);
        rank[i] = sl ? sl->value : NONE;
    }
    rank[n - 1] = NONE;
    rank[n] = NONE;
    /* rank[i]: the rank of parts i and i+1 joined (s[start[i]:start[i+2]]). */
    for (;;) {
        int64_t best = NONE;
        Py_ssize_t at = -1;
        for (Py_ssize_t i = 0; i + 2 < parts; i++)
            if (rank[i] < best) {
                best = rank[i];
                at = i;
            }
        if (at < 0) break;
        /* Remove boundary at+1. */
        memmove(start + at + 1, start + at + 2, sizeof(Py_ssize_t) * (parts - at - 2));
        memmove(rank + at + 1, rank + at + 2, sizeof(int64_t) * (parts - at - 2));
        parts--;
        if (at + 2 < parts) {
            const Slot *sl = strmap_get(ranks, s + start[at], (size_t)(start[at + 2] - start[at]));
            rank[at] = sl ? sl->value : NONE;
        } else {
            rank[at] = NONE;
        }
        if (at > 0) {
            const Slot *sl = strmap_get(ranks, s + start[at - 1], (size_t)(start[at + 1] - start[at - 1]));
            rank[at - 1] = sl ? sl->value : NONE;
        }
    }
    for (Py_ssize_t i = 0; i + 1 < parts; i++) {
        const Slot *sl = strmap_get(ranks, s + start[i], (size_t)(start[i + 1] - start[i]));
        if (!sl) return -1;
        out[i] = (int32_t)sl->value;
    }
    return parts - 1;
}

/* The same merges for long pieces in O(n log n) (a megabyte without a space is one piece), as
 * qtok.bpe.bpe_merge does them: parts in a linked list, candidate pairs in a min-heap by (rank,
 * start), stale entries skipped when popped. Lowest rank first, leftmost on ties: tiktoken's
 * order. Returns the number of ids, -1 when out of memory, -2 when a byte is not a token. */
typedef struct {
    int64_t rank;
    Py_ssize_t at;
} RankAt;

static inline int ra_before(const RankAt *x, const RankAt *y) {
    return x->rank != y->rank ? x->rank < y->rank : x->at < y->at;
}

static void ra_push(RankAt *h, Py_ssize_t *n, RankAt it) {
    Py_ssize_t i = (*n)++;
    while (i > 0) {
        Py_ssize_t parent = (i - 1) / 2;
        if (!ra_before(&it, &h[parent])) break;
        h[i] = h[parent];
        i = parent;
    }
    h[i] = it;
}

static RankAt ra_pop(RankAt *h, Py_ssize_t *n) {
    RankAt top = h[0], last = h[--(*n)];
    Py_ssize_t i = 0;
    for (;;) {
        Py_ssize_t c = 2 * i + 1;
        if (c >= *n) break;
        if (c + 1 < *n && ra_before(&h[c + 1], &h[c])) c++;
        if (!ra_before(&h[c], &last)) break;
        h[i] = h[c];
        i = c;
    }
    if (*n) h[i] = last;
    return top;
}

static inline int64_t rank_of(const StrMap *ranks, const unsigned char *s, Py_ssize_t lo, Py_ssize_t hi) {
    const Slot *sl = strmap_get(ranks, s + lo, (size_t)(hi - lo));
    return sl ? sl->value : -1;
}

static Py_ssize_t bpe_long(const StrMap *ranks, const unsigned char *s, Py_ssize_t n, int32_t *out) {
    Py_ssize_t *nxt = (Py_ssize_t *)malloc(sizeof(Py_ssize_t) * n);
    Py_ssize_t *prv = (Py_ssize_t *)malloc(sizeof(Py_ssize_t) * n);
    char *alive = (char *)malloc(n);
    /* Each merge pushes at most two entries, and there are at most n - 1 merges. */
    RankAt *heap = (RankAt *)malloc(sizeof(RankAt) * 3 * n);
    Py_ssize_t hn = 0, m = 0;
    if (!nxt || !prv || !alive || !heap) {
        m = -1;
        goto out;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        nxt[i] = i + 1;
        prv[i] = i - 1;
        alive[i] = 1;
    }
    for (Py_ssize_t i = 0; i + 1 < n; i++) {
        int64_t r = rank_of(ranks, s, i, i + 2);
        if (r >= 0) ra_push(heap, &hn, (RankAt){r, i});
    }
    while (hn) {
        RankAt top = ra_pop(heap, &hn);
        Py_ssize_t i = top.at, j = nxt[i];
        if (!alive[i] || j >= n || rank_of(ranks, s, i, nxt[j]) != top.rank) continue;
        alive[j] = 0;
        Py_ssize_t end = nxt[j];
        nxt[i] = end;
        if (end < n) prv[end] = i;
        int64_t r;
        if (prv[i] >= 0 && (r = rank_of(ranks, s, prv[i], end)) >= 0) ra_push(heap, &hn, (RankAt){r, prv[i]});
        if (end < n && (r = rank_of(ranks, s, i, nxt[end])) >= 0) ra_push(heap, &hn, (RankAt){r, i});
    }
    for (Py_ssize_t i = 0; i < n; i = nxt[i]) {
        int64_t r = rank_of(ranks, s, i, nxt[i]);
        if (r < 0) {
            m = -2;
            goto out;
        }
        out[m++] = (int32_t)r;
    }
out:
    free(nxt);
    free(prv);
    free(alive);
    free(heap);
    return m;
}

/* ---------------------------------------------------------------- learning merges */

typedef struct {
    int32_t *w; /* word indices (may repeat, or no longer hold the pair: checked on use) */
    int32_t n, cap;
} IntVec;

static int vec_push(IntVec *v, int32_t x) {
    if (v->n == v->cap) {
        int32_t ncap = v->cap ? v->cap * 2 : 4;
        int32_t *nw = (int32_t *)realloc(v->w, sizeof(int32_t) * ncap);
        if (!nw) return -1;
        v->w = nw;
        v->cap = ncap;
    }
    v->w[v->n++] = x;
    return 0;
}

typedef struct {
    int32_t a, b;
    int64_t count;
    int64_t stamp; /* the last merge step that changed it */
    int banned;
    IntVec where;
} Pair;

typedef struct {
    int64_t *keys; /* (a << 32 | b), -1 empty */
    int32_t *idx;
    size_t cap, used;
    Pair *pairs;
    size_t npairs, pcap;
} PairMap;

static inline uint64_t mix64(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

static int pm_init(PairMap *m) {
    m->cap = 1 << 16;
    m->used = 0;
    m->keys = (int64_t *)malloc(sizeof(int64_t) * m->cap);
    m->idx = (int32_t *)malloc(sizeof(int32_t) * m->cap);
    m->pcap = 1 << 14;
    m->npairs = 0;
    m->pairs = (Pair *)malloc(sizeof(Pair) * m->pcap);
    if (!m->keys || !m->idx || !m->pairs) return -1;
    memset(m->keys, 0xFF, sizeof(int64_t) * m->cap);
    return 0;
}

static void pm_free(PairMap *m) {
    if (m->pairs)
        for (size_t i = 0; i < m->npairs; i++) free(m->pairs[i].where.w);
    free(m->keys);
    free(m->idx);
    free(m->pairs);
}

static int pm_grow(PairMap *m) {
    size_t ncap = m->cap * 2;
    int64_t *nk = (int64_t *)malloc(sizeof(int64_t) * ncap);
    int32_t *ni = (int32_t *)malloc(sizeof(int32_t) * ncap);
    if (!nk || !ni) {
        free(nk);
        free(ni);
        return -1;
    }
    memset(nk, 0xFF, sizeof(int64_t) * ncap);
    for (size_t i = 0; i < m->cap; i++) {
        if (m->keys[i] < 0) continue;
        size_t j = mix64((uint64_t)m->keys[i]) & (ncap - 1);
        while (nk[j] >= 0) j = (j + 1) & (ncap - 1);
        nk[j] = m->keys[i];
        ni[j] = m->idx[i];
    }
    free(m->keys);
    free(m->idx);
    m->keys = nk;
    m->idx = ni;
    m->cap = ncap;
    return 0;
}

/* The pair (a, b), created with count 0 when absent; NULL when out of memory. */
static Pair *pm_get(PairMap *m, int32_t a, int32_t b) {
    int64_t key = ((int64_t)a << 32) | (uint32_t)b;
    size_t j = mix64((uint64_t)key) & (m->cap - 1);
    while (m->keys[j] >= 0) {
        if (m->keys[j] == key) return &m->pairs[m->idx[j]];
        j = (j + 1) & (m->cap - 1);
    }
    if ((m->used + 1) * 2 > m->cap) {
        if (pm_grow(m) < 0) return NULL;
        return pm_get(m, a, b);
    }
    if (m->npairs == m->pcap) {
        size_t ncap = m->pcap * 2;
        Pair *np = (Pair *)realloc(m->pairs, sizeof(Pair) * ncap);
        if (!np) return NULL;
        m->pairs = np;
        m->pcap = ncap;
    }
    Pair *p = &m->pairs[m->npairs];
    memset(p, 0, sizeof(Pair));
    p->a = a;
    p->b = b;
    p->stamp = -1;
    m->keys[j] = key;
    m->idx[j] = (int32_t)m->npairs;
    m->npairs++;
    m->used++;
    return p;
}

typedef struct {
    int64_t count;
    int32_t a, b;
} HeapItem;

typedef struct {
    HeapItem *v;
    size_t n, cap;
} Heap;

/* Max by count, then the smallest (a, b): the order of qtok.train.extend_counts' heap. */
static inline int heap_before(const HeapItem *x, const HeapItem *y) {
    if (x->count != y->count) return x->count > y->count;
    if (x->a != y->a) return x->a < y->a;
    return x->b < y->b;
}

static int heap_push(Heap *h, HeapItem it) {
    if (h->n == h->cap) {
        size_t ncap = h->cap ? h->cap * 2 : 1024;
        HeapItem *nv = (HeapItem *)realloc(h->v, sizeof(HeapItem) * ncap);
        if (!nv) return -1;
        h->v = nv;
        h->cap = ncap;
    }
    size_t i = h->n++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!heap_before(&it, &h->v[parent])) break;
        h->v[i] = h->v[parent];
        i = parent;
    }
    h->v[i] = it;
    return 0;
}

static HeapItem heap_pop(Heap *h) {
    HeapItem top = h->v[0], last = h->v[--h->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n) break;
        if (c + 1 < h->n && heap_before(&h->v[c + 1], &h->v[c])) c++;
        if (!heap_before(&h->v[c], &last)) break;
        h->v[i] = h->v[c];
        i = c;
    }
    if (h->n) h->v[i] = last;
    return top;
}

typedef struct {
    int32_t *ids;   /* all words, each at off[w] with len[w] ids (shrinking in place) */
    int64_t *off;
    int32_t *len;
    int64_t *freq;
    Py_ssize_t nwords;
} Words;

/* Add `sign * freq` to every adjacent pair of word w; note changed pairs (stamp) in `changed`;
 * with `track`, record w in the `where` of pairs that hold `track_id`. */
static int word_pairs(PairMap *pm, Words *ws, int32_t w, int64_t sign, int64_t step, IntVec *changed,
                      int32_t track_id) {
    int32_t *ids = ws->ids + ws->off[w];
    for (int32_t i = 0; i + 1 < ws->len[w]; i++) {
        Pair *p = pm_get(pm, ids[i], ids[i + 1]);
        if (!p) return -1;
        p->count += sign * ws->freq[w];
        if (p->stamp != step) {
            p->stamp = step;
            if (vec_push(changed, (int32_t)(p - pm->pairs)) < 0) return -1;
        }
        if (track_id >= 0 && (ids[i] == track_id || ids[i + 1] == track_id))
            if (vec_push(&p->where, w) < 0) return -1;
    }
    return 0;
}

static PyObject *native_learn(PyObject *self, PyObject *args) {
    PyObject *pieces, *freqs, *ranks_obj, *accept, *encode_slow;
    Py_ssize_t n_new;
    if (!PyArg_ParseTuple(args, "OOO!nOO", &pieces, &freqs, &PyDict_Type, &ranks_obj, &n_new, &accept,
                          &encode_slow))
        return NULL;
    PyObject *pseq = NULL, *fseq = NULL, *result = NULL;
    StrMap ranks = {0};
    PairMap pm = {0};
    Heap heap = {0};
    Words ws = {0};
    IntVec changed = {0};
    Py_ssize_t *start = NULL;
    int64_t *rankbuf = NULL;
    const Py_ssize_t SHORT = 64; /* longer pieces take bpe_long: quadratic is faster below */

    pseq = PySequence_Fast(pieces, "pieces must be a list of str");
    fseq = pseq ? PySequence_Fast(freqs, "freqs must be a list of int") : NULL;
    if (!fseq) goto done;
    Py_ssize_t np = PySequence_Fast_GET_SIZE(pseq);
    if (PySequence_Fast_GET_SIZE(fseq) != np) {
        PyErr_SetString(PyExc_ValueError, "pieces and freqs differ in length");
        goto done;
    }
    /* The base's ranks, as a C table. */
    size_t cap = 1024;
    while (cap < (size_t)PyDict_Size(ranks_obj) * 2 + 2) cap *= 2;
    if (strmap_init(&ranks, cap) < 0 || pm_init(&pm) < 0) {
        PyErr_NoMemory();
        goto done;
    }
    {
        Py_ssize_t pos = 0;
        PyObject *k, *v;
        while (PyDict_Next(ranks_obj, &pos, &k, &v)) {
            if (!PyBytes_Check(k)) {
                PyErr_SetString(PyExc_TypeError, "ranks must map bytes to int");
                goto done;
            }
            long long r = PyLong_AsLongLong(v);
            if (r == -1 && PyErr_Occurred()) goto done;
            const unsigned char *kb = (const unsigned char *)PyBytes_AS_STRING(k);
            size_t kn = (size_t)PyBytes_GET_SIZE(k);
            Slot *sl = strmap_upsert(&ranks, kb, kn, hash_bytes(kb, kn));
            if (!sl) {
                PyErr_NoMemory();
                goto done;
            }
            sl->value = r;
        }
    }
    /* Encode each piece; keep those of two or more ids. */
    size_t ids_cap = 1 << 16, ids_len = 0, wcap = 1024;
    ws.ids = (int32_t *)malloc(sizeof(int32_t) * ids_cap);
    ws.off = (int64_t *)malloc(sizeof(int64_t) * wcap);
    ws.len = (int32_t *)malloc(sizeof(int32_t) * wcap);
    ws.freq = (int64_t *)malloc(sizeof(int64_t) * wcap);
    start = (Py_ssize_t *)malloc(sizeof(Py_ssize_t) * (SHORT + 1));
    rankbuf = (int64_t *)malloc(sizeof(int64_t) * (SHORT + 1));
    int32_t *tmp = (int32_t *)malloc(sizeof(int32_t) * SHORT);
    if (!ws.ids || !ws.off || !ws.len || !ws.freq || !start || !rankbuf || !tmp) {
        free(tmp);
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < np; i++) {
        PyObject *piece = PySequence_Fast_GET_ITEM(pseq, i);
        long long f = PyLong_AsLongLong(PySequence_Fast_GET_ITEM(fseq, i));
        if (f == -1 && PyErr_Occurred()) {
            free(tmp);
            goto done;
        }
        if (!PyUnicode_Check(piece)) {
            free(tmp);
            PyErr_Format(PyExc_TypeError, "pieces must be str, got %s", Py_TYPE(piece)->tp_name);
            goto done;
        }
        Py_ssize_t n;
        const char *s = PyUnicode_AsUTF8AndSize(piece, &n);
        PyObject *slow_ids = NULL;
        Py_ssize_t m;
        const int32_t *src = tmp;
        int32_t *slow_buf = NULL;
        if (!s) PyErr_Clear();
        /* A piece that is a token is that token (tiktoken looks the whole piece up first). */
        if (s && (n < 2 || strmap_get(&ranks, (const unsigned char *)s, (size_t)n)))
            continue;
        if (s) {
            if (n <= SHORT) {
                m = bpe_piece(&ranks, (const unsigned char *)s, n, tmp, start, rankbuf);
            } else {
                slow_buf = (int32_t *)malloc(sizeof(int32_t) * n);
                m = slow_buf ? bpe_long(&ranks, (const unsigned char *)s, n, slow_buf) : -1;
                src = slow_buf;
            }
            if (m < 0) {
                free(slow_buf);
                free(tmp);
                if (m == -1) PyErr_NoMemory();
                else PyErr_SetString(PyExc_ValueError, "the base vocabulary lacks a single-byte token");
                goto done;
            }
        } else { /* not UTF-8 (a lone surrogate): the engine's way */
            slow_ids = PyObject_CallOneArg(encode_slow, piece);
            PyObject *sseq = slow_ids ? PySequence_Fast(slow_ids, "encode_slow must return ids") : NULL;
            Py_XDECREF(slow_ids);
            if (!sseq) {
                free(tmp);
                goto done;
            }
            m = PySequence_Fast_GET_SIZE(sseq);
            slow_buf = (int32_t *)malloc(sizeof(int32_t) * (m ? m : 1));
            for (Py_ssize_t j = 0; slow_buf && j < m; j++)
                slow_buf[j] = (int32_t)PyLong_AsLong(PySequence_Fast_GET_ITEM(sseq, j));
            Py_DECREF(sseq);
            if (!slow_buf || PyErr_Occurred()) {
                free(slow_buf);
                free(tmp);
                if (!PyErr_Occurred()) PyErr_NoMemory();
                goto done;
            }
            src = slow_buf;
        }
        if (m >= 2) {
            if (ids_len + m > ids_cap) {
                while (ids_len + m > ids_cap) ids_cap *= 2;
                int32_t *ni = (int32_t *)realloc(ws.ids, sizeof(int32_t) * ids_cap);
                if (!ni) {
                    free(slow_buf);
                    free(tmp);
                    PyErr_NoMemory();
                    goto done;
                }
                ws.ids = ni;
            }
            if ((size_t)ws.nwords == wcap) {
                wcap *= 2;
                int64_t *no = (int64_t *)realloc(ws.off, sizeof(int64_t) * wcap);
                if (no) ws.off = no;
                int32_t *nl = (int32_t *)realloc(ws.len, sizeof(int32_t) * wcap);
                if (nl) ws.len = nl;
                int64_t *nf = (int64_t *)realloc(ws.freq, sizeof(int64_t) * wcap);
                if (nf) ws.freq = nf;
                if (!no || !nl || !nf) {
                    free(slow_buf);
                    free(tmp);
                    PyErr_NoMemory();
                    goto done;
                }
            }
            memcpy(ws.ids + ids_len, src, sizeof(int32_t) * m);
            ws.off[ws.nwords] = (int64_t)ids_len;
            ws.len[ws.nwords] = (int32_t)m;
            ws.freq[ws.nwords] = f;
            ws.nwords++;
            ids_len += m;
        }
        free(slow_buf);
    }
    free(tmp);
    strmap_free(&ranks);

    /* Pair statistics, and the heap. */
    for (Py_ssize_t w = 0; w < ws.nwords; w++) {
        int32_t *ids = ws.ids + ws.off[w];
        for (int32_t i = 0; i + 1 < ws.len[w]; i++) {
            Pair *p = pm_get(&pm, ids[i], ids[i + 1]);
            if (!p || vec_push(&p->where, (int32_t)w) < 0) {
                PyErr_NoMemory();
                goto done;
            }
            p->count += ws.freq[w];
        }
    }
    for (size_t i = 0; i < pm.npairs; i++) {
        HeapItem it = {pm.pairs[i].count, pm.pairs[i].a, pm.pairs[i].b};
        if (heap_push(&heap, it) < 0) {
            PyErr_NoMemory();
            goto done;
        }
    }

    Py_ssize_t learned = 0;
    int64_t step = 0;
    while (learned < n_new && heap.n) {
        HeapItem top = heap_pop(&heap);
        Pair *p = pm_get(&pm, top.a, top.b);
        if (!p) {
            PyErr_NoMemory();
            goto done;
        }
        if (p->banned || p->count != top.count) continue; /* stale */
        if (top.count < 2) break;                        /* a pair seen once is worth no token */
        PyObject *r = PyObject_CallFunction(accept, "ii", (int)top.a, (int)top.b);
        if (!r) goto done;
        if (r == Py_None) {
            Py_DECREF(r);
            p->banned = 1;
            continue;
        }
        long new_id = PyLong_AsLong(r);
        Py_DECREF(r);
        if (new_id == -1 && PyErr_Occurred()) goto done;
        learned++;
        step++;
        int32_t a = top.a, b = top.b;
        IntVec where = p->where; /* taken: p may move as the table grows */
        p->where.w = NULL;
        p->where.n = p->where.cap = 0;
        changed.n = 0;
        for (int32_t k = 0; k < where.n; k++) {
            int32_t w = where.w[k];
            int32_t *ids = ws.ids + ws.off[w];
            int32_t len = ws.len[w], has = 0;
            for (int32_t i = 0; i + 1 < len; i++)
                if (ids[i] == a && ids[i + 1] == b) {
                    has = 1;
                    break;
                }
            if (!has) continue; /* a repeat, or merged away since */
            if (word_pairs(&pm, &ws, w, -1, step, &changed, -1) < 0) {
                free(where.w);
                PyErr_NoMemory();
                goto done;
            }
            int32_t o = 0;
            for (int32_t i = 0; i < len;) {
                if (i + 1 < len && ids[i] == a && ids[i + 1] == b) {
                    ids[o++] = (int32_t)new_id;
                    i += 2;
                } else {
                    ids[o++] = ids[i++];
                }
            }
            ws.len[w] = o;
            if (word_pairs(&pm, &ws, w, +1, step, &changed, (int32_t)new_id) < 0) {
                free(where.w);
                PyErr_NoMemory();
                goto done;
            }
        }
        free(where.w);
        for (int32_t k = 0; k < changed.n; k++) {
            Pair *q = &pm.pairs[changed.w[k]];
            if (q->count > 0 && !q->banned) {
                HeapItem it = {q->count, q->a, q->b};
                if (heap_push(&heap, it) < 0) {
                    PyErr_NoMemory();
                    goto done;
                }
            }
        }
    }
    result = PyLong_FromSsize_t(learned);
done:
    Py_XDECREF(pseq);
    Py_XDECREF(fseq);
    strmap_free(&ranks);
    pm_free(&pm);
    free(heap.v);
    free(ws.ids);
    free(ws.off);
    free(ws.len);
    free(ws.freq);
    free(changed.w);
    free(start);
    free(rankbuf);
    return result;
}

static PyMethodDef methods[] = {
    {"count", native_count, METH_VARARGS,
     "count(texts, classes, let_mask, max_digits) -> (dict[str, int], list of texts left to the slow path)"},
    {"learn", native_learn, METH_VARARGS,
     "learn(pieces, freqs, ranks, n_new, accept, encode_slow) -> number of tokens learned"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_native", "The trainer's hot loops in C.", -1, methods};

PyMODINIT_FUNC PyInit__native(void) { return PyModule_Create(&module); }
