/* qtok._native: the trainer's two hot loops in C (counting pieces, learning merges), and the
 * study's token counter (qtok.tally: encoder, pieces, tally, tally_words, tally_ids; see the
 * section "counting tokens" below for what it counts and why).
 *
 * Why C: counting pieces with Python's `regex` runs at ~5 MB/s and the merge loop over Python
 * dicts and sets at ~100 merges/s on 30 MB; rustbpe does both in Rust. This file has no
 * dependency beyond CPython's headers, so any machine with a C compiler builds it; where none
 * is, the extension is skipped (setup.py marks it optional) and qtok.train runs its pure-Python
 * path, which the tests prove gives the same tables.
 *
 * table() -> a table of piece counts (a capsule); count_into(table, texts, classes, let_mask,
 * max_digits) -> the texts left over; table_merge(dst, src); table_items(table, out) -> out
 *     The pieces of Qwen's pattern family, counted into a C table. The pattern is
 *         (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?LET+|\p{N}{1,D}| ?[^\s LET \p{N}]+[\r\n]*
 *         |\s*[\r\n]+|\s+(?!\S)|\s+
 *     with LET = \p{L} (Qwen-1..3, cl100k_base: D = 1 or 3) or [\p{L}\p{M}] (Qwen3.5, D = 1),
 *     matched as a backtracking engine does (leftmost alternative first), written out by hand.
 *     `classes` is one byte per code point (bit 1 L, 2 N, 4 White_Space, 8 M): tiktoken's own
 *     tables, from qtok.unicode, so the classes are the ones the engines use. The scan releases
 *     the GIL, so threads count into tables of their own, merged after. A text that is not valid
 *     UTF-8 (a lone surrogate) is returned, for the caller to count the slow way.
 *
 * learn(pieces, train, dev, n_langs, ranks, n_new, global_merges, accept, encode_slow) -> int
 *     BPE continued from a base. `pieces` is a list of str, or a table (its counts are then the
 *     training counts, of one language, and `train` is ignored). Each distinct piece is encoded
 *     with the base ranks (tiktoken's rule: the lowest-ranked adjacent pair first, the leftmost
 *     on ties); `train` and `dev` say how often each occurs in each language, as (piece index,
 *     language, count) columns grouped by piece. Then, up to `n_new` times, a pair is offered to accept(left, right), which
 *     returns the new token's id, or None when the pair's bytes are already a token (the pair is
 *     then never offered again):
 *       - without `dev` (dev None), or for the first `global_merges` merges: the pair most
 *         frequent over all training text, ties to the smallest (left, right) ids;
 *       - with `dev` (parity-aware BPE): the pair most frequent in the training text of the
 *         language whose development text is longest in tokens at that step, else the next
 *         longest's (qtok/parity.py says why).
 *     Stops early when no pair occurs twice. encode_slow(piece) -> ids encodes a piece that has
 *     no UTF-8 (a lone surrogate). The same algorithms as qtok.train.extend_counts and
 *     qtok.parity.learn_parity: pair counts (and development lengths) updated only in the pieces
 *     that hold the merged pair, max-heaps with lazy deletion.
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
 * indices and the top half of the key's hash (8 bytes each): a probe that misses (most of BPE's
 * lookups of a pair) rarely touches an entry, and entries stay in insertion order, the frequent
 * pieces first, close together. */
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
    uint64_t *slots; /* hash >> 32 << 32 | entry index + 1; 0 = empty */
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
    m->slots = (uint64_t *)calloc(cap, sizeof(uint64_t));
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
    uint64_t *ns = (uint64_t *)calloc(ncap, sizeof(uint64_t));
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
        ns[j] = (m->entries[e].hash >> 32 << 32) | (uint64_t)(e + 1);
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
    uint64_t e, tag = h >> 32 << 32;
    while ((e = m->slots[j])) {
        if ((e >> 32 << 32) == tag) {
            Slot *s = &m->entries[(uint32_t)e - 1];
            if (key_equal(m, s, p, n, h)) return s;
        }
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
    m->slots[j] = tag | (uint64_t)(++m->used);
    return s;
}

static const Slot *strmap_find(const StrMap *m, const unsigned char *p, size_t n, uint64_t h) {
    size_t j = h & (m->cap - 1);
    uint64_t e, tag = h >> 32 << 32;
    while ((e = m->slots[j])) {
        if ((e >> 32 << 32) == tag) {
            const Slot *s = &m->entries[(uint32_t)e - 1];
            if (key_equal(m, s, p, n, h)) return s;
        }
        j = (j + 1) & (m->cap - 1);
    }
    return NULL;
}

static const Slot *strmap_get(const StrMap *m, const unsigned char *p, size_t n) {
    return strmap_find(m, p, n, hash_bytes(p, n));
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

/* A str's UTF-8 without caching it in the str (PyUnicode_AsUTF8AndSize keeps a copy for as long
 * as the str lives: the size of the corpus again): an ASCII str's own data, else a new bytes
 * object in *tmp for the caller to release. NULL with no error set: a lone surrogate, which has
 * no UTF-8. */
static const char *utf8_of(PyObject *text, Py_ssize_t *n, PyObject **tmp) {
    *tmp = NULL;
    if (PyUnicode_IS_ASCII(text)) {
        *n = PyUnicode_GET_LENGTH(text);
        return (const char *)PyUnicode_DATA(text);
    }
    PyObject *b = PyUnicode_AsUTF8String(text);
    if (!b) {
        if (PyErr_ExceptionMatches(PyExc_UnicodeEncodeError)) PyErr_Clear();
        return NULL;
    }
    *tmp = b;
    *n = PyBytes_GET_SIZE(b);
    return PyBytes_AS_STRING(b);
}

typedef struct {
    const unsigned char *s;
    Py_ssize_t n;
} Text;

/* A list of str as UTF-8, for a loop without the GIL: texts_read fills *items (and *tmps, the
 * copies of the non-ASCII ones, which texts_free releases) and checks that counts (an int64
 * buffer) has one entry per text. 0, or -1 with an error set: a non-str (TypeError), a lone
 * surrogate (its UnicodeEncodeError, before anything is counted). */
typedef struct {
    PyObject *seq;
    Py_ssize_t count;
    Text *items;
    PyObject **tmps;
} Texts;

static void texts_free(Texts *t) {
    for (Py_ssize_t k = 0; t->tmps && k < t->count; k++) Py_XDECREF(t->tmps[k]);
    free(t->items);
    free(t->tmps);
    Py_XDECREF(t->seq);
}

/* keep: each str keeps its UTF-8 (PyUnicode_AsUTF8AndSize), for those who read the same texts
 * next: their copy (PyUnicode_AsUTF8String) is then a memcpy, not an encoding. */
static int texts_read_as(Texts *t, PyObject *texts, const Py_buffer *counts, int keep) {
    if (!(t->seq = PySequence_Fast(texts, "texts must be a list of str"))) return -1;
    t->count = PySequence_Fast_GET_SIZE(t->seq);
    if (counts->len != t->count * (Py_ssize_t)sizeof(int64_t)) {
        PyErr_SetString(PyExc_ValueError, "counts must be an int64 array with one entry per text");
        return -1;
    }
    t->items = (Text *)malloc(sizeof(Text) * (t->count ? t->count : 1));
    t->tmps = (PyObject **)calloc(t->count ? t->count : 1, sizeof(PyObject *));
    if (!t->items || !t->tmps) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t k = 0; k < t->count; k++) {
        PyObject *text = PySequence_Fast_GET_ITEM(t->seq, k);
        if (!PyUnicode_Check(text)) {
            PyErr_Format(PyExc_TypeError, "texts must be str, got %s", Py_TYPE(text)->tp_name);
            return -1;
        }
        const char *s = keep ? PyUnicode_AsUTF8AndSize(text, &t->items[k].n) : utf8_of(text, &t->items[k].n, &t->tmps[k]);
        if (!s) {
            if (keep) return -1; /* its UnicodeEncodeError */
            if (!PyErr_Occurred()) Py_XDECREF(PyUnicode_AsUTF8String(text)); /* its UnicodeEncodeError */
            return -1;
        }
        t->items[k].s = (const unsigned char *)s;
    }
    return 0;
}

static int texts_read(Texts *t, PyObject *texts, const Py_buffer *counts) { return texts_read_as(t, texts, counts, 0); }

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

/* A table of piece counts, held by Python as a capsule: counting adds to it batch by batch, and
 * learn() reads it directly, so the pieces of a large corpus never become Python objects. */
#define TABLE "qtok._native.table"

static void table_free(PyObject *capsule) {
    StrMap *m = (StrMap *)PyCapsule_GetPointer(capsule, TABLE);
    if (m) {
        strmap_free(m);
        free(m);
    }
}

static StrMap *table_of(PyObject *obj) {
    return (StrMap *)PyCapsule_GetPointer(obj, TABLE); /* sets TypeError/ValueError if not one */
}

static PyObject *native_table(PyObject *self, PyObject *noargs) {
    StrMap *m = (StrMap *)calloc(1, sizeof(StrMap));
    if (!m || strmap_init(m, 1 << 12) < 0) {
        if (m) strmap_free(m);
        free(m);
        return PyErr_NoMemory();
    }
    PyObject *capsule = PyCapsule_New(m, TABLE, table_free);
    if (!capsule) {
        strmap_free(m);
        free(m);
    }
    return capsule;
}

/* count_into(table, texts, classes, let_mask, max_digits) -> texts left to the regex path */
static PyObject *native_count_into(PyObject *self, PyObject *args) {
    PyObject *capsule, *texts, *seq = NULL, *slow = NULL;
    Py_buffer classes;
    unsigned let;
    int max_digits;
    if (!PyArg_ParseTuple(args, "OOy*Ii", &capsule, &texts, &classes, &let, &max_digits)) return NULL;
    StrMap *m = table_of(capsule);
    Text *items = NULL;
    PyObject **tmps = NULL; /* the UTF-8 of non-ASCII texts, as bytes */
    Py_ssize_t k = 0;
    int ok = 0, failed = 0;
    if (!m) goto done;
    if (classes.len != 0x110000) {
        PyErr_SetString(PyExc_ValueError, "classes must have one byte per code point (0x110000)");
        goto done;
    }
    Pattern pat = {(const unsigned char *)classes.buf, let, max_digits < 1 ? 1 : max_digits};
    seq = PySequence_Fast(texts, "texts must be a list of str");
    if (!seq) goto done;
    Py_ssize_t count = PySequence_Fast_GET_SIZE(seq);
    items = (Text *)malloc(sizeof(Text) * (count ? count : 1));
    tmps = (PyObject **)calloc(count ? count : 1, sizeof(PyObject *));
    slow = PyList_New(0);
    if (!items || !tmps || !slow) {
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
        const char *s = utf8_of(text, &n, &tmps[k]);
        if (!s) {
            if (PyErr_Occurred()) goto done;
            /* a lone surrogate: no UTF-8; counted by the caller's regex path */
            if (PyList_Append(slow, text) < 0) goto done;
            continue;
        }
        items[k].s = (const unsigned char *)s;
        items[k].n = n;
        k++;
    }
    /* The texts stay alive (seq holds them), and so do the UTF-8 copies of the others (tmps):
     * the scan needs no Python object, so other threads may run meanwhile (on other tables). */
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t t = 0; t < k && !failed; t++) failed = count_text(&pat, m, items[t].s, items[t].n) < 0;
    Py_END_ALLOW_THREADS
    if (failed) {
        PyErr_NoMemory();
        goto done;
    }
    ok = 1;
done:
    PyBuffer_Release(&classes);
    free(items);
    for (Py_ssize_t t = 0; tmps && t < k; t++) Py_XDECREF(tmps[t]);
    free(tmps);
    Py_XDECREF(seq);
    if (!ok) Py_CLEAR(slow);
    return slow;
}

/* words_into(table, texts, counts) -> the texts' UTF-8 bytes
 *     Each text's words as str.split() cuts them (at Py_UNICODE_ISSPACE, what str.split()
 *     tests), counted into table (a table() of UTF-8 keys; None: not kept), and counts[i]
 *     (int64, writable, one per text) given text i's number of words. The study's word
 *     statistics: a Counter updated from Python costs ~0.2 us a word. A text with a lone
 *     surrogate raises UnicodeEncodeError (no UTF-8), before anything is counted. */
