/* qtok.analysis._unigram: SentencePiece's Unigram encoder (normalization and Viterbi), in C,
 * for the study's XLM-R.
 *
 * Why: sentencepiece spends most of its time around the algorithm (a protobuf message per token,
 * a Python list per text): 10 MB/s and ~1.6 us a word on one core, more than half of the
 * NTREX-128 study. This file runs the same two steps on a list of texts with the GIL released
 * and returns the ids as two buffers. It reproduces sentencepiece 0.2.3's code path step by step
 * (src/normalizer.cc Normalizer::Normalize and NormalizePrefix, src/unigram_model.cc
 * Model::EncodeOptimized, src/sentencepiece_processor.cc EncodeOptimized and
 * PopulateSentencePieceText), down to the float arithmetic of the Viterbi scores and their reset.
 * tests/analysis/test_unigram.py proves it gives sentencepiece's ids and spans on the embedded
 * corpus, its words, generated text and models trained in the test; benchmarks/study.py checks
 * every NTREX-128 language. analysis/unigram.py decides which models it takes (the others, and
 * machines without a C compiler, stay on sentencepiece).
 *
 * model(proto, charsmap, flags) -> a capsule
 *     proto: a ModelProto's bytes (the .model file), whose pieces this reads (their types are
 *     sentencepiece_model.proto's: 1 NORMAL, 2 UNKNOWN, 3 CONTROL, 4 USER_DEFINED, 5 UNUSED;
 *     ValueError for any other, for no or two unknown pieces, an empty, repeated or NUL-holding
 *     piece, or a NaN score);
 *     charsmap: NormalizerSpec.precompiled_charsmap (b"" for none); flags: bit 0
 *     add_dummy_prefix, bit 1 remove_extra_whitespaces, bit 2 escape_whitespaces.
 * encode(model, texts, cache=None) -> (ids: int32 bytes, counts: int64 bytes, one per text);
 *     with a cache (from cache(model); one thread at a time), texts are searched a word at a time
 *     and words seen before are not searched again (encode_words), with the same ids.
 * cache(model) -> a capsule: the words a model's encode calls found, kept between calls (at most
 *     MAX_ENTRIES of them, then it starts again).
 * spans(model, text) -> (ids: int32 bytes, (begin, end) of each token in the text's UTF-8: int64
 *     bytes), the offsets sentencepiece's pieces carry (what report.html colours).
 * unknown(model) -> the id of the model's one UNKNOWN piece: its unknown ids (model() refuses
 *     BYTE pieces), without a walk over 250,000 protobuf pieces in Python.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum { NORMAL = 1, UNKNOWN = 2, CONTROL = 3, USER_DEFINED = 4, UNUSED = 5 };
enum { ADD_DUMMY_PREFIX = 1, REMOVE_EXTRA_WHITESPACES = 2, ESCAPE_WHITESPACES = 4 };
static const char SPACE_SYMBOL[] = "\xe2\x96\x81"; /* U+2581, what escape_whitespaces writes */

/* The pieces' trie, as a double array (base + byte -> child, checked by the child's parent),
 * nodes placed breadth first: the shallow nodes, which every walk visits, share a few cache lines
 * at the front. Each unit holds the piece that ends at it. (A hash table of edges was as slow as
 * sentencepiece: its 32 MB spread even the root's grandchildren over the caches.) */
typedef struct {
    int32_t base;   /* children at base + byte */
    int32_t check;  /* the parent's index; -1 for a free unit */
    int32_t id;     /* the piece ending here: -1 none, -2 an UNUSED piece; USER_DEFINED_BIT marks those */
    float score;
} Unit;
#define USER_DEFINED_BIT (1 << 30)
typedef struct {
    Unit *units;
    int32_t size;
} Trie;

typedef struct {
    Trie trie;
    Trie user_defined;  /* the normalizer's PrefixMatcher: the USER_DEFINED pieces alone */
    int unk_id;
    float min_score;
    int flags;
    int has_user_defined;
    /* Whether every path of the search passes through every whitespace symbol of the normalized
     * text, so a text's pieces can be found a word at a time (see encode_words): no piece holds
     * the symbol past its first byte nor ends inside it, and the normalized text is always
     * valid UTF-8 (the user-defined pieces and the charsmap's replacements are). */
    int segmentable;
    /* Each ASCII byte's normalized form when an ASCII byte (or the end) follows, where no rule
     * and no user-defined piece looks further than the byte itself: most of a Latin-script text
     * is normalized without a walk of the charsmap. */
    struct { uint8_t fast, len; const char *out; } ascii[128];
    /* Each BMP character past ASCII, found on its first use (0: not yet asked, SIMPLE_CHAR or
     * OTHER_CHAR): whether it is its own normalized form, with no charsmap rule and no
     * user-defined piece that starts with it. A run of such characters is copied at once (the
     * normalization was a fifth of XLM-R's time on NTREX-128). Threads that find the same
     * character store the same value. */
    uint8_t *simple;
    /* The precompiled charsmap: a darts-clone double array, then NUL-terminated replacements. */
    uint32_t *darts;
    size_t n_darts;
    char *replacements;
    size_t n_replacements;
} Model;

/* ------------------------------------------------------------------------------- the trie */

typedef struct { const unsigned char *data; size_t len; } Piece;

/* The child of `node` by byte c in the double array, or -1. */
static inline int32_t trie_step(const Trie *t, int32_t node, uint8_t c) {
    const int32_t i = t->units[node].base + c;
    return (uint32_t)i < (uint32_t)t->size && t->units[i].check == node ? i : -1;
}

/* A piece while the trie is built: its bytes and what the unit it ends at holds. */
typedef struct {
    const unsigned char *s;
    uint32_t len;
    int32_t id;
    float score;
} Key;

static int key_order(const void *x, const void *y) {
    const Key *a = x, *b = y;
    const int c = memcmp(a->s, b->s, a->len < b->len ? a->len : b->len);
    return c ? c : (a->len > b->len) - (a->len < b->len);
}

/* The free units while the double array is built: a ring linked both ways, so finding a base
 * for a node's children looks at free units only (a scan over every unit from the first free
 * one was most of XLM-R's load). */
typedef struct {
    int32_t *next, *prev;
    int32_t head;  /* -1: none free */
} FreeRing;

static void ring_take(FreeRing *f, int32_t i) {
    if (f->next[i] == i) {
        f->head = -1;
        return;
    }
    f->next[f->prev[i]] = f->next[i];
    f->prev[f->next[i]] = f->prev[i];
    if (f->head == i) f->head = f->next[i];
}

/* At least `need` units, the new ones free: 0, -1 (no memory) or -2 (too many). */
static int units_grow(Trie *t, FreeRing *f, int64_t need) {
    if (need <= t->size) return 0;
    if (need > INT32_MAX / 2) return -2;
    const int32_t old = t->size;
    int32_t size = old ? old : 1024;
    while (size < need) size *= 2;
    Unit *g = realloc(t->units, (size_t)size * sizeof *g);
    if (g) t->units = g;
    int32_t *next = g ? realloc(f->next, (size_t)size * sizeof *next) : NULL;
    if (next) f->next = next;
    int32_t *prev = next ? realloc(f->prev, (size_t)size * sizeof *prev) : NULL;
    if (!prev) return -1;
    f->prev = prev;
    for (int32_t i = old; i < size; i++) {
        g[i] = (Unit){0, -1, -1, 0.0f};
        if (f->head < 0) {
            f->head = next[i] = prev[i] = i;
        } else {  /* at the tail: before the head */
            const int32_t tail = prev[f->head];
            next[tail] = i;
            prev[i] = tail;
            next[i] = f->head;
            prev[f->head] = i;
        }
    }
    t->size = size;
    return 0;
}