static PyObject *native_words_into(PyObject *self, PyObject *args) {
    PyObject *capsule, *texts, *result = NULL;
    Py_buffer counts = {0};
    Texts in = {0};
    if (!PyArg_ParseTuple(args, "OOw*", &capsule, &texts, &counts)) return NULL;
    StrMap *m = capsule == Py_None ? NULL : table_of(capsule);
    /* The study's documents, which each tokenizer reads next (XLM-R's encoder keeps their UTF-8
     * in any case): encoded here once, not once more by each. */
    if ((capsule != Py_None && !m) || texts_read_as(&in, texts, &counts, 1) < 0) goto done;
    Py_ssize_t count = in.count;
    Text *items = in.items;
    int64_t *out = (int64_t *)counts.buf, total = 0;
    int failed = 0;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t t = 0; t < count && !failed; t++) {
        const unsigned char *s = items[t].s;
        Py_ssize_t n = items[t].n, start = -1, next;
        int64_t words = 0;
        total += n;
        for (Py_ssize_t i = 0; i <= n && !failed; i = next) {
            int space = 1;
            if (i < n)
                space = Py_UNICODE_ISSPACE(utf8_at(s, i, &next));
            else
                next = n + 1;
            if (space && start >= 0) { /* a word ends */
                words++;
                if (m) {
                    Slot *sl = strmap_upsert(m, s + start, (size_t)(i - start), hash_bytes(s + start, (size_t)(i - start)));
                    failed = !sl;
                    if (sl) sl->value++;
                }
                start = -1;
            } else if (!space && start < 0) {
                start = i;
            }
        }
        out[t] = words;
    }
    Py_END_ALLOW_THREADS
    if (failed) {
        PyErr_NoMemory();
        goto done;
    }
    result = PyLong_FromLongLong(total);
done:
    PyBuffer_Release(&counts);
    texts_free(&in);
    return result;
}

/* table_merge(dst, src): src's counts added into dst. */
static PyObject *native_table_merge(PyObject *self, PyObject *args) {
    PyObject *a, *b;
    if (!PyArg_ParseTuple(args, "OO", &a, &b)) return NULL;
    StrMap *dst = table_of(a), *src = dst ? table_of(b) : NULL;
    if (!src) return NULL;
    for (size_t j = 0; j < src->used; j++) {
        const Slot *sl = &src->entries[j];
        Slot *d = strmap_upsert(dst, slot_key(src, sl), sl->len, sl->hash);
        if (!d) return PyErr_NoMemory();
        d->value += sl->value;
    }
    Py_RETURN_NONE;
}

/* table_items(table, out) -> out, a dict (a Counter) given each piece and its count;
 * table_size(table) -> distinct pieces. */
static PyObject *native_table_items(PyObject *self, PyObject *args) {
    PyObject *capsule, *out;
    if (!PyArg_ParseTuple(args, "OO!", &capsule, &PyDict_Type, &out)) return NULL;
    StrMap *m = table_of(capsule);
    if (!m) return NULL;
    Py_INCREF(out);
    for (size_t j = 0; out && j < m->used; j++) {
        const Slot *sl = &m->entries[j];
        PyObject *key = PyUnicode_DecodeUTF8((const char *)slot_key(m, sl), sl->len, "strict");
        PyObject *val = key ? PyLong_FromLongLong(sl->value) : NULL;
        if (!val || PyDict_SetItem(out, key, val) < 0) Py_CLEAR(out);
        Py_XDECREF(key);
        Py_XDECREF(val);
    }
    return out;
}

/* table_list(table, counts) -> the pieces as a list of str, in the order first counted; counts
 * (int64, writable, table_size long) gets their counts: no dict when only the two are wanted. */
static PyObject *native_table_list(PyObject *self, PyObject *args) {
    PyObject *capsule;
    Py_buffer counts;
    if (!PyArg_ParseTuple(args, "Ow*", &capsule, &counts)) return NULL;
    StrMap *m = table_of(capsule);
    PyObject *out = NULL;
    if (!m) goto done;
    if (counts.len != (Py_ssize_t)(m->used * sizeof(int64_t))) {
        PyErr_SetString(PyExc_ValueError, "counts must be an int64 array of table_size(table) entries");
        goto done;
    }
    if (!(out = PyList_New((Py_ssize_t)m->used))) goto done;
    for (size_t j = 0; j < m->used; j++) {
        const Slot *sl = &m->entries[j];
        PyObject *key = PyUnicode_DecodeUTF8((const char *)slot_key(m, sl), sl->len, "strict");
        if (!key) {
            Py_CLEAR(out);
            goto done;
        }
        PyList_SET_ITEM(out, (Py_ssize_t)j, key);
        ((int64_t *)counts.buf)[j] = sl->value;
    }
done:
    PyBuffer_Release(&counts);
    return out;
}

static PyObject *native_table_size(PyObject *self, PyObject *capsule) {
    StrMap *m = table_of(capsule);
    return m ? PyLong_FromSize_t(m->used) : NULL;
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
    int32_t last_w; /* the word last added to `where`: a word goes in once however often it holds the
                       pair (a 1 MB piece holds one pair 300,000 times) */
    int banned;
    IntVec where;
} Pair;

static int where_add(Pair *p, int32_t w) {
    if (p->last_w == w) return 0;
    p->last_w = w;
    return vec_push(&p->where, w);
}

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
    p->last_w = -1;
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

/* Weighted words: each distinct piece's ids (shrinking in place as merges apply), and how often
 * it occurs in each language (a run of (lang, count) entries), with their sum. */
typedef struct {
    int32_t *ids;
    int64_t *off;
    int32_t *len;
    int64_t *wfrom; /* the word's weights: wlang/wcount[wfrom[w] .. wfrom[w + 1]) */
    int32_t *wlang;
    int64_t *wcount;
    int64_t *total; /* the sum of the word's counts */
    Py_ssize_t nwords;
    size_t ids_len, weights_len;
    size_t ids_cap, off_cap, len_cap, wfrom_cap, wlang_cap, wcount_cap, total_cap;
} Words;

static void words_free(Words *ws) {
    free(ws->ids);
    free(ws->off);
    free(ws->len);
    free(ws->wfrom);
    free(ws->wlang);
    free(ws->wcount);
    free(ws->total);
}

static int grow(void **p, size_t *cap, size_t need, size_t size) {
    if (need <= *cap) return 0;
    size_t ncap = *cap ? *cap : 1024;
    while (ncap < need) ncap *= 2;
    void *np = realloc(*p, ncap * size);
    if (!np) return -1;
    *p = np;
    *cap = ncap;
    return 0;
}

/* Append a word: ids[0:m] with weights lang/count[0:k]. */
static int words_add(Words *ws, const int32_t *ids, Py_ssize_t m, const int32_t *lang, const int64_t *count,
                     Py_ssize_t k) {
    size_t w = (size_t)ws->nwords;
    if (grow((void **)&ws->ids, &ws->ids_cap, ws->ids_len + m, sizeof(int32_t)) < 0 ||
        grow((void **)&ws->off, &ws->off_cap, w + 1, sizeof(int64_t)) < 0 ||
        grow((void **)&ws->len, &ws->len_cap, w + 1, sizeof(int32_t)) < 0 ||
        grow((void **)&ws->total, &ws->total_cap, w + 1, sizeof(int64_t)) < 0 ||
        grow((void **)&ws->wfrom, &ws->wfrom_cap, w + 2, sizeof(int64_t)) < 0 ||
        grow((void **)&ws->wlang, &ws->wlang_cap, ws->weights_len + k, sizeof(int32_t)) < 0 ||
        grow((void **)&ws->wcount, &ws->wcount_cap, ws->weights_len + k, sizeof(int64_t)) < 0)
        return -1;
    memcpy(ws->ids + ws->ids_len, ids, sizeof(int32_t) * m);
    ws->off[w] = (int64_t)ws->ids_len;
    ws->len[w] = (int32_t)m;
    ws->wfrom[w] = (int64_t)ws->weights_len;
    int64_t total = 0;
    for (Py_ssize_t i = 0; i < k; i++) {
        ws->wlang[ws->weights_len + i] = lang[i];
        ws->wcount[ws->weights_len + i] = count[i];
        total += count[i];
    }
    ws->total[w] = total;
    ws->weights_len += k;
    ws->wfrom[w + 1] = (int64_t)ws->weights_len;
    ws->ids_len += m;
    ws->nwords++;
    return 0;
}

/* Counts of (pair, language): a hash map from pair index * n_langs + lang. */
typedef struct {
    int64_t key; /* -1 = empty */
    int64_t count;
    int64_t stamp;
} LangCount;

typedef struct {
    LangCount *v;
    size_t cap, used;
} LangMap;

static int lm_init(LangMap *m) {
    m->cap = 1 << 16;
    m->used = 0;
    m->v = (LangCount *)malloc(sizeof(LangCount) * m->cap);
    if (!m->v) return -1;
    for (size_t i = 0; i < m->cap; i++) m->v[i].key = -1;
    return 0;
}

static LangCount *lm_get(LangMap *m, int64_t key) {
    size_t j = mix64((uint64_t)key) & (m->cap - 1);
    while (m->v[j].key >= 0) {
        if (m->v[j].key == key) return &m->v[j];
        j = (j + 1) & (m->cap - 1);
    }
    if ((m->used + 1) * 2 > m->cap) {
        size_t ncap = m->cap * 2;
        LangCount *nv = (LangCount *)malloc(sizeof(LangCount) * ncap);
        if (!nv) return NULL;
        for (size_t i = 0; i < ncap; i++) nv[i].key = -1;
        for (size_t i = 0; i < m->cap; i++) {
            if (m->v[i].key < 0) continue;
            size_t k = mix64((uint64_t)m->v[i].key) & (ncap - 1);
            while (nv[k].key >= 0) k = (k + 1) & (ncap - 1);
            nv[k] = m->v[i];
        }
        free(m->v);
        m->v = nv;
        m->cap = ncap;
        return lm_get(m, key);
    }
    m->v[j].key = key;
    m->v[j].count = 0;
    m->v[j].stamp = -1;
    m->used++;
    return &m->v[j];
}

typedef struct {
    PairMap pm;
    LangMap lm;       /* per-language counts: only with languages (parity, hybrid) */
    int32_t n_langs;  /* 0: frequency only */
    Heap total_heap;  /* by the count over all languages */
    Heap *lang_heaps; /* one a language */
    IntVec changed;   /* pair indices whose total changed this step */
    int64_t *changed_keys; /* (pair, language) keys whose count changed this step */
    size_t n_changed_keys, cap_changed_keys;
} Stats;

/* Add sign * (the word's counts) to every adjacent pair of train word w; note what changed; with
 * track_id >= 0, record w in the `where` of pairs holding track_id (the only new pairs). */
static int word_pairs(Stats *st, Words *ws, int32_t w, int64_t sign, int64_t step, int32_t track_id) {
    int32_t *ids = ws->ids + ws->off[w];
    for (int32_t i = 0; i + 1 < ws->len[w]; i++) {
        Pair *p = pm_get(&st->pm, ids[i], ids[i + 1]);
        if (!p) return -1;
        int32_t pi = (int32_t)(p - st->pm.pairs);
        p->count += sign * ws->total[w];
        if (p->stamp != step) {
            p->stamp = step;
            if (vec_push(&st->changed, pi) < 0) return -1;
        }
        if (track_id >= 0 && (ids[i] == track_id || ids[i + 1] == track_id))
            if (where_add(&st->pm.pairs[pi], w) < 0) return -1;
        for (int64_t k = ws->wfrom[w]; st->n_langs && k < ws->wfrom[w + 1]; k++) {
            int64_t key = (int64_t)pi * st->n_langs + ws->wlang[k];
            LangCount *lc = lm_get(&st->lm, key);
            if (!lc) return -1;
            lc->count += sign * ws->wcount[k];
            if (lc->stamp != step) {
                lc->stamp = step;
                if (grow((void **)&st->changed_keys, &st->cap_changed_keys, st->n_changed_keys + 1,
                         sizeof(int64_t)) < 0)
                    return -1;
                st->changed_keys[st->n_changed_keys++] = key;
            }
        }
    }
    return 0;
}

/* Replace every (a, b) in word w, left to right, by c; returns whether the word held the pair. */
static int merge_in_word(Words *ws, int32_t w, int32_t a, int32_t b, int32_t c) {
    int32_t *ids = ws->ids + ws->off[w];
    int32_t len = ws->len[w], o = 0, has = 0;
    for (int32_t i = 0; i + 1 < len; i++)
        if (ids[i] == a && ids[i + 1] == b) {
            has = 1;
            break;
        }
    if (!has) return 0;
    for (int32_t i = 0; i < len;) {
        if (i + 1 < len && ids[i] == a && ids[i + 1] == b) {
            ids[o++] = c;
            i += 2;
        } else {
            ids[o++] = ids[i++];
        }
    }
    ws->len[w] = o;
    return 1;
}

/* The best valid pair of a heap (stale entries popped on the way), or count < 2: none. `lang` < 0
 * reads the total counts. */
static int heap_best(Stats *st, Heap *h, int32_t lang, HeapItem *out) {
    while (h->n) {
        HeapItem top = h->v[0];
        Pair *p = pm_get(&st->pm, top.a, top.b);
        if (!p) return -1;
        int64_t now = p->count;
        if (lang >= 0) {
            LangCount *lc = lm_get(&st->lm, (int64_t)(p - st->pm.pairs) * st->n_langs + lang);
            if (!lc) return -1;
            now = lc->count;
        }
        if (p->banned || now != top.count) {
            heap_pop(h);
            continue;
        }
        if (top.count < 2) return 0;
        *out = top;
        return 1;
    }
    return 0;
}

/* The ids of piece s[0:n] under the base, into *buf (grown as needed); -1 on error (set). */
static Py_ssize_t encode_bytes(const unsigned char *s, Py_ssize_t n, const StrMap *ranks, int32_t **buf,
                               size_t *cap, Py_ssize_t *start, int64_t *rankbuf, Py_ssize_t short_len) {
    const Slot *whole = strmap_get(ranks, s, (size_t)n);
    if (whole) { /* a piece that is a token is that token (tiktoken looks it up first) */
        (*buf)[0] = (int32_t)whole->value;
        return 1;
    }
    if (grow((void **)buf, cap, (size_t)n + 1, sizeof(int32_t)) < 0) return PyErr_NoMemory(), -1;
    Py_ssize_t m = n <= short_len ? bpe_piece(ranks, s, n, *buf, start, rankbuf) : bpe_long(ranks, s, n, *buf);
    if (m == -1) return PyErr_NoMemory(), -1;
    if (m < 0) {
        PyErr_SetString(PyExc_ValueError, "the base vocabulary lacks a single-byte token");
        return -1;
    }
    return m;
}

/* The ids of one str piece under the base, into *buf; a lone surrogate goes to encode_slow. */
static Py_ssize_t encode_one(PyObject *piece, const StrMap *ranks, PyObject *encode_slow, int32_t **buf,
                             size_t *cap, Py_ssize_t *start, int64_t *rankbuf, Py_ssize_t short_len) {
    if (!PyUnicode_Check(piece)) {
        PyErr_Format(PyExc_TypeError, "pieces must be str, got %s", Py_TYPE(piece)->tp_name);
        return -1;
    }
    Py_ssize_t n, m;
    PyObject *tmp;
    const char *s = utf8_of(piece, &n, &tmp);
    if (s) {
        m = encode_bytes((const unsigned char *)s, n, ranks, buf, cap, start, rankbuf, short_len);
        Py_XDECREF(tmp);
        return m;
    }
    if (PyErr_Occurred()) return -1;
    /* a lone surrogate: no UTF-8; the engine encodes it */
    PyObject *ids = PyObject_CallOneArg(encode_slow, piece);
    PyObject *seq = ids ? PySequence_Fast(ids, "encode_slow must return a list of ids") : NULL;
    Py_XDECREF(ids);
    if (!seq) return -1;
    m = PySequence_Fast_GET_SIZE(seq);
    if (grow((void **)buf, cap, (size_t)m + 1, sizeof(int32_t)) < 0) {
        Py_DECREF(seq);
        return PyErr_NoMemory(), -1;
    }
    for (Py_ssize_t j = 0; j < m; j++) (*buf)[j] = (int32_t)PyLong_AsLong(PySequence_Fast_GET_ITEM(seq, j));
    Py_DECREF(seq);
    return PyErr_Occurred() ? -1 : m;
}

/* Read (piece index, lang, count) triples, sorted by piece, into words; lengths[lang] gets each
 * piece's ids times its count (the development set's cost). Pieces of one id make no word. */
static int read_words(PyObject *triples, const int32_t *enc, const int64_t *enc_off, Py_ssize_t npieces,
                      int32_t n_langs, Words *ws, int64_t *lengths) {
    PyObject *pi = NULL, *la = NULL, *co = NULL;
    if (!PyArg_ParseTuple(triples, "OOO", &pi, &la, &co)) return -1;
    /* None for the piece indices: one entry a piece, in order; None for the languages: all 0. */
    PyObject *cs = PySequence_Fast(co, "counts");
    PyObject *ps = pi == Py_None ? NULL : PySequence_Fast(pi, "piece indices");
    PyObject *ls = la == Py_None ? NULL : PySequence_Fast(la, "languages");
    int rc = -1;
    int32_t *lang = NULL;
    int64_t *count = NULL;
    if (!cs || (pi != Py_None && !ps) || (la != Py_None && !ls)) goto out;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(cs);
#define PIECE_AT(i) (ps ? PyLong_AsSsize_t(PySequence_Fast_GET_ITEM(ps, (i))) : (i))
    if ((ps && PySequence_Fast_GET_SIZE(ps) != n) || (ls && PySequence_Fast_GET_SIZE(ls) != n)) {
        PyErr_SetString(PyExc_ValueError, "piece indices, languages and counts differ in length");
        goto out;
    }
    lang = (int32_t *)malloc(sizeof(int32_t) * (n ? n : 1));
    count = (int64_t *)malloc(sizeof(int64_t) * (n ? n : 1));
    if (!lang || !count) {
        PyErr_NoMemory();
        goto out;
    }
    for (Py_ssize_t i = 0; i < n;) {
        Py_ssize_t p = PIECE_AT(i), k = 0;
        if (p < 0 || p >= npieces) {
            if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "a piece index is out of range");
            goto out;
        }
        for (; i < n && PIECE_AT(i) == p; i++, k++) {
            long l = ls ? PyLong_AsLong(PySequence_Fast_GET_ITEM(ls, i)) : 0;
            long long c = PyLong_AsLongLong(PySequence_Fast_GET_ITEM(cs, i));
            if (PyErr_Occurred()) goto out;
            if (l < 0 || l >= (n_langs ? n_langs : 1)) {
                PyErr_SetString(PyExc_ValueError, "a language index is out of range");
                goto out;
            }
            lang[k] = (int32_t)l;
            count[k] = c;
            if (lengths) lengths[l] += c * (enc_off[p + 1] - enc_off[p]);
        }
        if (enc_off[p + 1] - enc_off[p] >= 2 &&
            words_add(ws, enc + enc_off[p], enc_off[p + 1] - enc_off[p], lang, count, k) < 0) {
            PyErr_NoMemory();
            goto out;
        }
    }
    rc = 0;
#undef PIECE_AT
out:
    free(lang);
    free(count);
    Py_XDECREF(ps);
    Py_XDECREF(ls);
    Py_XDECREF(cs);
    return rc;
}