/* A node while the trie is built: the keys below it (keys[lo, hi), sharing their first `depth`
 * bytes) and its unit. */
typedef struct { int32_t lo, hi, depth, unit; } Span;

/* The double-array trie of the pieces whose type is in `types` (a mask of 1 << type), with
 * sentencepiece's checks (model_interface.cc InitializePieces): a piece "\0" of type UNUSED is
 * left out, and an empty or a repeated piece is an error. UNUSED pieces get id -2:
 * EncodeOptimized walks through them and skips them, as a node with no piece. The pieces are
 * sorted, so each node's keys are a range and its children the distinct bytes there; nodes are
 * placed breadth first (the shallow nodes, which every walk visits, share a few cache lines at
 * the front), each node's children at the first base where all of them find free units.
 * Returns 0, -1 (no memory), -2 (too many units) or -3 (an empty or a repeated piece). */
static int trie_build(Trie *t, const Piece *pieces, const uint8_t *type, const float *score, Py_ssize_t n, int types) {
    int r = -1;
    FreeRing ring = {NULL, NULL, -1};
    Key *keys = malloc((size_t)(n ? n : 1) * sizeof *keys);
    Span *queue = NULL;
    size_t head = 0, tail = 0, queue_cap = 0;
    t->units = NULL;
    t->size = 0;
    if (!keys) goto out;
    int32_t nk = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (!(types & (1 << type[i]))) continue;
        if (type[i] == UNUSED && pieces[i].len == 1 && pieces[i].data[0] == 0) continue;
        if (!pieces[i].len) {
            r = -3;
            goto out;
        }
        keys[nk++] = (Key){pieces[i].data, (uint32_t)pieces[i].len,
                           type[i] == UNUSED ? -2 : (int32_t)i | (type[i] == USER_DEFINED ? USER_DEFINED_BIT : 0),
                           score[i]};
    }
    qsort(keys, (size_t)nk, sizeof *keys, key_order);
    for (int32_t k = 1; k < nk; k++)
        if (!key_order(&keys[k - 1], &keys[k])) {
            r = -3;
            goto out;
        }
    if ((r = units_grow(t, &ring, 1024))) goto out;
    r = -1;
    ring_take(&ring, 0);
    t->units[0] = (Unit){0, -2, -1, 0.0f};  /* the root: never anyone's child */
    Span root = {0, nk, 0, 0};
    for (Span sp = root;; sp = queue[head++]) {
        int32_t lo = sp.lo;
        if (lo < sp.hi && (int32_t)keys[lo].len == sp.depth) lo++;  /* the key that ends here */
        if (lo < sp.hi) {
            int n_labels = 0;
            int labels[256];
            int32_t starts[257];
            for (int32_t k = lo; k < sp.hi;) {
                const unsigned char c = keys[k].s[sp.depth];
                labels[n_labels] = c;
                starts[n_labels++] = k;
                while (k < sp.hi && keys[k].s[sp.depth] == c) k++;
            }
            starts[n_labels] = sp.hi;
            int32_t base;
            for (int32_t f = ring.head;; f = ring.next[f]) {
                /* New units join the ring's tail, so the walk reaches them: a base always fits there. */
                int g = units_grow(t, &ring, (int64_t)f + 257);
                if (g) {
                    r = g;
                    goto out;
                }
                base = f - labels[0];
                int j = 1;
                while (j < n_labels && t->units[base + labels[j]].check == -1) j++;
                if (j == n_labels) break;
            }
            t->units[sp.unit].base = base;
            for (int j = 0; j < n_labels; j++) {
                const int32_t at = base + labels[j];
                const Key *first = &keys[starts[j]];
                ring_take(&ring, at);
                t->units[at].check = sp.unit;
                if ((int32_t)first->len == sp.depth + 1) {
                    t->units[at].id = first->id;
                    t->units[at].score = first->score;
                }
                if (starts[j + 1] - starts[j] > 1 || (int32_t)first->len > sp.depth + 1) {
                    if (tail == queue_cap) {
                        size_t cap = queue_cap ? 2 * queue_cap : 1024;
                        Span *q = realloc(queue, cap * sizeof *q);
                        if (!q) goto out;
                        queue = q;
                        queue_cap = cap;
                    }
                    queue[tail++] = (Span){starts[j], starts[j + 1], sp.depth + 1, at};
                }
            }
        }
        if (head == tail) break;
    }
    r = 0;
out:
    free(keys);
    free(queue);
    free(ring.next);
    free(ring.prev);
    return r;
}

/* ------------------------------------------------------------------------- normalization */

/* string_util::OneCharLen */
static inline int one_char_len(unsigned char c) {
    return "\1\1\1\1\1\1\1\1\1\1\1\1\2\2\3\4"[c >> 4];
}

/* string_util::DecodeUTF8's length of a valid character, or 0 (the text from Python is valid
 * UTF-8, but a replacement may not be; sentencepiece then writes U+FFFD for one byte). */
static int valid_utf8_len(const unsigned char *s, size_t n) {
    if (s[0] < 0x80) return 1;
    if (n >= 2 && (s[0] & 0xE0) == 0xC0) {
        uint32_t cp = ((uint32_t)(s[0] & 0x1F) << 6) | (s[1] & 0x3F);
        if ((s[1] & 0xC0) == 0x80 && cp >= 0x80) return 2;
    } else if (n >= 3 && (s[0] & 0xF0) == 0xE0) {
        uint32_t cp = ((uint32_t)(s[0] & 0x0F) << 12) | ((uint32_t)(s[1] & 0x3F) << 6) | (s[2] & 0x3F);
        if ((s[1] & 0xC0) == 0x80 && (s[2] & 0xC0) == 0x80 && cp >= 0x800 && (cp < 0xD800 || cp >= 0xE000))
            return 3;
    } else if (n >= 4 && (s[0] & 0xF8) == 0xF0) {
        uint32_t cp = ((uint32_t)(s[0] & 0x07) << 18) | ((uint32_t)(s[1] & 0x3F) << 12)
                      | ((uint32_t)(s[2] & 0x3F) << 6) | (s[3] & 0x3F);
        if ((s[1] & 0xC0) == 0x80 && (s[2] & 0xC0) == 0x80 && (s[3] & 0xC0) == 0x80
            && cp >= 0x10000 && cp <= 0x10FFFF)
            return 4;
    }
    return 0;
}

/* darts-clone's unit accessors */
static inline int d_has_leaf(uint32_t u) { return (u >> 8) & 1; }
static inline uint32_t d_value(uint32_t u) { return u & ((1U << 31) - 1); }
static inline uint32_t d_label(uint32_t u) { return u & ((1U << 31) | 0xFF); }
static inline uint32_t d_offset(uint32_t u) { return (u >> 10) << ((u & (1U << 9)) >> 6); }

/* Normalizer::NormalizePrefix: the normalized form of the text's next characters (a pointer and
 * a length into the text, the charsmap or a constant) and how many bytes of the text it takes. */
static size_t normalize_prefix(const Model *m, const unsigned char *s, size_t n,
                               const char **out, size_t *out_len) {
    if (m->has_user_defined) {
        /* The PrefixMatcher: a user-defined symbol is kept as it is, the longest that matches. */
        size_t longest = 0;
        int32_t node = 0;
        int found = 0;
        for (size_t k = 0; k < n && found < 64; k++) {  /* the first 64 matches (kResultSize) */
            node = trie_step(&m->user_defined, node, s[k]);
            if (node < 0) break;
            if (m->user_defined.units[node].id >= 0) {
                longest = k + 1;
                found++;
            }
        }
        if (longest) {
            *out = (const char *)s;
            *out_len = longest;
            return longest;
        }
    }
    size_t longest = 0;
    uint32_t value = 0;
    if (m->darts) {
        /* DoubleArray::commonPrefixSearch; indices are checked, so a damaged charsmap cannot
         * read outside its array (sentencepiece trusts the file). */
        const uint32_t *a = m->darts;
        size_t pos = 0;
        uint32_t unit = a[0];
        pos ^= d_offset(unit);
        int found = 0;
        for (size_t i = 0; i < n && found < 32; i++) {  /* the first 32 rules (kMaxTrieResultsSize) */
            pos ^= s[i];
            if (pos >= m->n_darts) break;
            unit = a[pos];
            if (d_label(unit) != s[i]) break;
            pos ^= d_offset(unit);
            if (pos >= m->n_darts) break;
            if (d_has_leaf(unit)) {
                longest = i + 1;
                value = d_value(a[pos]);
                found++;
            }
        }
    }
    if (longest && value < m->n_replacements) {
        *out = m->replacements + value;
        *out_len = strlen(*out);  /* the replacements end with a NUL (checked at load) */
        return longest;
    }
    int len = valid_utf8_len(s, n);
    if (!len) {
        *out = "\xEF\xBF\xBD";
        *out_len = 3;
        return 1;
    }
    *out = (const char *)s;
    *out_len = (size_t)len;
    return (size_t)len;
}

/* How many bytes of `s` the charsmap's double array walks before it finds no rule going on. */
static size_t darts_depth(const Model *m, const unsigned char *s, size_t n) {
    if (!m->darts) return 0;
    const uint32_t *a = m->darts;
    size_t pos = d_offset(a[0]), i = 0;
    for (; i < n; i++) {
        pos ^= s[i];
        if (pos >= m->n_darts || d_label(a[pos]) != s[i]) break;
        pos ^= d_offset(a[pos]);
        if (pos >= m->n_darts) return i + 1;
    }
    return i;
}

/* Model.ascii, once the tries and the charsmap are in place. */
static void ascii_table(Model *m) {
    for (int c = 0; c < 128; c++) {
        unsigned char two[2] = {(unsigned char)c, 0};
        int fast = !(m->has_user_defined && trie_step(&m->user_defined, 0, two[0]) >= 0);
        for (int d = 0; d < 128 && fast; d++) {
            two[1] = (unsigned char)d;
            fast = darts_depth(m, two, 2) < 2;
        }
        m->ascii[c].fast = 0;
        if (!fast) continue;
        const char *out;
        size_t len;
        if (normalize_prefix(m, two, 1, &out, &len) != 1 || len > 255) continue;
        /* The byte itself (out points into `two`), or a replacement from the charsmap. */
        m->ascii[c].out = out == (const char *)two ? NULL : out;
        m->ascii[c].len = (uint8_t)len;
        m->ascii[c].fast = 1;
    }
}

/* Whether Model.ascii answers for the byte at s (n > 0 bytes left): an ASCII byte no rule looks
 * past, before an ASCII byte or the end. */
static inline int ascii_answers(const Model *m, const unsigned char *s, size_t n) {
    return s[0] < 0x80 && (n == 1 || s[1] < 0x80) && m->ascii[s[0]].fast;
}

enum { SIMPLE_CHAR = 1, OTHER_CHAR = 2 };

/* Model.simple of the character s[0:len] (2 or 3 bytes, valid UTF-8), found now: the charsmap's
 * walk through its bytes meets no rule and cannot go on past them, so normalize_prefix gives
 * the character itself whatever follows it. */
static uint8_t simple_char(const Model *m, const unsigned char *s, size_t len) {
    if (m->has_user_defined && trie_step(&m->user_defined, 0, s[0]) >= 0) return OTHER_CHAR;
    if (!m->darts) return SIMPLE_CHAR;
    const uint32_t *a = m->darts;
    size_t pos = d_offset(a[0]);
    for (size_t i = 0; i < len; i++) {
        pos ^= s[i];
        if (pos >= m->n_darts || d_label(a[pos]) != s[i]) return SIMPLE_CHAR;  /* the walk ends inside */
        const uint32_t unit = a[pos];
        pos ^= d_offset(unit);
        if (pos >= m->n_darts) return SIMPLE_CHAR;
        if (d_has_leaf(unit)) return OTHER_CHAR;  /* a rule for these bytes */
    }
    for (unsigned b = 0; b < 256; b++)  /* a rule that goes on into what follows */
        if ((pos ^ b) < m->n_darts && d_label(a[pos ^ b]) == b) return OTHER_CHAR;
    return SIMPLE_CHAR;
}

/* How many bytes at s are characters that normalize to themselves (Model.ascii's and
 * Model.simple's), none of them a space (whitespace is collapsed and escaped one at a time). */
static size_t simple_run(const Model *m, const unsigned char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        const unsigned char c = s[i];
        if (c < 0x80) {
            if (c == ' ' || !ascii_answers(m, s + i, n - i) || m->ascii[c].out) break;
            i++;
            continue;
        }
        size_t len = c >= 0xE0 ? 3 : 2;
        if (c >= 0xF0 || i + len > n) break;
        const uint32_t cp = len == 2 ? ((uint32_t)(c & 0x1F) << 6) | (s[i + 1] & 0x3F)
                                     : ((uint32_t)(c & 0x0F) << 12) | ((uint32_t)(s[i + 1] & 0x3F) << 6) | (s[i + 2] & 0x3F);
#if defined(__GNUC__)
        uint8_t state = __atomic_load_n(&m->simple[cp], __ATOMIC_RELAXED);
        if (!state) {
            state = simple_char(m, s + i, len);
            __atomic_store_n(&m->simple[cp], state, __ATOMIC_RELAXED);
        }
#else
        uint8_t state = simple_char(m, s + i, len);
#endif
        if (state != SIMPLE_CHAR) break;
        i += len;
    }
    return i;
}

/* normalize_prefix, through Model.ascii where it answers. */
static inline size_t normalize_next(const Model *m, const unsigned char *s, size_t n,
                                    const char **out, size_t *out_len) {
    if (ascii_answers(m, s, n)) {
        *out = m->ascii[s[0]].out ? m->ascii[s[0]].out : (const char *)s;
        *out_len = m->ascii[s[0]].len;
        return 1;
    }
    return normalize_prefix(m, s, n, out, out_len);
}

typedef struct { char *data; size_t len, cap; } Buf;

static int buf_put(Buf *b, const char *s, size_t n) {
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n) cap *= 2;
        char *g = realloc(b->data, cap);
        if (!g) return -1;
        b->data = g;
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    return 0;
}

/* The whitespace of the normalized text (its `*len` bytes): "\u2581" with escape_whitespaces,
 * else " ". */
static inline const char *space_symbol(const Model *m, size_t *len) {
    const int escape = (m->flags & ESCAPE_WHITESPACES) != 0;
    *len = escape ? 3 : 1;
    return escape ? SPACE_SYMBOL : " ";
}