static PyObject *native_learn(PyObject *self, PyObject *args) {
    PyObject *pieces, *train, *dev, *ranks_obj, *accept, *encode_slow;
    Py_ssize_t n_new, global_merges;
    int n_langs_arg;
    if (!PyArg_ParseTuple(args, "OOOiO!nnOO", &pieces, &train, &dev, &n_langs_arg, &PyDict_Type, &ranks_obj,
                          &n_new, &global_merges, &accept, &encode_slow))
        return NULL;
    const Py_ssize_t SHORT = 64; /* longer pieces take bpe_long: quadratic is faster below */
    PyObject *pseq = NULL, *result = NULL;
    StrMap ranks = {0};
    Stats st = {0};
    Words tw = {0}, dw = {0};
    PairMap dev_where = {0}; /* pair -> development words holding it */
    int32_t *enc = NULL, *buf = NULL; /* every piece's ids, piece i at enc[enc_off[i]:enc_off[i + 1]] */
    int64_t *enc_off = NULL;
    size_t enc_cap = 0;
    Py_ssize_t np = 0, *start = NULL;
    int64_t *rankbuf = NULL, *lengths = NULL;
    int32_t *order = NULL;
    size_t buf_cap = 0;
    int32_t n_langs = dev == Py_None ? 0 : n_langs_arg;

    /* The pieces: a list of str, or a table (count_into), which carries its own counts. */
    StrMap *table = PyCapsule_CheckExact(pieces) ? table_of(pieces) : NULL;
    if (PyCapsule_CheckExact(pieces) && !table) goto done;
    if (!table && !(pseq = PySequence_Fast(pieces, "pieces must be a list of str or a table"))) goto done;
    np = table ? (Py_ssize_t)table->used : PySequence_Fast_GET_SIZE(pseq);
    size_t cap = 1024;
    while (cap < (size_t)PyDict_Size(ranks_obj) * 2 + 2) cap *= 2;
    if (strmap_init(&ranks, cap) < 0 || pm_init(&st.pm) < 0 || (n_langs && (lm_init(&st.lm) < 0 || pm_init(&dev_where) < 0))) {
        PyErr_NoMemory();
        goto done;
    }
    st.n_langs = n_langs;
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
    /* Each distinct piece encoded once with the base. */
    enc_off = (int64_t *)malloc(sizeof(int64_t) * (np + 1));
    start = (Py_ssize_t *)malloc(sizeof(Py_ssize_t) * (SHORT + 1));
    rankbuf = (int64_t *)malloc(sizeof(int64_t) * (SHORT + 1));
    lengths = (int64_t *)calloc(n_langs ? n_langs : 1, sizeof(int64_t));
    order = (int32_t *)malloc(sizeof(int32_t) * (n_langs ? n_langs : 1));
    if (!enc_off || !start || !rankbuf || !lengths || !order || grow((void **)&buf, &buf_cap, 64, 4) < 0) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < np; i++) {
        Py_ssize_t m = table ? encode_bytes(slot_key(table, &table->entries[i]), table->entries[i].len, &ranks,
                                            &buf, &buf_cap, start, rankbuf, SHORT)
                             : encode_one(PySequence_Fast_GET_ITEM(pseq, i), &ranks, encode_slow, &buf, &buf_cap,
                                          start, rankbuf, SHORT);
        if (m < 0) goto done;
        size_t at = i ? (size_t)enc_off[i] : 0;
        if (!i) enc_off[0] = 0;
        if (grow((void **)&enc, &enc_cap, at + m, sizeof(int32_t)) < 0) {
            PyErr_NoMemory();
            goto done;
        }
        memcpy(enc + at, buf, sizeof(int32_t) * m);
        enc_off[i + 1] = (int64_t)(at + m);
    }
    if (!np) enc_off[0] = 0;
    strmap_free(&ranks);
    if (table) { /* one language: each piece's count */
        const int32_t lang0 = 0;
        for (Py_ssize_t i = 0; i < np; i++) {
            Py_ssize_t m = enc_off[i + 1] - enc_off[i];
            if (m >= 2 && words_add(&tw, enc + enc_off[i], m, &lang0, &table->entries[i].value, 1) < 0) {
                PyErr_NoMemory();
                goto done;
            }
        }
    } else if (read_words(train, enc, enc_off, np, n_langs, &tw, NULL) < 0) {
        goto done;
    }
    if (n_langs && read_words(dev, enc, enc_off, np, n_langs, &dw, lengths) < 0) goto done;
    free(enc);
    enc = NULL;

    /* Pair statistics, and the heaps. */
    if (n_langs) {
        st.lang_heaps = (Heap *)calloc(n_langs, sizeof(Heap));
        if (!st.lang_heaps) {
            PyErr_NoMemory();
            goto done;
        }
    }
    for (Py_ssize_t w = 0; w < tw.nwords; w++) {
        if (word_pairs(&st, &tw, (int32_t)w, +1, 0, -1) < 0) {
            PyErr_NoMemory();
            goto done;
        }
        int32_t *ids = tw.ids + tw.off[w];
        for (int32_t i = 0; i + 1 < tw.len[w]; i++) {
            Pair *p = pm_get(&st.pm, ids[i], ids[i + 1]);
            if (!p || where_add(p, (int32_t)w) < 0) {
                PyErr_NoMemory();
                goto done;
            }
        }
    }
    for (Py_ssize_t w = 0; w < dw.nwords; w++) {
        int32_t *ids = dw.ids + dw.off[w];
        for (int32_t i = 0; i + 1 < dw.len[w]; i++) {
            Pair *p = pm_get(&dev_where, ids[i], ids[i + 1]);
            if (!p || where_add(p, (int32_t)w) < 0) {
                PyErr_NoMemory();
                goto done;
            }
        }
    }
    for (size_t i = 0; i < st.pm.npairs; i++) {
        HeapItem it = {st.pm.pairs[i].count, st.pm.pairs[i].a, st.pm.pairs[i].b};
        if (it.count >= 2 && heap_push(&st.total_heap, it) < 0) {
            PyErr_NoMemory();
            goto done;
        }
    }
    for (size_t i = 0; n_langs && i < st.lm.cap; i++) {
        LangCount *lc = &st.lm.v[i];
        if (lc->key < 0 || lc->count < 2) continue;
        Pair *p = &st.pm.pairs[lc->key / n_langs];
        HeapItem it = {lc->count, p->a, p->b};
        if (heap_push(&st.lang_heaps[lc->key % n_langs], it) < 0) {
            PyErr_NoMemory();
            goto done;
        }
    }

    Py_ssize_t learned = 0;
    int64_t step = 0;
    while (learned < n_new) {
        HeapItem top;
        int found = 0;
        if (!n_langs || learned < global_merges) {
            found = heap_best(&st, &st.total_heap, -1, &top);
        } else { /* the language worst served on the development set, else the next worst */
            for (int32_t l = 0; l < n_langs; l++) order[l] = l;
            for (int32_t i = 1; i < n_langs; i++) { /* insertion sort: by length desc, then index */
                int32_t x = order[i], j = i - 1;
                while (j >= 0 && (lengths[order[j]] < lengths[x] || (lengths[order[j]] == lengths[x] && order[j] > x))) {
                    order[j + 1] = order[j];
                    j--;
                }
                order[j + 1] = x;
            }
            /* A language with no development text (length 0) is never chosen. */
            for (int32_t k = 0; k < n_langs && !found && lengths[order[k]] > 0; k++)
                found = heap_best(&st, &st.lang_heaps[order[k]], order[k], &top);
        }
        if (found < 0) {
            PyErr_NoMemory();
            goto done;
        }
        if (!found) break;
        Pair *p = pm_get(&st.pm, top.a, top.b);
        if (!p) {
            PyErr_NoMemory();
            goto done;
        }
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
        st.changed.n = 0;
        st.n_changed_keys = 0;
        for (int32_t k = 0; k < where.n; k++) {
            int32_t w = where.w[k];
            int32_t *ids = tw.ids + tw.off[w], has = 0;
            for (int32_t i = 0; i + 1 < tw.len[w] && !has; i++) has = ids[i] == a && ids[i + 1] == b;
            if (!has) continue; /* a repeat, or merged away since */
            if (word_pairs(&st, &tw, w, -1, step, -1) < 0 || (merge_in_word(&tw, w, a, b, (int32_t)new_id), 0) ||
                word_pairs(&st, &tw, w, +1, step, (int32_t)new_id) < 0) {
                free(where.w);
                PyErr_NoMemory();
                goto done;
            }
        }
        free(where.w);
        for (int32_t k = 0; k < st.changed.n; k++) {
            Pair *q = &st.pm.pairs[st.changed.w[k]];
            if (q->count > 0 && !q->banned) {
                HeapItem it = {q->count, q->a, q->b};
                if (heap_push(&st.total_heap, it) < 0) {
                    PyErr_NoMemory();
                    goto done;
                }
            }
        }
        for (size_t k = 0; k < st.n_changed_keys; k++) {
            LangCount *lc = lm_get(&st.lm, st.changed_keys[k]);
            Pair *q = &st.pm.pairs[st.changed_keys[k] / n_langs];
            if (!lc) {
                PyErr_NoMemory();
                goto done;
            }
            if (lc->count > 0 && !q->banned) {
                HeapItem it = {lc->count, q->a, q->b};
                if (heap_push(&st.lang_heaps[st.changed_keys[k] % n_langs], it) < 0) {
                    PyErr_NoMemory();
                    goto done;
                }
            }
        }
        if (n_langs) { /* the development set: lengths, and where the new pairs are */
            Pair *dp = pm_get(&dev_where, a, b);
            if (!dp) {
                PyErr_NoMemory();
                goto done;
            }
            IntVec dwhere = dp->where;
            dp->where.w = NULL;
            dp->where.n = dp->where.cap = 0;
            for (int32_t k = 0; k < dwhere.n; k++) {
                int32_t w = dwhere.w[k], before = dw.len[w];
                if (!merge_in_word(&dw, w, a, b, (int32_t)new_id)) continue;
                for (int64_t j = dw.wfrom[w]; j < dw.wfrom[w + 1]; j++)
                    lengths[dw.wlang[j]] -= (int64_t)(before - dw.len[w]) * dw.wcount[j];
                int32_t *ids = dw.ids + dw.off[w];
                for (int32_t i = 0; i + 1 < dw.len[w]; i++) {
                    if (ids[i] != new_id && ids[i + 1] != new_id) continue;
                    Pair *q = pm_get(&dev_where, ids[i], ids[i + 1]);
                    if (!q || where_add(q, w) < 0) {
                        free(dwhere.w);
                        PyErr_NoMemory();
                        goto done;
                    }
                }
            }
            free(dwhere.w);
        }
    }
    result = PyLong_FromSsize_t(learned);
done:
    Py_XDECREF(pseq);
    strmap_free(&ranks);
    pm_free(&st.pm);
    pm_free(&dev_where);
    free(st.lm.v);
    free(st.total_heap.v);
    for (int32_t l = 0; st.lang_heaps && l < n_langs; l++) free(st.lang_heaps[l].v);
    free(st.lang_heaps);
    free(st.changed.w);
    free(st.changed_keys);
    words_free(&tw);
    words_free(&dw);
    free(enc);
    free(enc_off);
    free(buf);
    free(start);
    free(rankbuf);
    free(lengths);
    free(order);
    return result;
}

/* ---------------------------------------------------------------- counting tokens (the study)
 *
 * encoder(ranks, classes, let_mask, max_digits) -> an encoder (a capsule)
 *     A byte-level BPE table in C (its ranks, each token's byte length) with a pattern of Qwen's
 *     family, split as count_into splits it. Every single byte must be a token.
 * pieces(encoder) -> a piece cache (a capsule), used by one thread at a time
 * tally(encoder, cache, texts, counts, freq) -> characters inside which a token ends
 *     The tokens tiktoken's encode_ordinary gives each text, counted without making them:
 *     counts (int64, writable, one per text) gets each text's number of tokens; freq (int64,
 *     writable, the vocabulary long, or None) gets each token's occurrences added; the result is
 *     the number of characters whose bytes two tokens share (the split rate's numerator).
 *
 *     Why: the study asks each tokenizer only for these sums, and fastokens, the fastest engine
 *     that makes the ids, takes 1-3 s to build; here the table builds in ~0.05 s. Each distinct
 *     piece is encoded once per cache, by tiktoken's rule (a piece that is a token is that
 *     token, else byte_pair_merge), and a piece's occurrences reach freq once a call, not one by
 *     one. Pieces longer than PIECE_CACHED bytes are encoded where they stand (bpe_long past it:
 *     a megabyte without a space costs O(n log n)), and the cache starts empty again past
 *     CACHE_PIECES pieces, so its memory is bounded however many distinct pieces a corpus has.
 *     A text with a lone surrogate (no UTF-8) raises UnicodeEncodeError before anything is
 *     counted. */
#define ENCODER "qtok._native.encoder"
#define PIECES "qtok._native.pieces"
#define PIECE_CACHED 64
#define CACHE_PIECES (1 << 16)

typedef struct {
    StrMap ranks;
    int32_t byte_id[256];
    int32_t pair[1 << 16]; /* the rank of each two-byte token, -1 for none: BPE's first step, unhashed */
    /* Every two tokens whose bytes joined are a token: a << 42 | b << 21 | (joined + 1), open
     * addressing on (a, b). BPE's parts are always tokens, so a merge asks this one 8-byte slot
     * instead of hashing the joined bytes and reading an entry of the rank table. */
    uint64_t *joins;
    size_t joins_mask;
    /* One bit per hash of (a, b) for every pair in joins (2**22 bits, 512 kB, which stays in a
     * core's cache where the table does not): 60% of a merge's look-ups find no token, and
     * most of those end at a clear bit. */
    uint64_t *join_bits;
    /* One bit per top bits of each token's hash (2**22 bits, 512 kB): most pieces that merges
     * leave in parts are no token, and a clear bit says so without a probe of `ranks`, whose
     * slots and entries (11 MB for Qwen) are cold. */
    uint64_t *token_bits;
    uint32_t *len; /* each id's byte length */
    Py_ssize_t n_vocab;
    Pattern pat;
    PyObject *classes; /* holds pat.cls */
} Encoder;

static void encoder_release(Encoder *e) {
    strmap_free(&e->ranks);
    free(e->joins);
    free(e->join_bits);
    free(e->token_bits);
    free(e->len);
    Py_XDECREF(e->classes);
    free(e);
}

static void encoder_free(PyObject *capsule) {
    Encoder *e = (Encoder *)PyCapsule_GetPointer(capsule, ENCODER);
    if (e) encoder_release(e);
}

#define JOIN_BITS 21 /* ids below 2**21: every table of Qwen's family (Qwen3.5's has 248,044) */
#define JOIN_MASK ((1ULL << JOIN_BITS) - 1)

#define JOIN_FILTER_BITS 22

/* The bit filters below (join_bits, token_bits): arrays of uint64_t words. */
static inline void bit_set(uint64_t *bits, size_t i) { bits[i >> 6] |= 1ULL << (i & 63); }

static inline int bit_has(const uint64_t *bits, size_t i) { return (int)(bits[i >> 6] >> (i & 63) & 1); }

#define TOKEN_FILTER_BITS 22

static inline size_t token_bit(uint64_t h) { return (size_t)(h >> (64 - TOKEN_FILTER_BITS)); }

static inline size_t join_slot(uint64_t key, size_t mask) {
    return (size_t)((key * 0x9E3779B97F4A7C15ULL) >> 20) & mask;
}

static inline size_t join_bit(uint64_t key) {
    return (size_t)((key * 0xC2B2AE3D27D4EB4FULL) >> (64 - JOIN_FILTER_BITS));
}

/* The id of tokens a and b joined, or -1 when their bytes joined are no token. */
static inline int64_t join_of(const Encoder *e, uint32_t a, uint32_t b) {
    uint64_t key = (uint64_t)a << JOIN_BITS | b, v;
    if (!bit_has(e->join_bits, join_bit(key))) return -1;
    for (size_t j = join_slot(key, e->joins_mask); (v = e->joins[j]); j = (j + 1) & e->joins_mask)
        if (v >> JOIN_BITS == key) return (int64_t)(v & JOIN_MASK) - 1;
    return -1;
}

/* Fill e->joins from the ranks: each token split at each byte, where both halves are tokens. */
static int build_joins(Encoder *e) {
    uint64_t *found = NULL; /* (a << 21 | b) << 21 | (joined + 1), as the slots hold them */
    size_t n = 0, found_cap = 0, cap = 1024;
    for (size_t x = 0; x < e->ranks.used; x++) {
        const Slot *t = &e->ranks.entries[x];
        const unsigned char *key = slot_key(&e->ranks, t);
        for (uint32_t k = 1; k < t->len; k++) {
            const Slot *a = strmap_get(&e->ranks, key, k), *b = a ? strmap_get(&e->ranks, key + k, t->len - k) : NULL;
            if (!b) continue;
            if (grow((void **)&found, &found_cap, n + 1, sizeof(uint64_t)) < 0) {
                free(found);
                return -1;
            }
            found[n++] = ((uint64_t)a->value << JOIN_BITS | (uint64_t)b->value) << JOIN_BITS | (uint64_t)(t->value + 1);
        }
    }
    while (cap < 2 * n + 2) cap *= 2;
    e->joins = (uint64_t *)calloc(cap, sizeof(uint64_t));
    e->join_bits = (uint64_t *)calloc((size_t)1 << (JOIN_FILTER_BITS - 6), sizeof(uint64_t));
    if (!e->joins || !e->join_bits) {
        free(found);
        return -1;
    }
    e->joins_mask = cap - 1;
    for (size_t x = 0; x < n; x++) {
        size_t j = join_slot(found[x] >> JOIN_BITS, e->joins_mask);
        while (e->joins[j]) j = (j + 1) & e->joins_mask;
        e->joins[j] = found[x];
        bit_set(e->join_bits, join_bit(found[x] >> JOIN_BITS));
    }
    free(found);
    return 0;
}