static int put_space(const Model *m, Buf *out) {
    size_t len;
    const char *sym = space_symbol(m, &len);
    return buf_put(out, sym, len);
}

/* Where each normalized byte came from: Normalizer::Normalize's norm_to_orig. */
typedef struct { size_t *at; size_t len, cap; } Offsets;

static int mark(Offsets *o, size_t consumed, size_t count) {
    if (!o) return 0;
    if (o->len + count > o->cap) {
        size_t cap = o->cap ? o->cap : 256;
        while (cap < o->len + count) cap *= 2;
        size_t *g = realloc(o->at, cap * sizeof *g);
        if (!g) return -1;
        o->at = g;
        o->cap = cap;
    }
    while (count--) o->at[o->len++] = consumed;
    return 0;
}

/* Normalizer::Normalize; `off` (NULL when only ids are wanted) gets norm_to_orig. */
static int normalize(const Model *m, const unsigned char *s, size_t n, Buf *out, Offsets *off) {
    out->len = 0;
    if (off) off->len = 0;
    size_t consumed = 0;
    const int remove_extra = (m->flags & REMOVE_EXTRA_WHITESPACES) != 0;
    size_t space_len;
    const char *sym = space_symbol(m, &space_len);
    if (remove_extra) {
        while (n) {
            const char *p;
            size_t plen, took = normalize_next(m, s, n, &p, &plen);
            if (!(plen == 1 && p[0] == ' ')) break;
            s += took;
            n -= took;
            consumed += took;
        }
    }
    if (!n) return 0;  /* sentencepiece's norm_to_orig is then empty too */
    if ((m->flags & ADD_DUMMY_PREFIX) && (put_space(m, out) || mark(off, consumed, space_len))) return -1;
    int prev_space = remove_extra;
    while (n) {
        const size_t run = off ? 0 : simple_run(m, s, n);
        if (run) {  /* without offsets to mark: a run of characters that are their own form */
            if (buf_put(out, (const char *)s, run)) return -1;
            s += run;
            n -= run;
            consumed += run;
            prev_space = 0;
            continue;
        }
        const char *p;
        size_t plen, took = normalize_next(m, s, n, &p, &plen);
        while (prev_space && plen && p[0] == ' ') {
            p++;
            plen--;
        }
        if (plen) {
            for (size_t k = 0; k < plen; k++) {
                if ((m->flags & ESCAPE_WHITESPACES) && p[k] == ' ') {
                    if (buf_put(out, SPACE_SYMBOL, 3) || mark(off, consumed, 3)) return -1;
                } else if (buf_put(out, p + k, 1) || mark(off, consumed, 1)) {
                    return -1;
                }
            }
            prev_space = p[plen - 1] == ' ';
        }
        s += took;
        n -= took;
        consumed += took;
        if (!remove_extra) prev_space = 0;
    }
    if (remove_extra) {
        while (out->len >= space_len && memcmp(out->data + out->len - space_len, sym, space_len) == 0) {
            out->len -= space_len;
            if (off) {
                consumed = off->at[out->len];
                off->len = out->len;
            }
        }
    }
    return mark(off, consumed, 1);
}

/* ---------------------------------------------------------------------------- the Viterbi */

/* A node of the search: the best path's last piece (id, where it starts, its score `sigma`) and
 * the path's score. */
typedef struct { int32_t id; float score; int32_t starts_at; float sigma; } Best;

typedef struct {
    Buf norm;
    Best *best;
    size_t best_cap;
    float *second;  /* each node's runner-up candidate, for encode_words' cache */
    int32_t *path;
    int32_t *ids;
    size_t n_ids, ids_cap;
} Scratch;

static int put_id(Scratch *w, int32_t id) {
    if (w->n_ids == w->ids_cap) {
        size_t cap = w->ids_cap ? 2 * w->ids_cap : 4096;
        int32_t *g = realloc(w->ids, cap * sizeof *g);
        if (!g) return -1;
        w->ids = g;
        w->ids_cap = cap;
    }
    w->ids[w->n_ids++] = id;
    return 0;
}

/* Model::EncodeOptimized's search over the normalized bytes s[a, b), from best[a].score (set by
 * the caller: 0 for a whole text): best[a + 1 .. b] get their best path's last piece. Float
 * arithmetic throughout, as sentencepiece's: on ties (runs of hyphens in NTREX-128) and on long
 * texts (a 109 kB file of the embedded code corpus) any other rounding picks other pieces. With
 * `second`, each node also gets its runner-up candidate's score (-INFINITY: none) and `*widest`
 * the largest |candidate|. Returns 1 if the scores were reset on the way, else 0. */
static int viterbi(const Model *m, const unsigned char *s, size_t a, size_t b, Best *best,
                   float *second, float *widest) {
    for (size_t i = a + 1; i <= b; i++) best[i] = (Best){-1, 0.0f, -1, 0.0f};
    if (second)
        for (size_t i = a + 1; i <= b; i++) second[i] = -INFINITY;
    const float unk_score = m->min_score - 10.0f;  /* kUnkPenalty */
    size_t starts_at = a, max_frontier = a;
    int reset = 0;
    float wide = 0.0f;
    while (starts_at < b) {
        float till_here = best[starts_at].score;
        /* Past |100000| the path scores are moved back to 0 (kScoreResetThreshold): float sums
         * that large would round away the differences between paths. */
        if (till_here < -100000.0f || till_here > 100000.0f) {
            const float offset = till_here;
            for (size_t i = starts_at; i <= max_frontier; i++)
                if (i == starts_at || best[i].starts_at != -1) best[i].score -= offset;
            till_here = 0.0f;
            reset = 1;
        }
        int has_single_node = 0;
        size_t mblen = (size_t)one_char_len(s[starts_at]);
        if (mblen > b - starts_at) mblen = b - starts_at;
        int32_t node = 0;
        for (size_t key_pos = starts_at; key_pos < b;) {
            node = trie_step(&m->trie, node, s[key_pos]);
            if (node < 0) break;
            const Unit *e = &m->trie.units[node];
            key_pos++;
            if (e->id < 0) continue;
            if (key_pos > max_frontier) max_frontier = key_pos;
            Best *target = &best[key_pos];
            const size_t length = key_pos - starts_at;
            /* GetUserDefinedScore: a bonus that makes user-defined symbols win. */
            const float score = e->id & USER_DEFINED_BIT ? (float)(0.1 * (double)((int)length - 1)) : e->score;
            const float candidate = score + till_here;
            if (target->starts_at == -1 || candidate > target->score) {
                if (second && target->starts_at != -1) second[key_pos] = target->score;
                *target = (Best){e->id & ~USER_DEFINED_BIT, candidate, (int32_t)starts_at, score};
            } else if (second && candidate > second[key_pos]) {
                second[key_pos] = candidate;
            }
            if (second && fabsf(candidate) > wide) wide = fabsf(candidate);
            if (length == mblen) has_single_node = 1;
        }
        if (!has_single_node) {
            if (starts_at + mblen > max_frontier) max_frontier = starts_at + mblen;
            Best *target = &best[starts_at + mblen];
            const float candidate = unk_score + till_here;
            if (target->starts_at == -1 || candidate > target->score) {
                if (second && target->starts_at != -1) second[starts_at + mblen] = target->score;
                *target = (Best){m->unk_id, candidate, (int32_t)starts_at, unk_score};
            } else if (second && candidate > second[starts_at + mblen]) {
                second[starts_at + mblen] = candidate;
            }
            if (second && fabsf(candidate) > wide) wide = fabsf(candidate);
        }
        starts_at += mblen;
    }
    if (widest) *widest = wide;
    return reset;
}

/* The best path's nodes from b back to a, into w->path (last first); their number, or -1. */
static long backtrace(const Best *best, size_t a, size_t b, Scratch *w) {
    size_t n_path = 0;
    for (size_t ends_at = b; ends_at > a; ends_at = (size_t)best[ends_at].starts_at) {
        if (best[ends_at].starts_at < (int64_t)a || n_path >= b - a) return -1;  /* cannot happen: unknowns cover every character */
        w->path[n_path++] = (int32_t)ends_at;
    }
    return (long)n_path;
}

/* A piece of the output: PopulateSentencePieceText merges consecutive unknowns into one. */
static int emit(const Model *m, Scratch *w, int32_t id, int *prev_unk, long *appended) {
    const int unk = id == m->unk_id;
    if (!(unk && *prev_unk)) {
        if (put_id(w, id)) return -1;
        (*appended)++;
    }
    *prev_unk = unk;
    return 0;
}

/* ------------------------------------------------------------------- the cache of words */

/* encode_words' answers, by word (the normalized bytes from one whitespace symbol to the next):
 * its pieces as the search alone finds them, each with its score, how far each path node's best
 * candidate led its runner-up (`margin`) and the largest |candidate| (`width`). News text
 * repeats its words: three quarters of NTREX-128's are found here instead of searched again. */
typedef struct {
    uint64_t hash;
    uint16_t len, n;   /* the word's bytes, its pieces: they follow, then n (int32 id, float score) pairs */
    float margin, width;
} Entry;

typedef struct {
    PyObject *model;   /* the model's capsule: a cache serves one model */
    int busy;          /* one call at a time (checked under the GIL) */
    uint32_t n_entries;
    uint64_t *slots;   /* the hash's top 32 bits, then the entry's place in the arena / 8 + 1; 0 empty */
    uint32_t bits;     /* 1 << bits slots */
    unsigned char *arena;  /* the entries, each where a slot finds it in one step */
    size_t arena_len, arena_cap;
} Cache;

#define MAX_WORD 255            /* longer words are searched every time */
/* Then the cache starts again empty: memory stays bounded, and a small cache stays in the CPU's
 * caches (a language's words repeat within the language). */
#define MAX_ENTRIES (1U << 16)
#define MAX_ARENA ((size_t)16 << 20)

static inline size_t entry_size(size_t len, size_t n) {
    return ((sizeof(Entry) + len + 3) / 4 * 4 + 8 * n + 7) / 8 * 8;
}

static inline const unsigned char *entry_pairs(const Entry *e) {
    return (const unsigned char *)e + (sizeof(Entry) + e->len + 3) / 4 * 4;
}

static uint64_t word_hash(const unsigned char *s, size_t n) {
    uint64_t h = 0xcbf29ce484222325ULL;  /* FNV-1a */
    for (size_t i = 0; i < n; i++) h = (h ^ s[i]) * 0x100000001b3ULL;
    return h ^ (h >> 29);
}

static const Entry *cache_find(const Cache *c, const unsigned char *s, size_t n, uint64_t h) {
    if (!c->slots) return NULL;
    const uint32_t mask = (1U << c->bits) - 1;
    for (uint32_t i = (uint32_t)(h >> (64 - c->bits));; i = (i + 1) & mask) {
        const uint64_t slot = c->slots[i];
        if (!slot) return NULL;
        if (slot >> 32 != h >> 32) continue;
        const Entry *e = (const Entry *)(c->arena + 8 * ((slot & 0xFFFFFFFFU) - 1));
        if (e->hash == h && e->len == n && memcmp(e + 1, s, n) == 0) return e;
    }
}

static void cache_clear(Cache *c) {
    c->n_entries = 0;
    c->arena_len = 0;
    if (c->slots) memset(c->slots, 0, sizeof(uint64_t) << c->bits);
}

static void slot_put(Cache *c, uint64_t h, size_t at) {
    const uint32_t mask = (1U << c->bits) - 1;
    uint32_t i = (uint32_t)(h >> (64 - c->bits));
    while (c->slots[i]) i = (i + 1) & mask;
    c->slots[i] = (h & 0xFFFFFFFF00000000ULL) | (uint64_t)(at / 8 + 1);
}

static int cache_slots(Cache *c, uint32_t bits) {
    uint64_t *slots = calloc((size_t)1 << bits, sizeof *slots);
    if (!slots) return -1;
    free(c->slots);
    c->slots = slots;
    c->bits = bits;
    for (size_t at = 0; at < c->arena_len;) {
        const Entry *e = (const Entry *)(c->arena + at);
        slot_put(c, e->hash, at);
        at += entry_size(e->len, e->n);
    }
    return 0;
}

/* Adds a word whose search (best[a .. a + n], second) found `n_path` nodes (w->path, last
 * first). Returns the entry, or NULL (no memory). */
static const Entry *cache_add(Cache *c, const unsigned char *word, size_t n, uint64_t h,
                              const Best *best, const float *second, const int32_t *path,
                              long n_path, float width) {
    const size_t need = entry_size(n, (size_t)n_path);
    if (c->n_entries >= MAX_ENTRIES || c->arena_len + need > MAX_ARENA) cache_clear(c);
    if (!c->slots && cache_slots(c, 12)) return NULL;
    if (2 * (c->n_entries + 1) > (1U << c->bits) && cache_slots(c, c->bits + 1)) return NULL;
    if (c->arena_len + need > c->arena_cap) {
        size_t cap = c->arena_cap ? c->arena_cap : (size_t)1 << 16;
        while (cap < c->arena_len + need) cap *= 2;
        unsigned char *g = realloc(c->arena, cap);
        if (!g) return NULL;
        c->arena = g;
        c->arena_cap = cap;
    }
    Entry *e = (Entry *)(c->arena + c->arena_len);
    *e = (Entry){h, (uint16_t)n, (uint16_t)n_path, INFINITY, width};
    memcpy(e + 1, word, n);
    unsigned char *pairs = (unsigned char *)entry_pairs(e);
    for (long k = 0; k < n_path; k++) {
        const int32_t q = path[n_path - 1 - k];
        const Best *node = &best[q];
        memcpy(pairs + 8 * k, &node->id, 4);
        memcpy(pairs + 8 * k + 4, &node->sigma, 4);
        const float lead = (float)((double)node->score - (double)second[q]);
        if (lead < e->margin) e->margin = lead;  /* no runner-up: +inf */
    }
    slot_put(c, h, c->arena_len);
    c->arena_len += need;
    c->n_entries++;
    return e;
}

/* Whether a word's pieces found alone are its pieces after a path scored `base`. The search adds
 * `base` to every score: with base 0 it is the same search, bit for bit. Otherwise the sums round
 * differently, by at most a unit roundoff u = 2^-24 of (|base| + 2 width) per piece, and a word of
 * n bytes has at most n pieces; every path node's best candidate stays best if it led by more
 * than twice that (asked here with another factor 2 to spare), and no score reset may fall inside
 * the word. */