/* Everything but reading the dict, which build() is given as (bytes, length, rank) triples:
 * 0, or -1 when out of memory, or the byte (+ 1) no token stands for. Runs without the GIL. */
typedef struct {
    const unsigned char *s;
    size_t n;
    int64_t rank;
} Token;

static int encoder_build(Encoder *e, const Token *tokens, size_t count) {
    size_t cap = 1024;
    while (cap < count * 2 + 2) cap *= 2;
    e->token_bits = (uint64_t *)calloc((size_t)1 << (TOKEN_FILTER_BITS - 6), sizeof(uint64_t));
    if (!e->token_bits || strmap_init(&e->ranks, cap) < 0) return -1;
    for (size_t x = 0; x < count; x++) {
        uint64_t h = hash_bytes(tokens[x].s, tokens[x].n);
        Slot *sl = strmap_upsert(&e->ranks, tokens[x].s, tokens[x].n, h);
        if (!sl) return -1;
        bit_set(e->token_bits, token_bit(h));
        sl->value = tokens[x].rank;
        e->len[tokens[x].rank] = (uint32_t)tokens[x].n;
    }
    for (int b = 0; b < 256; b++) {
        unsigned char byte = (unsigned char)b;
        const Slot *sl = strmap_get(&e->ranks, &byte, 1);
        if (!sl) return b + 1;
        e->byte_id[b] = (int32_t)sl->value;
        for (int c = 0; c < 256; c++) {
            unsigned char two[2] = {byte, (unsigned char)c};
            const Slot *pr = strmap_get(&e->ranks, two, 2);
            e->pair[b << 8 | c] = pr ? (int32_t)pr->value : -1;
        }
    }
    return build_joins(e);
}

static PyObject *native_encoder(PyObject *self, PyObject *args) {
    PyObject *ranks_obj, *classes, *capsule = NULL;
    unsigned let;
    int max_digits;
    if (!PyArg_ParseTuple(args, "O!SIi", &PyDict_Type, &ranks_obj, &classes, &let, &max_digits)) return NULL;
    if (PyBytes_GET_SIZE(classes) != 0x110000) {
        PyErr_SetString(PyExc_ValueError, "classes must have one byte per code point (0x110000)");
        return NULL;
    }
    Encoder *e = (Encoder *)calloc(1, sizeof(Encoder));
    size_t count = (size_t)PyDict_Size(ranks_obj);
    Token *tokens = (Token *)malloc(sizeof(Token) * (count ? count : 1));
    if (!e || !tokens) {
        free(e);
        free(tokens);
        return PyErr_NoMemory();
    }
    Py_ssize_t pos = 0;
    PyObject *k, *v;
    long long top = -1;
    for (size_t x = 0; PyDict_Next(ranks_obj, &pos, &k, &v); x++) {
        long long r = PyLong_AsLongLong(v);
        if (r == -1 && PyErr_Occurred()) goto fail;
        if (!PyBytes_Check(k) || r < 0 || r >= (long long)JOIN_MASK - 1) {
            PyErr_SetString(PyExc_ValueError, "ranks must map bytes to ints from 0 to 2**21 - 3");
            goto fail;
        }
        tokens[x] = (Token){(const unsigned char *)PyBytes_AS_STRING(k), (size_t)PyBytes_GET_SIZE(k), r};
        if (r > top) top = r;
    }
    e->n_vocab = (Py_ssize_t)(top + 1);
    e->len = (uint32_t *)calloc(e->n_vocab ? e->n_vocab : 1, sizeof(uint32_t));
    if (!e->len) {
        PyErr_NoMemory();
        goto fail;
    }
    /* The keys stay alive without the GIL: the caller holds the dict, and bytes do not change. */
    int built;
    Py_BEGIN_ALLOW_THREADS
    built = encoder_build(e, tokens, count);
    Py_END_ALLOW_THREADS
    if (built) {
        if (built < 0)
            PyErr_NoMemory();
        else
            PyErr_Format(PyExc_ValueError, "the table has no token for the byte 0x%02x; a byte-level BPE "
                         "table has one for each of the 256 bytes", built - 1);
        goto fail;
    }
    e->pat = (Pattern){(const unsigned char *)PyBytes_AS_STRING(classes), let, max_digits < 1 ? 1 : max_digits};
    Py_INCREF(classes);
    e->classes = classes;
    capsule = PyCapsule_New(e, ENCODER, encoder_free);
    if (capsule) {
        free(tokens);
        return capsule;
    }
fail:
    free(tokens);
    encoder_release(e);
    return NULL;
}

/* encoder_lengths(encoder) -> bytes: each id's byte length (uint32, native order), 0 for an id
 * the ranks skip; its length says the vocabulary (1 + the largest rank). */
static PyObject *native_encoder_lengths(PyObject *self, PyObject *enc_obj) {
    Encoder *e = (Encoder *)PyCapsule_GetPointer(enc_obj, ENCODER);
    return e ? PyBytes_FromStringAndSize((const char *)e->len, (Py_ssize_t)(sizeof(uint32_t) * e->n_vocab)) : NULL;
}

typedef struct {
    PyObject *encoder; /* the encoder capsule the cached ids belong to */
    StrMap map;        /* piece -> its ids' offset << 16 | their number << 8 | split characters */
    int64_t *pending;  /* per piece: occurrences not yet added to freq */
    size_t pending_cap;
    int32_t *touched; /* the pieces with pending occurrences */
    size_t n_touched, touched_cap;
    int32_t *ids; /* every cached piece's ids */
    size_t ids_len, ids_cap;
    int32_t *buf; /* one piece's ids */
    size_t buf_cap;
    uint32_t rank[PIECE_CACHED + 1];
    int busy;
} Pieces;

/* An empty piece cache, or NULL when out of memory. */
static Pieces *pieces_new(void) {
    Pieces *p = (Pieces *)calloc(1, sizeof(Pieces));
    if (!p || strmap_init(&p->map, 1 << 12) < 0) {
        if (p) strmap_free(&p->map);
        free(p);
        return NULL;
    }
    return p;
}

static void pieces_release(Pieces *p) {
    if (!p) return;
    strmap_free(&p->map);
    free(p->pending);
    free(p->touched);
    free(p->ids);
    free(p->buf);
    Py_XDECREF(p->encoder);
    free(p);
}

static void pieces_free(PyObject *capsule) {
    Pieces *p = (Pieces *)PyCapsule_GetPointer(capsule, PIECES);
    if (p) pieces_release(p);
}

static PyObject *native_pieces(PyObject *self, PyObject *enc_obj) {
    if (!PyCapsule_GetPointer(enc_obj, ENCODER)) return NULL;
    Pieces *p = pieces_new();
    if (!p) return PyErr_NoMemory();
    Py_INCREF(enc_obj);
    p->encoder = enc_obj;
    PyObject *capsule = PyCapsule_New(p, PIECES, pieces_free);
    if (!capsule) pieces_release(p);
    return capsule;
}

/* bpe_piece's merges (tiktoken's byte_pair_merge) on s[0:n], 2 <= n <= PIECE_CACHED: the parts
 * are kept as ids (a merged part's id is the rank that merged it), and the rank of two parts
 * joined is read from e->joins, so no bytes are hashed. With `snap`, the parts as they stand
 * before the first merge of rank >= snap_at (or at the end) are copied there, their number in
 * *snapped: a table's merges below a rank are those of the table it extends (see nesting). */
static Py_ssize_t enc_bpe(const Encoder *e, const unsigned char *s, Py_ssize_t n, int32_t *out, uint32_t *rank,
                          uint32_t snap_at, int32_t *snap, Py_ssize_t *snapped) {
    const uint32_t NONE = UINT32_MAX; /* ranks are below 2**21 */
    Py_ssize_t parts = n; /* out[0:parts]; rank[i]: the rank of parts i and i + 1 joined */
    int32_t *to = snap; /* until the snapshot is taken */
    for (Py_ssize_t i = 0; i < n; i++) out[i] = e->byte_id[s[i]];
    for (Py_ssize_t i = 0; i + 1 < n; i++) rank[i] = (uint32_t)e->pair[s[i] << 8 | s[i + 1]]; /* -1: NONE */
    rank[n - 1] = NONE;
    for (;;) {
        uint32_t best = NONE;
        Py_ssize_t at = -1;
        for (Py_ssize_t i = 0; i + 1 < parts; i++)
            if (rank[i] < best) { /* the lowest rank, the leftmost on ties */
                best = rank[i];
                at = i;
            }
        if (to && best >= snap_at) { /* also at the end (best NONE), when no merge reached snap_at */
            memcpy(to, out, sizeof(int32_t) * (size_t)parts);
            *snapped = parts;
            to = NULL;
        }
        if (at < 0) break;
        out[at] = (int32_t)best;
        parts--;
        for (Py_ssize_t k = at + 1; k < parts; k++) { /* a few parts: no call to memmove */
            out[k] = out[k + 1];
            rank[k] = rank[k + 1];
        }
        rank[at] = at + 1 < parts ? (uint32_t)join_of(e, (uint32_t)out[at], (uint32_t)out[at + 1]) : NONE;
        if (at > 0) rank[at - 1] = (uint32_t)join_of(e, (uint32_t)out[at - 1], (uint32_t)out[at]);
    }
    return parts;
}

/* The ids of piece s[0:n] (whose hash_bytes is h) into p->buf; their number, or -1 when out of
 * memory. A piece that is a token is that token (tiktoken looks it up first): merges that end in
 * one part found it, so only a piece they leave in parts is looked up whole (one probe saved on
 * most new pieces), and only where e->token_bits has its bit. */
static Py_ssize_t piece_ids(const Encoder *e, Pieces *p, const unsigned char *s, Py_ssize_t n, uint64_t h) {
    if (grow((void **)&p->buf, &p->buf_cap, (size_t)n + 1, sizeof(int32_t)) < 0) return -1;
    if (n == 1) {
        p->buf[0] = e->byte_id[s[0]];
        return 1;
    }
    Py_ssize_t m = 0;
    if (n <= PIECE_CACHED) {
        m = enc_bpe(e, s, n, p->buf, p->rank, UINT32_MAX, NULL, NULL);
        if (m == 1) return 1;
    }
    const Slot *whole = n == 2 || !bit_has(e->token_bits, token_bit(h)) ? NULL
                        : strmap_find(&e->ranks, s, (size_t)n, h);
    if (whole) {
        p->buf[0] = (int32_t)whole->value;
        return 1;
    }
    /* Every byte is a token (encoder() checked), so the merges cannot fail but for memory. */
    return n <= PIECE_CACHED ? m : bpe_long(&e->ranks, s, n, p->buf);
}

/* The characters of piece s whose bytes two of its tokens (ids[0:m]) share. */
static int64_t piece_splits(const Encoder *e, const unsigned char *s, const int32_t *ids, Py_ssize_t m) {
    int64_t k = 0;
    Py_ssize_t at = 0, last = -1;
    for (Py_ssize_t j = 0; j + 1 < m; j++) {
        at += e->len[ids[j]];
        if ((s[at] & 0xC0) == 0x80) { /* a token ends inside a character: find where it starts */
            Py_ssize_t c = at;
            while ((s[c] & 0xC0) == 0x80) c--;
            if (c != last) k++;
            last = c;
        }
    }
    return k;
}

/* The pending occurrences of every touched piece, added to freq. */
static void pieces_flush(Pieces *p, int64_t *freq) {
    for (size_t t = 0; t < p->n_touched; t++) {
        int32_t x = p->touched[t];
        int64_t v = p->map.entries[x].value, c = p->pending[x];
        const int32_t *ids = p->ids + (v >> 16);
        for (int64_t j = 0; j < ((v >> 8) & 0xFF); j++) freq[ids[j]] += c;
        p->pending[x] = 0;
    }
    p->n_touched = 0;
}

/* A new piece's ids kept in the cache (entry x): a[0:na] then b[0:nb]; their offset in p->ids,
 * or -1 when out of memory. */