static int word_holds(const Entry *e, float base) {
    if (base == 0.0f) return 1;
    const double reach = fabs((double)base) + 2.0 * (double)e->width;
    return reach + 16.0 < 100000.0 && (double)e->margin > 4.0 * ((double)e->len + 1.0) * 0x1p-24 * reach;
}

/* encode_one for a segmentable model, a word at a time. Every path passes through each
 * whitespace symbol, so the search over a text is the searches over its words in turn, each
 * starting from the score the previous word ended on (`base`), and ending with the same
 * max_frontier (nothing reaches past a word's end). A word found in the cache that holds at this
 * base (word_holds) gives its pieces and the score they end on (the same float sums); any other
 * word is searched from `base` as the whole text's search would. */
static long encode_words(const Model *m, const unsigned char *s, size_t size, Scratch *w, Cache *c) {
    size_t sym_len;
    const char *sym = space_symbol(m, &sym_len);
    Best *best = w->best;
    float base = 0.0f;
    long appended = 0;
    int prev_unk = 0;
    for (size_t a = 0; a < size;) {
        size_t b = a + 1;
        for (;; b++) {
            const unsigned char *hit = memchr(s + b, sym[0], size - b);
            if (!hit) { b = size; break; }
            b = (size_t)(hit - s);
            if (size - b >= sym_len && memcmp(hit, sym, sym_len) == 0) break;
        }
        const size_t n = b - a;
        const Entry *e = NULL;
        if (n <= MAX_WORD) {
            const uint64_t h = word_hash(s + a, n);
            e = cache_find(c, s + a, n, h);
            if (!e) {
                float width;
                best[a] = (Best){-1, 0.0f, -1, 0.0f};
                if (!viterbi(m, s, a, b, best, w->second, &width)) {  /* a word whose scores reset is not kept */
                    const long n_path = backtrace(best, a, b, w);
                    if (n_path < 0) return -1;
                    e = cache_add(c, s + a, n, h, best, w->second, w->path, n_path, width);
                    if (!e) return -1;
                }
            }
        }
        if (e && word_holds(e, base)) {
            const unsigned char *pairs = entry_pairs(e);
            for (uint16_t k = 0; k < e->n; k++) {
                int32_t id;
                float sigma;
                memcpy(&id, pairs + 8 * k, 4);
                memcpy(&sigma, pairs + 8 * k + 4, 4);
                if (emit(m, w, id, &prev_unk, &appended)) return -1;
                base = sigma + base;  /* the search's own sum: candidate = score + till_here */
            }
        } else {
            best[a] = (Best){-1, base, -1, 0.0f};
            viterbi(m, s, a, b, best, NULL, NULL);
            long n_path = backtrace(best, a, b, w);
            if (n_path < 0) return -1;
            while (n_path--)
                if (emit(m, w, best[w->path[n_path]].id, &prev_unk, &appended)) return -1;
            base = best[b].score;
        }
        a = b;
    }
    return appended;
}

/* Model::EncodeOptimized, then PopulateSentencePieceText's merging of consecutive unknowns; with
 * a cache (and no spans), a word at a time (encode_words). Returns the number of ids appended,
 * or -1. */
static long encode_one(const Model *m, const unsigned char *text, size_t text_len, Scratch *w,
                       Offsets *off, Buf *spans, Cache *cache) {
    if (normalize(m, text, text_len, &w->norm, off)) return -1;
    const unsigned char *s = (const unsigned char *)w->norm.data;
    const size_t size = w->norm.len;
    if (!size) return 0;
    if (size > INT32_MAX - 1) return -1;
    if (size + 1 > w->best_cap) {
        Best *g = realloc(w->best, (size + 1) * sizeof *g);
        int32_t *p = realloc(w->path, (size + 1) * sizeof *p);
        float *f = realloc(w->second, (size + 1) * sizeof *f);
        if (g) w->best = g;
        if (p) w->path = p;
        if (f) w->second = f;
        if (!g || !p || !f) return -1;
        w->best_cap = size + 1;
    }
    if (cache && m->segmentable && !spans) return encode_words(m, s, size, w, cache);
    Best *best = w->best;
    best[0] = (Best){-1, 0.0f, -1, 0.0f};
    viterbi(m, s, 0, size, best, NULL, NULL);
    long n_path = backtrace(best, 0, size, w);
    if (n_path < 0) return -1;
    long appended = 0;
    int prev_unk = 0;
    while (n_path--) {
        const Best *node = &best[w->path[n_path]];
        if (spans) {
            /* Each token's (begin, end) in the text's bytes, as sentencepiece's pieces give them
             * (norm_to_orig of its first and past its last normalized byte). */
            int64_t span[2] = {(int64_t)off->at[node->starts_at], (int64_t)off->at[w->path[n_path]]};
            if (node->id == m->unk_id && prev_unk) {
                memcpy(spans->data + spans->len - sizeof(int64_t), &span[1], sizeof(int64_t));
            } else if (buf_put(spans, (const char *)span, sizeof span)) {
                return -1;
            }
        }
        if (emit(m, w, node->id, &prev_unk, &appended)) return -1;
    }
    return appended;
}

/* --------------------------------------------------------------------------- the model file */

/* Protobuf's wire format, as much as ModelProto's pieces need: a varint, or -1 past the end. */
static int read_varint(const unsigned char **p, const unsigned char *end, uint64_t *out) {
    uint64_t v = 0;
    for (int shift = 0; shift < 64 && *p < end; shift += 7) {
        unsigned char b = *(*p)++;
        v |= (uint64_t)(b & 0x7F) << shift;
        if (!(b & 0x80)) { *out = v; return 0; }
    }
    return -1;
}

/* Steps over one field of wire type `wire`; -1 when the message is malformed. */
static int skip_field(const unsigned char **p, const unsigned char *end, int wire) {
    uint64_t v;
    switch (wire) {
    case 0: return read_varint(p, end, &v);
    case 1: if (end - *p < 8) return -1; *p += 8; return 0;
    case 2: if (read_varint(p, end, &v) || v > (uint64_t)(end - *p)) return -1; *p += v; return 0;
    case 5: if (end - *p < 4) return -1; *p += 4; return 0;
    default: return -1;
    }
}

/* ModelProto.pieces (field 1): SentencePiece { piece = 1; score = 2 (float); type = 3 (default
 * NORMAL) }, in id order. Returns the number of pieces, or -1 for a malformed message. */
static Py_ssize_t read_pieces(const unsigned char *p, const unsigned char *end, Piece **pieces,
                              float **scores, uint8_t **types) {
    size_t n = 0, cap = 0;
    *pieces = NULL; *scores = NULL; *types = NULL;
    while (p < end) {
        uint64_t key, len;
        if (read_varint(&p, end, &key)) return -1;
        if (key != (1 << 3 | 2)) {
            if (skip_field(&p, end, (int)(key & 7))) return -1;
            continue;
        }
        if (read_varint(&p, end, &len) || len > (uint64_t)(end - p)) return -1;
        const unsigned char *q = p, *stop = p + len;
        p = stop;
        if (n == cap) {
            cap = cap ? 2 * cap : 1024;
            Piece *g1 = realloc(*pieces, cap * sizeof **pieces);
            if (g1) *pieces = g1;
            float *g2 = realloc(*scores, cap * sizeof **scores);
            if (g2) *scores = g2;
            uint8_t *g3 = realloc(*types, cap);
            if (g3) *types = g3;
            if (!g1 || !g2 || !g3) return -2;
        }
        Piece piece = {NULL, 0};
        float score = 0.0f;
        uint64_t type = NORMAL;
        while (q < stop) {
            uint64_t k, v;
            if (read_varint(&q, stop, &k)) return -1;
            if (k == (1 << 3 | 2)) {
                if (read_varint(&q, stop, &v) || v > (uint64_t)(stop - q)) return -1;
                piece = (Piece){q, (size_t)v};
                q += v;
            } else if (k == (2 << 3 | 5)) {
                if (stop - q < 4) return -1;
                uint32_t bits = (uint32_t)q[0] | (uint32_t)q[1] << 8 | (uint32_t)q[2] << 16 | (uint32_t)q[3] << 24;
                memcpy(&score, &bits, 4);
                q += 4;
            } else if (k == (3 << 3 | 0)) {
                if (read_varint(&q, stop, &type)) return -1;
            } else if (skip_field(&q, stop, (int)(k & 7))) {
                return -1;
            }
        }
        (*pieces)[n] = piece;
        (*scores)[n] = score;
        (*types)[n] = type > 255 ? 255 : (uint8_t)type;
        n++;
    }
    return (Py_ssize_t)n;
}

/* ------------------------------------------------------------------------------- Python */

static void trie_free(Trie *t) {
    free(t->units);
}

static void model_delete(Model *m) {
    trie_free(&m->trie);
    trie_free(&m->user_defined);
    free(m->darts);
    free(m->replacements);
    free(m->simple);
    free(m);
}

static void model_free(PyObject *capsule) {
    Model *m = PyCapsule_GetPointer(capsule, "qtok.unigram");
    if (m) model_delete(m);
}

/* Whether `s` is valid UTF-8 throughout. */
static int valid_utf8(const unsigned char *s, size_t n) {
    for (size_t i = 0; i < n;) {
        const int len = valid_utf8_len(s + i, n - i);
        if (!len) return 0;
        i += (size_t)len;
    }
    return 1;
}

/* Model.segmentable: no piece the search can match holds the whitespace symbol past its first
 * byte or ends with the start of it (so no path steps over one), and the user-defined pieces and
 * the charsmap's replacements are valid UTF-8 (so the normalized text is, and the search visits
 * every character's start, each symbol's included). */
static int segmentable(const Model *m, const Piece *pieces, const uint8_t *types, Py_ssize_t n) {
    size_t sym_len;
    const char *sym = space_symbol(m, &sym_len);
    for (Py_ssize_t i = 0; i < n; i++) {
        if (types[i] != NORMAL && types[i] != USER_DEFINED && types[i] != UNUSED) continue;
        const unsigned char *p = pieces[i].data;
        const size_t len = pieces[i].len;
        for (size_t k = 1; k < len; k++) {
            const size_t rest = len - k;
            if (memcmp(p + k, sym, rest < sym_len ? rest : sym_len) == 0) return 0;
        }
        if (types[i] == USER_DEFINED && !valid_utf8(p, len)) return 0;
    }
    for (size_t k = 0; k < m->n_replacements;) {
        const size_t len = strlen(m->replacements + k);
        if (!valid_utf8((const unsigned char *)m->replacements + k, len)) return 0;
        k += len + 1;
    }
    return 1;
}

static PyObject *unigram_model(PyObject *self, PyObject *args) {
    Py_buffer proto, charsmap;
    int flags;
    if (!PyArg_ParseTuple(args, "y*y*i", &proto, &charsmap, &flags)) return NULL;
    Model *m = calloc(1, sizeof *m);
    PyObject *result = NULL;
    Piece *pieces = NULL;
    float *scores = NULL;
    uint8_t *types = NULL;
    if (!m) { PyErr_NoMemory(); goto done; }
    const unsigned char *start = proto.buf;
    Py_ssize_t n = read_pieces(start, start + proto.len, &pieces, &scores, &types);
    if (n == -2) { PyErr_NoMemory(); goto fail; }
    if (n <= 0) {
        PyErr_SetString(PyExc_ValueError, "model(): not a ModelProto with pieces");
        goto fail;
    }
    int unk_id = -1;
    for (Py_ssize_t i = 0; i < n; i++) {
        /* model_interface.cc InitializePieces: a piece "\0" of type UNUSED is skipped; any
         * other empty piece, a NUL inside one or one of 8,000 bytes is an error. */
        if (pieces[i].len == 1 && pieces[i].data[0] == 0 && types[i] == UNUSED) continue;
        if (!pieces[i].len || memchr(pieces[i].data, 0, pieces[i].len) || pieces[i].len >= 8000) {
            PyErr_SetString(PyExc_ValueError, "model(): an empty, too long or NUL-holding piece");
            goto fail;
        }
        if (types[i] < NORMAL || types[i] > UNUSED) {  /* BYTE pieces, or a type this file predates */
            PyErr_SetString(PyExc_ValueError, "model(): a piece of a type the C encoder does not handle");
            goto fail;
        }
        if (types[i] == UNKNOWN) {
            if (unk_id >= 0) {
                PyErr_SetString(PyExc_ValueError, "model(): two unknown pieces");
                goto fail;
            }
            unk_id = (int)i;
        }
    }
    if (unk_id < 0) {
        PyErr_SetString(PyExc_ValueError, "model(): no unknown piece");
        goto fail;
    }
    m->unk_id = unk_id;
    m->flags = flags;
    /* unigram_model.cc Model::Model: the lowest NORMAL score (from FLT_MAX); a NaN or an
     * infinite score is an error there. */
    m->min_score = FLT_MAX;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (isnan(scores[i]) || isinf(scores[i])) {
            PyErr_SetString(PyExc_ValueError, "model(): a score is NaN or infinite");
            goto fail;
        }
        if (types[i] == NORMAL && scores[i] < m->min_score) m->min_score = scores[i];
        if (types[i] == USER_DEFINED) m->has_user_defined = 1;
    }
    /* The pieces' scores and types live on in the tries' units; the arrays go with the call.
     * The tries are most of a build (~0.25 s for XLM-R) and touch no Python object: other
     * tokenizers build meanwhile (the study loads its tokenizers in threads). */
    int built;
    Py_BEGIN_ALLOW_THREADS
    built = trie_build(&m->trie, pieces, types, scores, n, 1 << NORMAL | 1 << USER_DEFINED | 1 << UNUSED);
    if (!built) built = trie_build(&m->user_defined, pieces, types, scores, n, 1 << USER_DEFINED);
    if (!built) {  /* CONTROL and UNKNOWN pieces, sentencepiece's other map: no repeats there either */
        Trie reserved = {0};
        built = trie_build(&reserved, pieces, types, scores, n, 1 << CONTROL | 1 << UNKNOWN);
        trie_free(&reserved);
    }
    Py_END_ALLOW_THREADS
    if (built == -2 || built == -3) {
        PyErr_SetString(PyExc_ValueError, built == -2 ? "model(): a trie of more than 2**30 units"
                                                       : "model(): an empty or a repeated piece");
        goto fail;
    }
    if (built) {
        PyErr_NoMemory();
        goto fail;
    }
    if (charsmap.len) {
        /* <trie size, 4 bytes little-endian><double array><NUL-terminated replacements> */
        const unsigned char *c = charsmap.buf;
        uint32_t size = charsmap.len >= 4 ? (uint32_t)c[0] | (uint32_t)c[1] << 8 | (uint32_t)c[2] << 16
                                                | (uint32_t)c[3] << 24 : 0;
        if (charsmap.len <= 4 || size % 4 || size == 0 || (Py_ssize_t)size >= charsmap.len - 4
            || c[charsmap.len - 1] != 0) {
            PyErr_SetString(PyExc_ValueError, "model(): the precompiled charsmap is damaged");
            goto fail;
        }
        m->n_darts = size / 4;
        m->darts = malloc(size);
        m->n_replacements = (size_t)charsmap.len - 4 - size;
        m->replacements = malloc(m->n_replacements);
        if (!m->darts || !m->replacements) { PyErr_NoMemory(); goto fail; }
        for (size_t i = 0; i < m->n_darts; i++) {
            const unsigned char *u = c + 4 + 4 * i;
            m->darts[i] = (uint32_t)u[0] | (uint32_t)u[1] << 8 | (uint32_t)u[2] << 16 | (uint32_t)u[3] << 24;
        }
        memcpy(m->replacements, c + 4 + size, m->n_replacements);
    }
    ascii_table(m);
    m->simple = calloc(0x10000, 1);
    if (!m->simple) { PyErr_NoMemory(); goto fail; }
    m->segmentable = segmentable(m, pieces, types, n);
    result = PyCapsule_New(m, "qtok.unigram", model_free);
    if (result) goto done;