static int64_t pieces_keep(Pieces *p, size_t x, const int32_t *a, Py_ssize_t na, const int32_t *b, Py_ssize_t nb) {
    if (grow((void **)&p->ids, &p->ids_cap, p->ids_len + (size_t)(na + nb), sizeof(int32_t)) < 0 ||
        grow((void **)&p->pending, &p->pending_cap, x + 1, sizeof(int64_t)) < 0)
        return -1;
    int64_t at = (int64_t)p->ids_len;
    memcpy(p->ids + at, a, sizeof(int32_t) * (size_t)na);
    if (nb) memcpy(p->ids + at + na, b, sizeof(int32_t) * (size_t)nb);
    p->pending[x] = 0;
    p->ids_len += (size_t)(na + nb);
    return at;
}

/* One more occurrence of entry x, to reach freq at the next flush; -1 when out of memory. */
static int pieces_touch(Pieces *p, size_t x) {
    if (p->pending[x]++) return 0;
    if (grow((void **)&p->touched, &p->touched_cap, p->n_touched + 1, sizeof(int32_t)) < 0) return -1;
    p->touched[p->n_touched++] = (int32_t)x;
    return 0;
}

/* The cache emptied (its pending occurrences flushed by the caller); -1 when out of memory. */
static int pieces_empty(Pieces *p) {
    strmap_free(&p->map);
    p->ids_len = 0;
    return strmap_init(&p->map, 1 << 12);
}

/* The tokens of one piece s[0:len] (>= 1), its split characters added to *split and, with freq,
 * its occurrence kept; -1 when out of memory. */
static Py_ssize_t tally_piece(const Encoder *e, Pieces *p, const unsigned char *s, Py_ssize_t len, uint64_t h,
                              int64_t *freq, int64_t *split) {
    if (len > PIECE_CACHED) {
        Py_ssize_t m = piece_ids(e, p, s, len, h);
        if (m < 0) return -1;
        *split += piece_splits(e, s, p->buf, m);
        for (Py_ssize_t j = 0; freq && j < m; j++) freq[p->buf[j]]++;
        return m;
    }
    Slot *sl = strmap_upsert(&p->map, s, (size_t)len, h);
    if (!sl) return -1;
    size_t x = (size_t)(sl - p->map.entries);
    if (sl->value == 0) { /* new: encoded once (a valid entry holds at least one id) */
        Py_ssize_t m = piece_ids(e, p, s, len, h);
        int64_t at = m < 0 ? -1 : pieces_keep(p, x, p->buf, m, NULL, 0);
        if (at < 0) return -1;
        sl->value = at << 16 | (int64_t)m << 8 | piece_splits(e, s, p->buf, m);
    }
    *split += sl->value & 0xFF;
    if (freq && pieces_touch(p, x) < 0) return -1;
    return (sl->value >> 8) & 0xFF;
}

/* Start the piece cache again, empty, once it holds CACHE_PIECES pieces (their pending
 * occurrences added to freq first): its memory stays bounded. -1 when out of memory. */
static int pieces_bound(Pieces *p, int64_t *freq) {
    if (p->map.used < CACHE_PIECES) return 0;
    if (freq) pieces_flush(p, freq);
    return pieces_empty(p);
}

/* The end of the piece at s[from] (< n) into *end, and its hash, its slot in the piece cache
 * fetched meanwhile: the loops below look one piece ahead, so that slot's cache miss (most of
 * a known piece's time) overlaps the piece before it. At from == n: n, and 0. */
static inline uint64_t piece_ahead(const Pattern *pat, const StrMap *map, const unsigned char *s, Py_ssize_t from,
                                   Py_ssize_t n, Py_ssize_t *end) {
    if (from >= n) {
        *end = n;
        return 0;
    }
    *end = piece_end(pat, s, from, n);
    uint64_t h = hash_bytes(s + from, (size_t)(*end - from));
#if defined(__GNUC__)
    __builtin_prefetch(&map->slots[h & (map->cap - 1)]);
#endif
    return h;
}

/* One text's tokens into *tokens; -1 when out of memory. */
static int tally_text(const Encoder *e, Pieces *p, const unsigned char *s, Py_ssize_t n, int64_t *freq,
                      int64_t *tokens, int64_t *split) {
    Py_ssize_t end, next_end;
    uint64_t h = piece_ahead(&e->pat, &p->map, s, 0, n, &end);
    for (Py_ssize_t i = 0; i < n;) {
        uint64_t next_h = piece_ahead(&e->pat, &p->map, s, end, n, &next_end);
        Py_ssize_t m = tally_piece(e, p, s + i, end - i, h, freq, split);
        if (m < 0 || pieces_bound(p, freq) < 0) return -1;
        *tokens += m;
        i = end;
        end = next_end;
        h = next_h;
    }
    return 0;
}

/* The encoder and piece cache of a call, checked; NULL with an error set. */
static Encoder *tally_args(PyObject *enc_obj, PyObject *cache_obj, Pieces **p) {
    Encoder *e = (Encoder *)PyCapsule_GetPointer(enc_obj, ENCODER);
    *p = e ? (Pieces *)PyCapsule_GetPointer(cache_obj, PIECES) : NULL;
    if (!*p) return NULL;
    if ((*p)->encoder != enc_obj) {
        PyErr_SetString(PyExc_ValueError, "this piece cache belongs to another encoder; make one with pieces(encoder)");
        return NULL;
    }
    if ((*p)->busy) {
        PyErr_SetString(PyExc_RuntimeError, "a piece cache is used by one thread at a time; make one per thread");
        return NULL;
    }
    return e;
}

/* tally_words(encoder, cache, line, counts) -> bool
 *     The tokens of each word of `line` (" w1 w2 ...": each word after one space, none holding
 *     whitespace) into counts (int64, writable, one per word), as tally([" w1", " w2", ...])
 *     gives them, from one pass over the line: a call per word costs more than the word. True
 *     when each space began a piece of its own and the words were as many as counts; False
 *     otherwise (counts then mean nothing: ask tally). Patterns of Qwen's family only put a
 *     space first in a piece, so each " word" is split alone as it is in the line. */
static PyObject *native_tally_words(PyObject *self, PyObject *args) {
    PyObject *enc_obj, *cache_obj, *line, *tmp = NULL, *result = NULL;
    Py_buffer counts = {0};
    if (!PyArg_ParseTuple(args, "OOUw*", &enc_obj, &cache_obj, &line, &counts)) return NULL;
    Pieces *p;
    Encoder *e = tally_args(enc_obj, cache_obj, &p);
    Py_ssize_t n, n_words = counts.len / (Py_ssize_t)sizeof(int64_t);
    const unsigned char *s = e ? (const unsigned char *)utf8_of(line, &n, &tmp) : NULL;
    if (!s) {
        if (e && !PyErr_Occurred()) Py_XDECREF(PyUnicode_AsUTF8String(line)); /* its UnicodeEncodeError */
        goto done;
    }
    int64_t *out = (int64_t *)counts.buf, split = 0;
    Py_ssize_t word = -1;
    int failed = 0, aligned = 1;
    p->busy = 1;
    Py_BEGIN_ALLOW_THREADS
    Py_ssize_t end, next_end;
    uint64_t h = piece_ahead(&e->pat, &p->map, s, 0, n, &end);
    for (Py_ssize_t i = 0; i < n && aligned && !failed; i = end, end = next_end) {
        uint64_t next_h = piece_ahead(&e->pat, &p->map, s, end, n, &next_end);
        if (s[i] == ' ') {
            aligned = ++word < n_words;
            if (aligned) out[word] = 0;
        }
        aligned = aligned && word >= 0 && !memchr(s + i + 1, ' ', (size_t)(end - i - 1));
        Py_ssize_t m = aligned ? tally_piece(e, p, s + i, end - i, h, NULL, &split) : 0;
        failed = m < 0 || pieces_bound(p, NULL) < 0;
        if (aligned && !failed) out[word] += m;
        h = next_h;
    }
    Py_END_ALLOW_THREADS
    p->busy = 0;
    if (failed) {
        PyErr_NoMemory();
        goto done;
    }
    result = PyBool_FromLong(aligned && word == n_words - 1);
done:
    PyBuffer_Release(&counts);
    Py_XDECREF(tmp);
    return result;
}

/* tally_ids(encoder, cache, text) -> bytes: the text's ids (int32, native order), tiktoken's
 * encode_ordinary, from the same pieces the counts come from (report.html shows a sentence's). */
static PyObject *native_tally_ids(PyObject *self, PyObject *args) {
    PyObject *enc_obj, *cache_obj, *text, *tmp = NULL, *result = NULL;
    if (!PyArg_ParseTuple(args, "OOU", &enc_obj, &cache_obj, &text)) return NULL;
    Pieces *p;
    Encoder *e = tally_args(enc_obj, cache_obj, &p);
    Py_ssize_t n;
    const unsigned char *s = e ? (const unsigned char *)utf8_of(text, &n, &tmp) : NULL;
    if (!s) {
        if (e && !PyErr_Occurred()) Py_XDECREF(PyUnicode_AsUTF8String(text)); /* its UnicodeEncodeError */
        return NULL;
    }
    int32_t *ids = NULL;
    size_t len = 0, cap = 0;
    for (Py_ssize_t i = 0, end; i < n; i = end) {
        end = piece_end(&e->pat, s, i, n);
        Py_ssize_t m = piece_ids(e, p, s + i, end - i, hash_bytes(s + i, (size_t)(end - i)));
        if (m < 0 || grow((void **)&ids, &cap, len + (size_t)m, sizeof(int32_t)) < 0) {
            PyErr_NoMemory();
            goto done;
        }
        memcpy(ids + len, p->buf, sizeof(int32_t) * (size_t)m);
        len += (size_t)m;
    }
    result = PyBytes_FromStringAndSize((const char *)ids, (Py_ssize_t)(sizeof(int32_t) * len));
done:
    free(ids);
    Py_XDECREF(tmp);
    return result;
}

/* freq (None, or a writable int64 array of at least n_vocab entries) as a buffer: 0, or -1 with
 * an error set. None leaves buf->obj NULL. */
static int freq_read(PyObject *freq, Py_buffer *buf, Py_ssize_t n_vocab, const char *name) {
    if (freq == Py_None) return 0;
    if (PyObject_GetBuffer(freq, buf, PyBUF_WRITABLE | PyBUF_FORMAT | PyBUF_C_CONTIGUOUS) < 0) return -1;
    if (buf->itemsize != 8 || !buf->format || !strchr("qlQL", buf->format[strlen(buf->format) - 1]) ||
        buf->len / 8 < n_vocab) {
        PyErr_Format(PyExc_ValueError, "%s must be an int64 array of at least %zd entries (the vocabulary)", name,
                     n_vocab);
        return -1;
    }
    return 0;
}

static PyObject *native_tally(PyObject *self, PyObject *args) {
    PyObject *enc_obj, *cache_obj, *texts, *freq_obj, *result = NULL;
    Py_buffer counts = {0}, freq = {0};
    Texts in = {0};
    if (!PyArg_ParseTuple(args, "OOOw*O", &enc_obj, &cache_obj, &texts, &counts, &freq_obj)) return NULL;
    Pieces *p;
    Encoder *e = tally_args(enc_obj, cache_obj, &p);
    if (!e) goto done;
    if (freq_read(freq_obj, &freq, e->n_vocab, "freq") < 0 || texts_read(&in, texts, &counts) < 0) goto done;
    Py_ssize_t count = in.count;
    Text *items = in.items;
    int64_t *out = (int64_t *)counts.buf, *f = freq_obj != Py_None ? (int64_t *)freq.buf : NULL, split = 0;
    int failed = 0;
    p->busy = 1;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t t = 0; t < count && !failed; t++) {
        out[t] = 0;
        failed = tally_text(e, p, items[t].s, items[t].n, f, &out[t], &split) < 0;
    }
    if (f) pieces_flush(p, f);
    Py_END_ALLOW_THREADS
    p->busy = 0;
    if (failed) {
        PyErr_NoMemory();
        goto done;
    }
    result = PyLong_FromLongLong(split);
done:
    PyBuffer_Release(&counts);
    if (freq.obj) PyBuffer_Release(&freq);
    texts_free(&in);
    return result;
}