fail:
    if (m) model_delete(m);
done:
    free(pieces);
    free(scores);
    free(types);
    PyBuffer_Release(&proto);
    PyBuffer_Release(&charsmap);
    return result;
}

static PyObject *unigram_encode(PyObject *self, PyObject *args) {
    PyObject *capsule, *texts, *cache_capsule = Py_None;
    if (!PyArg_ParseTuple(args, "OO|O", &capsule, &texts, &cache_capsule)) return NULL;
    Model *m = PyCapsule_GetPointer(capsule, "qtok.unigram");
    if (!m) return NULL;
    Cache *cache = NULL;
    if (cache_capsule != Py_None) {
        cache = PyCapsule_GetPointer(cache_capsule, "qtok.unigram.cache");
        if (!cache) return NULL;
        if (cache->model != capsule) {
            PyErr_SetString(PyExc_ValueError, "encode(): the cache belongs to another model");
            return NULL;
        }
        if (cache->busy) {
            PyErr_SetString(PyExc_ValueError, "encode(): the cache is in use by another thread; give each thread its own");
            return NULL;
        }
    }
    /* A tuple holds every text while the GIL is released (a list could change meanwhile). */
    PyObject *held = PySequence_Tuple(texts);
    if (!held) return NULL;
    Py_ssize_t n = PyTuple_GET_SIZE(held);
    const char **data = malloc((n + 1) * sizeof *data);
    Py_ssize_t *lens = malloc((n + 1) * sizeof *lens);
    int64_t *counts = malloc((n + 1) * sizeof *counts);
    PyObject *result = NULL;
    Scratch w = {0};
    if (!data || !lens || !counts) { PyErr_NoMemory(); goto done; }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *t = PyTuple_GET_ITEM(held, i);
        if (!PyUnicode_Check(t)) {
            PyErr_Format(PyExc_TypeError, "encode(): texts must be str, got %.100s", Py_TYPE(t)->tp_name);
            goto done;
        }
        data[i] = PyUnicode_AsUTF8AndSize(t, &lens[i]);  /* UnicodeEncodeError for a lone surrogate */
        if (!data[i]) goto done;
    }
    int failed = 0;
    if (cache) cache->busy = 1;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++) {
        long got = encode_one(m, (const unsigned char *)data[i], (size_t)lens[i], &w, NULL, NULL, cache);
        if (got < 0) { failed = 1; break; }
        counts[i] = got;
    }
    Py_END_ALLOW_THREADS
    if (cache) cache->busy = 0;
    if (failed) { PyErr_NoMemory(); goto done; }
    result = Py_BuildValue("(y#y#)", w.ids ? (const char *)w.ids : "", (Py_ssize_t)(w.n_ids * sizeof(int32_t)),
                           (const char *)counts, (Py_ssize_t)(n * sizeof(int64_t)));
done:
    Py_DECREF(held);
    free(data);
    free(lens);
    free(counts);
    free(w.norm.data);
    free(w.best);
    free(w.second);
    free(w.path);
    free(w.ids);
    return result;
}

static PyObject *unigram_spans(PyObject *self, PyObject *args) {
    PyObject *capsule;
    const char *text;
    Py_ssize_t len;
    if (!PyArg_ParseTuple(args, "Os#", &capsule, &text, &len)) return NULL;
    Model *m = PyCapsule_GetPointer(capsule, "qtok.unigram");
    if (!m) return NULL;
    Scratch w = {0};
    Offsets off = {0};
    Buf spans = {0};
    PyObject *result = NULL;
    if (encode_one(m, (const unsigned char *)text, (size_t)len, &w, &off, &spans, NULL) < 0) {
        PyErr_NoMemory();
    } else {
        result = Py_BuildValue("(y#y#)", w.ids ? (const char *)w.ids : "", (Py_ssize_t)(w.n_ids * sizeof(int32_t)),
                               spans.data ? spans.data : "", (Py_ssize_t)spans.len);
    }
    free(w.norm.data);
    free(w.best);
    free(w.second);
    free(w.path);
    free(w.ids);
    free(off.at);
    free(spans.data);
    return result;
}

static void cache_free(PyObject *capsule) {
    Cache *c = PyCapsule_GetPointer(capsule, "qtok.unigram.cache");
    if (!c) return;
    Py_XDECREF(c->model);
    free(c->slots);
    free(c->arena);
    free(c);
}

static PyObject *unigram_cache(PyObject *self, PyObject *args) {
    PyObject *capsule;
    if (!PyArg_ParseTuple(args, "O", &capsule)) return NULL;
    if (!PyCapsule_GetPointer(capsule, "qtok.unigram")) return NULL;
    Cache *c = calloc(1, sizeof *c);
    if (!c) return PyErr_NoMemory();
    Py_INCREF(capsule);
    c->model = capsule;
    PyObject *result = PyCapsule_New(c, "qtok.unigram.cache", cache_free);
    if (!result) {
        Py_DECREF(capsule);
        free(c);
    }
    return result;
}

static PyObject *unigram_unknown(PyObject *self, PyObject *capsule) {
    Model *m = PyCapsule_GetPointer(capsule, "qtok.unigram");
    return m ? PyLong_FromLong(m->unk_id) : NULL;
}

static PyMethodDef methods[] = {
    {"model", unigram_model, METH_VARARGS,
     "model(proto, charsmap, flags) -> a Unigram model (a capsule) from a ModelProto's bytes"},
    {"unknown", unigram_unknown, METH_O,
     "unknown(model) -> the id of its one UNKNOWN piece (a model holds no BYTE pieces)"},
    {"encode", unigram_encode, METH_VARARGS,
     "encode(model, texts, cache=None) -> (ids as int32 bytes, each text's count as int64 bytes)"},
    {"cache", unigram_cache, METH_VARARGS,
     "cache(model) -> a cache of the model's words for encode, for one thread at a time"},
    {"spans", unigram_spans, METH_VARARGS,
     "spans(model, text) -> (ids as int32 bytes, each token's (begin, end) UTF-8 offsets as int64 bytes)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_unigram",
                                    "SentencePiece's Unigram encoder in C.", -1, methods};

PyMODINIT_FUNC PyInit__unigram(void) { return PyModule_Create(&module); }