/* ---------------------------------------------------------------- two nested tables at once
 *
 * nesting(ext, base) -> a nesting (a capsule), or None
 *     Whether table `ext` extends table `base` as Qwen's extends cl100k_base: its ranks below
 *     some T are base's tokens in base's order, its later ones tokens base lacks, the tokens of
 *     base it drops are numerals (\p{N}) only, and the two patterns differ at most in how many
 *     numerals a piece holds. Then on a piece without numerals base's merges are ext's merges
 *     of rank < T, in the same order (the lowest first, ties leftmost): a token made of some of
 *     the piece's bytes holds no numeral, so base did not drop it, and base's tokens are ext's
 *     below T. One run of ext's merges, its parts copied when the lowest rank first reaches T,
 *     gives both tables' tokens (a piece that is a token of a table is that token, for each).
 *     Numerals are counted by each table alone: a run of them, cut by each one's max_digits.
 * joint_pieces(nesting) -> a piece cache for both tables, used by one thread at a time
 * tally2(nesting, cache, texts, counts, freq, base_counts, base_freq) -> (split, base_split)
 *     tally() of both tables from one pass over the pieces (ext's counts and freq, then base's).
 * tally2_words(nesting, cache, line, counts, base_counts) -> bool
 *     tally_words() of both: each " word" of line (one space before each word, none in it)
 *     counted as the text it is; False when the line has not as many words as counts.
 *
 * Why: the study counts Qwen beside cl100k_base, and the merges of a piece new to the cache
 * (1.3 M of NTREX-128's 7.7 M pieces; ~1 us each) are most of a tally's time. */
#define NESTING "qtok._native.nesting"
#define JOINT "qtok._native.joint"

typedef struct {
    PyObject *ext_obj, *base_obj; /* the encoders' capsules, held */
    const Encoder *ext, *base;
    uint32_t first_own; /* T: ext's ranks below it are base's tokens */
    int32_t *to_base;   /* ext id (< T) -> base id */
    Pattern fine;       /* the patterns' split, a numeral a piece */
} Nesting;

static void nesting_free(PyObject *capsule) {
    Nesting *z = (Nesting *)PyCapsule_GetPointer(capsule, NESTING);
    if (!z) return;
    free(z->to_base);
    Py_XDECREF(z->ext_obj);
    Py_XDECREF(z->base_obj);
    free(z);
}

/* Whether s[0:n] (n >= 1) is whole characters in UTF-8's shape (a lead byte, then as many
 * continuation bytes as it says), each a numeral: such bytes occur in a text only where those
 * numerals stand. */
static int numerals_only(const Pattern *p, const unsigned char *s, Py_ssize_t n) {
    for (Py_ssize_t i = 0; i < n;) {
        unsigned char c = s[i];
        int k = c < 0x80 ? 0 : (c & 0xE0) == 0xC0 ? 1 : (c & 0xF0) == 0xE0 ? 2 : (c & 0xF8) == 0xF0 ? 3 : -1;
        if (k < 0 || i + 1 + k > n) return 0;
        for (int b = 1; b <= k; b++)
            if ((s[i + b] & 0xC0) != 0x80) return 0;
        Py_ssize_t next;
        uint32_t cp = utf8_at(s, i, &next);
        if (cp >= 0x110000 || !(p->cls[cp] & C_N)) return 0;
        i = next;
    }
    return n > 0;
}

/* The nesting of ext over base, or NULL (no error set) when ext does not extend base so;
 * NULL with an error set when out of memory. Runs without the GIL. */
static Nesting *nesting_build(const Encoder *x, const Encoder *b, int *oom) {
    *oom = 0;
    if (x->pat.let != b->pat.let || (x->pat.cls != b->pat.cls && memcmp(x->pat.cls, b->pat.cls, 0x110000) != 0))
        return NULL;
    Nesting *z = (Nesting *)calloc(1, sizeof(Nesting));
    int32_t *to = (int32_t *)malloc(sizeof(int32_t) * (size_t)(x->n_vocab ? x->n_vocab : 1));
    uint64_t *kept = (uint64_t *)calloc((size_t)b->n_vocab / 64 + 1, sizeof(uint64_t));
    if (!z || !to || !kept) {
        *oom = 1;
        goto fail;
    }
    for (Py_ssize_t r = 0; r < x->n_vocab; r++) to[r] = -2; /* no token of ext has this id */
    for (size_t k = 0; k < x->ranks.used; k++) {
        const Slot *t = &x->ranks.entries[k];
        const Slot *in_base = strmap_find(&b->ranks, slot_key(&x->ranks, t), t->len, t->hash);
        to[t->value] = in_base ? (int32_t)in_base->value : -1;
    }
    Py_ssize_t first_own = 0;
    while (first_own < x->n_vocab && to[first_own] >= 0) first_own++;
    for (Py_ssize_t r = 0; r < x->n_vocab; r++) {
        if (r < first_own ? r > 0 && to[r] <= to[r - 1] : to[r] >= 0) goto fail; /* base's order, then its own */
        if (r < first_own) bit_set(kept, (size_t)to[r]);
    }
    for (size_t k = 0; k < b->ranks.used; k++) { /* what ext drops of base: numerals alone */
        const Slot *t = &b->ranks.entries[k];
        if (!bit_has(kept, (size_t)t->value) && !numerals_only(&b->pat, slot_key(&b->ranks, t), t->len)) goto fail;
    }
    free(kept);
    z->first_own = (uint32_t)first_own;
    z->to_base = to;
    z->ext = x;
    z->base = b;
    z->fine = (Pattern){x->pat.cls, x->pat.let, 1};
    return z;
fail:
    free(kept);
    free(to);
    free(z);
    return NULL;
}

static PyObject *native_nesting(PyObject *self, PyObject *args) {
    PyObject *ext_obj, *base_obj;
    if (!PyArg_ParseTuple(args, "OO", &ext_obj, &base_obj)) return NULL;
    const Encoder *x = (const Encoder *)PyCapsule_GetPointer(ext_obj, ENCODER);
    const Encoder *b = x ? (const Encoder *)PyCapsule_GetPointer(base_obj, ENCODER) : NULL;
    if (!b) return NULL;
    int oom;
    Nesting *z;
    Py_BEGIN_ALLOW_THREADS
    z = nesting_build(x, b, &oom);
    Py_END_ALLOW_THREADS
    if (!z) {
        if (oom) return PyErr_NoMemory();
        Py_RETURN_NONE;
    }
    PyObject *capsule = PyCapsule_New(z, NESTING, nesting_free);
    if (!capsule) {
        free(z->to_base);
        free(z);
        return NULL;
    }
    Py_INCREF(ext_obj);
    Py_INCREF(base_obj);
    z->ext_obj = ext_obj;
    z->base_obj = base_obj;
    return capsule;
}

/* What one text (or word) adds up to in one table. */
typedef struct {
    int64_t *freq; /* NULL: not asked */
    int64_t tokens, split;
} Side;

typedef struct {
    PyObject *nesting; /* held */
    /* The pieces without numerals: map value = ids offset << 32 | ext's m << 24 | its split
     * characters << 16 | base's m << 8 | its split characters; ids: ext's, then base's. */
    Pieces *p;
    Pieces *num[2]; /* numerals, each table's own cache: ext, base */
    int32_t *snap;  /* a new piece's base ids */
    size_t snap_cap;
} Joint;

static void joint_free(PyObject *capsule) {
    Joint *j = (Joint *)PyCapsule_GetPointer(capsule, JOINT);
    if (!j) return;
    pieces_release(j->p);
    pieces_release(j->num[0]);
    pieces_release(j->num[1]);
    free(j->snap);
    Py_XDECREF(j->nesting);
    free(j);
}

static PyObject *native_joint_pieces(PyObject *self, PyObject *nest_obj) {
    if (!PyCapsule_GetPointer(nest_obj, NESTING)) return NULL;
    Joint *j = (Joint *)calloc(1, sizeof(Joint));
    if (!j || !(j->p = pieces_new()) || !(j->num[0] = pieces_new()) || !(j->num[1] = pieces_new())) {
        if (j) {
            pieces_release(j->p);
            pieces_release(j->num[0]);
            free(j);
        }
        return PyErr_NoMemory();
    }
    Py_INCREF(nest_obj);
    j->nesting = nest_obj;
    PyObject *capsule = PyCapsule_New(j, JOINT, joint_free);
    if (!capsule) {
        j->nesting = NULL;
        Py_DECREF(nest_obj);
        pieces_release(j->p);
        pieces_release(j->num[0]);
        pieces_release(j->num[1]);
        free(j);
    }
    return capsule;
}

/* A new piece's ids in both tables (no numeral in it; 1 <= n <= PIECE_CACHED): ext's into
 * j->p->buf (their number returned), base's into j->snap (*mb of them); -1 when out of memory. */
static Py_ssize_t joint_ids(const Nesting *z, Joint *j, const unsigned char *s, Py_ssize_t n, uint64_t h,
                            Py_ssize_t *mb) {
    const Encoder *e = z->ext;
    Pieces *p = j->p;
    if (grow((void **)&p->buf, &p->buf_cap, (size_t)n + 1, sizeof(int32_t)) < 0 ||
        grow((void **)&j->snap, &j->snap_cap, (size_t)n + 1, sizeof(int32_t)) < 0)
        return -1;
    Py_ssize_t m = 1;
    if (n == 1) {
        p->buf[0] = j->snap[0] = e->byte_id[s[0]];
        *mb = 1;
    } else {
        m = enc_bpe(e, s, n, p->buf, p->rank, z->first_own, j->snap, mb);
        /* A piece that is a token is that token, in each table (piece_ids). */
        const Slot *whole = m == 1 || n == 2 || !bit_has(e->token_bits, token_bit(h)) ? NULL
                            : strmap_find(&e->ranks, s, (size_t)n, h);
        if (whole) {
            p->buf[0] = (int32_t)whole->value;
            m = 1;
            if ((uint64_t)whole->value < z->first_own) {
                j->snap[0] = (int32_t)whole->value;
                *mb = 1;
            }
        }
    }
    for (Py_ssize_t k = 0; k < *mb; k++) j->snap[k] = z->to_base[j->snap[k]];
    return m;
}

/* Every touched piece's pending occurrences added to the sides' freq. */
static void joint_flush(Joint *j, const Side *side) {
    Pieces *p = j->p;
    for (size_t t = 0; t < p->n_touched; t++) {
        int32_t x = p->touched[t];
        int64_t v = p->map.entries[x].value, c = p->pending[x], m = v >> 24 & 0xFF;
        const int32_t *ids = p->ids + (v >> 32);
        if (side[0].freq)
            for (int64_t k = 0; k < m; k++) side[0].freq[ids[k]] += c;
        if (side[1].freq)
            for (int64_t k = 0; k < (v >> 8 & 0xFF); k++) side[1].freq[ids[m + k]] += c;
        p->pending[x] = 0;
    }
    p->n_touched = 0;
}

/* pieces_bound for the joint cache. */
static int joint_bound(Joint *j, const Side *side) {
    if (j->p->map.used < CACHE_PIECES) return 0;
    joint_flush(j, side);
    return pieces_empty(j->p);
}

/* One piece without numerals, s[0:len], counted in both tables; -1 when out of memory. */
static int joint_piece(const Nesting *z, Joint *j, const unsigned char *s, Py_ssize_t len, uint64_t h, Side *side) {
    if (len > PIECE_CACHED) { /* not cached: each table encodes it (bpe_long) */
        for (int t = 0; t < 2; t++) {
            Py_ssize_t m = tally_piece(t ? z->base : z->ext, j->num[t], s, len, h, side[t].freq, &side[t].split);
            if (m < 0) return -1;
            side[t].tokens += m;
        }
        return 0;
    }
    Pieces *p = j->p;
    Slot *sl = strmap_upsert(&p->map, s, (size_t)len, h);
    if (!sl) return -1;
    size_t x = (size_t)(sl - p->map.entries);
    if (sl->value == 0) { /* new (a valid entry holds at least one id) */
        Py_ssize_t mb, m = joint_ids(z, j, s, len, h, &mb);
        int64_t at = m < 0 ? -1 : pieces_keep(p, x, p->buf, m, j->snap, mb);
        if (at < 0) return -1;
        sl->value = at << 32 | (int64_t)m << 24 | piece_splits(z->ext, s, p->buf, m) << 16 | (int64_t)mb << 8 |
                    piece_splits(z->base, s, j->snap, mb);
    }
    int64_t v = sl->value;
    side[0].tokens += v >> 24 & 0xFF;
    side[0].split += v >> 16 & 0xFF;
    side[1].tokens += v >> 8 & 0xFF;
    side[1].split += v & 0xFF;
    return (side[0].freq || side[1].freq) ? pieces_touch(p, x) : 0;
}

/* One text's tokens in both tables added to side[0] (ext) and side[1] (base); -1 when out of
 * memory. */
static int joint_text(const Nesting *z, Joint *j, const unsigned char *s, Py_ssize_t n, Side *side) {
    const Pattern *pat = &z->fine;
    Py_ssize_t end, next_end;
    uint64_t h = piece_ahead(pat, &j->p->map, s, 0, n, &end);
    for (Py_ssize_t i = 0; i < n;) {
        Py_ssize_t next;
        if (pat->cls[utf8_at(s, i, &next)] & C_N) { /* a run of numerals: each table cuts it its way */
            Py_ssize_t stop = run_of(pat, s, i, n, C_N, 1);
            for (int t = 0; t < 2; t++) {
                const Encoder *e = t ? z->base : z->ext;
                for (Py_ssize_t a = i, b; a < stop; a = b) {
                    b = a;
                    for (int k = 0; k < e->pat.max_digits && b < stop; k++) utf8_at(s, b, &b);
                    Py_ssize_t m = tally_piece(e, j->num[t], s + a, b - a, hash_bytes(s + a, (size_t)(b - a)),
                                               side[t].freq, &side[t].split);
                    if (m < 0 || pieces_bound(j->num[t], side[t].freq) < 0) return -1;
                    side[t].tokens += m;
                }
            }
            i = stop;
            h = piece_ahead(pat, &j->p->map, s, i, n, &end);
            continue;
        }
        uint64_t next_h = piece_ahead(pat, &j->p->map, s, end, n, &next_end);
        if (joint_piece(z, j, s + i, end - i, h, side) < 0 || joint_bound(j, side) < 0) return -1;
        i = end;
        end = next_end;
        h = next_h;
    }
    return 0;
}

/* The nesting and joint cache of a call, checked; NULL with an error set. */
static const Nesting *joint_args(PyObject *nest_obj, PyObject *cache_obj, Joint **j) {
    const Nesting *z = (const Nesting *)PyCapsule_GetPointer(nest_obj, NESTING);
    *j = z ? (Joint *)PyCapsule_GetPointer(cache_obj, JOINT) : NULL;
    if (!*j) return NULL;
    if ((*j)->nesting != nest_obj) {
        PyErr_SetString(PyExc_ValueError, "this cache belongs to another nesting; make one with joint_pieces(nesting)");
        return NULL;
    }
    if ((*j)->p->busy) {
        PyErr_SetString(PyExc_RuntimeError, "a piece cache is used by one thread at a time; make one per thread");
        return NULL;
    }
    return z;
}

static PyObject *native_tally2(PyObject *self, PyObject *args) {
    PyObject *nest_obj, *cache_obj, *texts, *freq_obj, *bfreq_obj, *result = NULL;
    Py_buffer counts = {0}, bcounts = {0}, freq = {0}, bfreq = {0};
    Texts in = {0};
    if (!PyArg_ParseTuple(args, "OOOw*Ow*O", &nest_obj, &cache_obj, &texts, &counts, &freq_obj, &bcounts, &bfreq_obj))
        return NULL;
    Joint *j;
    const Nesting *z = joint_args(nest_obj, cache_obj, &j);
    if (!z || freq_read(freq_obj, &freq, z->ext->n_vocab, "freq") < 0 ||
        freq_read(bfreq_obj, &bfreq, z->base->n_vocab, "base_freq") < 0 || texts_read(&in, texts, &counts) < 0)
        goto done;
    if (bcounts.len != counts.len) {
        PyErr_SetString(PyExc_ValueError, "base_counts must be an int64 array with one entry per text");
        goto done;
    }
    Side side[2] = {{freq.obj ? (int64_t *)freq.buf : NULL, 0, 0}, {bfreq.obj ? (int64_t *)bfreq.buf : NULL, 0, 0}};
    int64_t *out = (int64_t *)counts.buf, *bout = (int64_t *)bcounts.buf;
    int failed = 0;
    j->p->busy = 1;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t t = 0; t < in.count && !failed; t++) {
        side[0].tokens = side[1].tokens = 0;
        failed = joint_text(z, j, in.items[t].s, in.items[t].n, side) < 0;
        out[t] = side[0].tokens;
        bout[t] = side[1].tokens;
    }
    joint_flush(j, side);
    for (int t = 0; t < 2; t++)
        if (side[t].freq) pieces_flush(j->num[t], side[t].freq);
    Py_END_ALLOW_THREADS
    j->p->busy = 0;
    if (failed) {
        PyErr_NoMemory();
        goto done;
    }
    result = Py_BuildValue("(LL)", (long long)side[0].split, (long long)side[1].split);
done:
    PyBuffer_Release(&counts);
    PyBuffer_Release(&bcounts);
    if (freq.obj) PyBuffer_Release(&freq);
    if (bfreq.obj) PyBuffer_Release(&bfreq);
    texts_free(&in);
    return result;
}

static PyObject *native_tally2_words(PyObject *self, PyObject *args) {
    PyObject *nest_obj, *cache_obj, *line, *tmp = NULL, *result = NULL;
    Py_buffer counts = {0}, bcounts = {0};
    if (!PyArg_ParseTuple(args, "OOUw*w*", &nest_obj, &cache_obj, &line, &counts, &bcounts)) return NULL;
    Joint *j;
    const Nesting *z = joint_args(nest_obj, cache_obj, &j);
    Py_ssize_t n, n_words = counts.len / (Py_ssize_t)sizeof(int64_t);
    const unsigned char *s = z ? (const unsigned char *)utf8_of(line, &n, &tmp) : NULL;
    if (!s) {
        if (z && !PyErr_Occurred()) Py_XDECREF(PyUnicode_AsUTF8String(line)); /* its UnicodeEncodeError */
        goto done;
    }
    if (bcounts.len != counts.len) {
        PyErr_SetString(PyExc_ValueError, "base_counts must be as long as counts");
        goto done;
    }
    int64_t *out = (int64_t *)counts.buf, *bout = (int64_t *)bcounts.buf;
    Side side[2] = {{NULL, 0, 0}, {NULL, 0, 0}};
    Py_ssize_t word = 0, i = 0;
    int failed = 0;
    j->p->busy = 1;
    Py_BEGIN_ALLOW_THREADS
    for (; n > 0 && s[0] == ' ' && i < n && word < n_words && !failed; word++) {
        const unsigned char *space = (const unsigned char *)memchr(s + i + 1, ' ', (size_t)(n - i - 1));
        Py_ssize_t stop = space ? space - s : n;
        side[0].tokens = side[1].tokens = 0;
        failed = joint_text(z, j, s + i, stop - i, side) < 0;
        out[word] = side[0].tokens;
        bout[word] = side[1].tokens;
        i = stop;
    }
    Py_END_ALLOW_THREADS
    j->p->busy = 0;
    if (failed) {
        PyErr_NoMemory();
        goto done;
    }
    result = PyBool_FromLong(n > 0 && i == n && word == n_words);
done:
    PyBuffer_Release(&counts);
    PyBuffer_Release(&bcounts);
    Py_XDECREF(tmp);
    return result;
}

/* ------------------------------------------------------------- normalization, quickly */

/* stable(texts, table) -> bool
 *     UAX #15's quick check of every text (a list of str) against `table` (65,536 bytes,
 *     qtok.unicode.stable_table: each BMP character's combining class + 1 where its quick check
 *     is Yes, 0 where it is No or Maybe): True when every character is ASCII or Yes and each
 *     text's marks are in canonical order, so the texts are in the table's form; False says
 *     nothing (ask unicodedata). One byte read per character, where unicodedata.is_normalized
 *     reads a record through two tables. */
static PyObject *native_stable(PyObject *self, PyObject *args) {
    PyObject *texts;
    Py_buffer table;
    if (!PyArg_ParseTuple(args, "O!y*", &PyList_Type, &texts, &table)) return NULL;
    if (table.len != 0x10000) {
        PyBuffer_Release(&table);
        PyErr_SetString(PyExc_ValueError, "stable(): the table has one byte per BMP character (65,536)");
        return NULL;
    }
    const unsigned char *t = (const unsigned char *)table.buf;
    int ok = 1;
    for (Py_ssize_t k = 0; ok && k < PyList_GET_SIZE(texts); k++) {
        PyObject *text = PyList_GET_ITEM(texts, k);
        if (!PyUnicode_Check(text)) {
            PyBuffer_Release(&table);
            PyErr_Format(PyExc_TypeError, "stable(): texts must be str, got %.100s", Py_TYPE(text)->tp_name);
            return NULL;
        }
        if (PyUnicode_IS_ASCII(text)) continue;
        const Py_ssize_t n = PyUnicode_GET_LENGTH(text);
        const void *data = PyUnicode_DATA(text);
        const int kind = PyUnicode_KIND(text);
        if (kind != PyUnicode_1BYTE_KIND && kind != PyUnicode_2BYTE_KIND) {
            ok = 0; /* characters past the BMP: unicodedata answers */
            break;
        }
        unsigned last = 1; /* the class + 1 of the character before */
        for (Py_ssize_t i = 0; ok && i < n; i++) {
            const unsigned v = t[kind == PyUnicode_1BYTE_KIND ? ((const Py_UCS1 *)data)[i] : ((const Py_UCS2 *)data)[i]];
            ok = v && (v == 1 || last <= v); /* Yes, and a mark after no mark of a higher class */
            last = v;
        }
    }
    PyBuffer_Release(&table);
    return PyBool_FromLong(ok);
}

static PyMethodDef methods[] = {
    {"table", native_table, METH_NOARGS, "table() -> an empty table of piece counts"},
    {"count_into", native_count_into, METH_VARARGS,
     "count_into(table, texts, classes, let_mask, max_digits) -> the texts left to the regex path"},
    {"words_into", native_words_into, METH_VARARGS,
     "words_into(table, texts, counts) -> the texts' UTF-8 bytes; their str.split() words counted"},
    {"table_merge", native_table_merge, METH_VARARGS, "table_merge(dst, src): src's counts added to dst"},
    {"table_items", native_table_items, METH_VARARGS, "table_items(table, out) -> out, given every piece's count"},
    {"table_list", native_table_list, METH_VARARGS, "table_list(table, counts) -> the pieces, counts given theirs"},
    {"table_size", native_table_size, METH_O, "table_size(table) -> the number of distinct pieces"},
    {"learn", native_learn, METH_VARARGS,
     "learn(pieces, train, dev, n_langs, ranks, n_new, global_merges, accept, encode_slow) -> tokens learned"},
    {"encoder", native_encoder, METH_VARARGS, "encoder(ranks, classes, let_mask, max_digits) -> an encoder"},
    {"encoder_lengths", native_encoder_lengths, METH_O, "encoder_lengths(encoder) -> each id's byte length"},
    {"pieces", native_pieces, METH_O, "pieces(encoder) -> a piece cache, for one thread at a time"},
    {"tally", native_tally, METH_VARARGS,
     "tally(encoder, cache, texts, counts, freq) -> characters inside which a token ends"},
    {"tally_ids", native_tally_ids, METH_VARARGS, "tally_ids(encoder, cache, text) -> the text's ids (int32 bytes)"},
    {"tally_words", native_tally_words, METH_VARARGS,
     "tally_words(encoder, cache, line, counts) -> whether the line's words were counted"},
    {"nesting", native_nesting, METH_VARARGS, "nesting(ext, base) -> whether ext's table extends base's (None if not)"},
    {"joint_pieces", native_joint_pieces, METH_O, "joint_pieces(nesting) -> a piece cache of both tables"},
    {"tally2", native_tally2, METH_VARARGS,
     "tally2(nesting, cache, texts, counts, freq, base_counts, base_freq) -> (split, base_split)"},
    {"tally2_words", native_tally2_words, METH_VARARGS,
     "tally2_words(nesting, cache, line, counts, base_counts) -> whether the line's words were counted"},
    {"stable", native_stable, METH_VARARGS,
     "stable(texts, table) -> whether each character is one no normalization of the table's form touches"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_native", "The trainer's hot loops in C.", -1, methods};

PyMODINIT_FUNC PyInit__native(void) { return PyModule_Create(&module); }
