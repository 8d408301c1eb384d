/*
 * NAME
 *   hdr - header-value and reply-text sanitizers (see hdr.h)
 *
 * DESCRIPTION
 *   hdr_value_sanitize works in passes over a private copy:
 *     1. clean: line breaks become folds ("\n" + blank) or one space,
 *        control characters go, trailing blanks before a fold go, lines
 *        holding only blanks are merged away, the ends are trimmed;
 *     2. cut to the content cap at a character boundary;
 *     3. invalid UTF-8 becomes '?';
 *     4. 8-bit text is encoded as RFC 2047 words (already folded), or
 *        else long lines are folded.
 *   Invariant of the result: every "\n" is followed by a blank and a
 *   non-blank character later on its line; no other byte below 0x20 but
 *   tab; no line longer than RM_HDR_LINE_MAX (counting "Name: ").
 *
 * OWNERSHIP AND THREAD SAFETY
 *   Results are xmalloc'd and belong to the caller. No state: every
 *   function is thread-safe.
 */
#include <string.h>

#include "lib/xmalloc.h"
#include "proto/hdr.h"
#include "proto/pbuf.h"

/* RFC 2047: an encoded word is at most 75 characters; "=?UTF-8?B?" and
 * "?=" take 12, which leaves 63 for base64, i.e. 45 raw bytes. */
#define EW_OVERHEAD 12
#define EW_RAW_MAX 45

static bool
is_blank(unsigned char c)
{
    return c == ' ' || c == '\t';
}

size_t
hdr_utf8_seq(const unsigned char *s, size_t left)
{
    unsigned char c = s[0];
    size_t n, i;
    unsigned cp;

    if (left == 0)
        return 0;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (left < n)
        return 0;
    for (i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
        (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
        return 0;
    return n;
}

/* ---------------------------------------------------------------------- */
/* Pass 1: cleaning */

/* strip_trailing_blanks - drop blanks at the end of pb */
static void
strip_trailing_blanks(struct pbuf *pb)
{
    size_t n = pb->pb_len;

    while (n > 0 && is_blank((unsigned char)pb->pb_data[n - 1]))
        n--;
    pbuf_truncate(pb, n);
}

/*
 * clean - pass 1 into out (see the file comment), stopping once out holds
 * more than max bytes (the cut comes later; the extra byte lets it see
 * where a character ends). Linear: "text" says whether the current line
 * holds a non-blank, so no line is scanned twice.
 */
static void
clean(const unsigned char *in, size_t len, size_t max, struct pbuf *out)
{
    size_t i, j;
    bool text = false;

    for (i = 0; i < len && out->pb_len <= max; i++) {
        unsigned char c = in[i];

        if (c == '\r' || c == '\n') {
            j = i;
            while (j < len && (in[j] == '\r' || in[j] == '\n'))
                j++;
            if (j < len && is_blank(in[j])) {
                /* A fold. Keep it only after some text on this line;
                 * otherwise the blanks just continue the line. */
                if (text) {
                    strip_trailing_blanks(out);
                    pbuf_addc(out, '\n');
                    text = false;
                }
            } else if (out->pb_len > 0 &&
                       !is_blank(
                           (unsigned char)out->pb_data[out->pb_len - 1])) {
                pbuf_addc(out, ' ');
            }
            i = j - 1;
            continue;
        }
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            continue;
        if (out->pb_len == 0 && is_blank(c))
            continue; /* leading blanks */
        pbuf_addc(out, (char)c);
        if (!is_blank(c))
            text = true;
    }
    /* Trailing blanks, and a fold left with nothing after it. */
    for (;;) {
        strip_trailing_blanks(out);
        if (out->pb_len > 0 && out->pb_data[out->pb_len - 1] == '\n')
            pbuf_truncate(out, out->pb_len - 1);
        else
            break;
    }
}

/* cut - keep at most max bytes, not splitting a UTF-8 sequence, and trim
 * what the cut leaves at the end */
static void
cut(struct pbuf *pb, size_t max)
{
    size_t n;

    if (pb->pb_len <= max)
        return;
    n = max;
    /* Back off over continuation bytes to the start of the cut
     * character, then drop that character too. */
    while (n > 0 && ((unsigned char)pb->pb_data[n] & 0xc0) == 0x80)
        n--;
    pbuf_truncate(pb, n);
    for (;;) {
        strip_trailing_blanks(pb);
        if (pb->pb_len > 0 && pb->pb_data[pb->pb_len - 1] == '\n')
            pbuf_truncate(pb, pb->pb_len - 1);
        else
            break;
    }
}

/* fix_utf8 - replace invalid sequences by '?' in place (the result is never
 * longer); returns true if valid 8-bit text remains */
static bool
fix_utf8(struct pbuf *pb)
{
    unsigned char *s = (unsigned char *)pb->pb_data;
    size_t i = 0, o = 0, n;
    bool eight = false;

    while (i < pb->pb_len) {
        n = hdr_utf8_seq(s + i, pb->pb_len - i);
        if (n == 0) {
            s[o++] = '?';
            i++;
            continue;
        }
        if (n > 1)
            eight = true;
        memmove(s + o, s + i, n);
        o += n;
        i += n;
    }
    pbuf_truncate(pb, o);
    return eight;
}

/* ---------------------------------------------------------------------- */
/* Pass 4: RFC 2047 encoding */

static void
b64_encode(struct pbuf *out, const unsigned char *p, size_t n)
{
    static const char tab[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    unsigned v;

    while (n >= 3) {
        v = (unsigned)p[0] << 16 | (unsigned)p[1] << 8 | p[2];
        pbuf_addc(out, tab[v >> 18]);
        pbuf_addc(out, tab[(v >> 12) & 63]);
        pbuf_addc(out, tab[(v >> 6) & 63]);
        pbuf_addc(out, tab[v & 63]);
        p += 3;
        n -= 3;
    }
    if (n > 0) {
        v = (unsigned)p[0] << 16 | (n > 1 ? (unsigned)p[1] << 8 : 0);
        pbuf_addc(out, tab[v >> 18]);
        pbuf_addc(out, tab[(v >> 12) & 63]);
        pbuf_addc(out, n > 1 ? tab[(v >> 6) & 63] : '=');
        pbuf_addc(out, '=');
    }
}

/* encode_words - the unfolded text of in as encoded words, one per line */
static void
encode_words(const struct pbuf *in, size_t name_len, struct pbuf *out)
{
    struct pbuf flat = {0};
    const unsigned char *s;
    size_t i, prefix = name_len + 2, room, raw, take, n;

    /* Unfold: a fold is "\n" + blank; the blank stays. */
    for (i = 0; i < in->pb_len; i++)
        if (in->pb_data[i] != '\n')
            pbuf_addc(&flat, in->pb_data[i]);
    s = (const unsigned char *)flat.pb_data;
    i = 0;
    while (i < flat.pb_len) {
        room = RM_HDR_FOLD_AT > prefix + EW_OVERHEAD
                   ? RM_HDR_FOLD_AT - prefix - EW_OVERHEAD
                   : 0;
        raw = room / 4 * 3;
        if (raw > EW_RAW_MAX)
            raw = EW_RAW_MAX;
        /* Whole characters only, at least one per word. */
        take = 0;
        while (i + take < flat.pb_len) {
            n = hdr_utf8_seq(s + i + take, flat.pb_len - i - take);
            if (n == 0)
                n = 1; /* cannot happen after fix_utf8 */
            if (take > 0 && take + n > raw)
                break;
            take += n;
        }
        if (out->pb_len > 0)
            pbuf_add(out, "\n ", 2);
        pbuf_add(out, "=?UTF-8?B?", 10);
        b64_encode(out, s + i, take);
        pbuf_add(out, "?=", 2);
        i += take;
        prefix = 1;
    }
    pbuf_free(&flat);
}

/* ---------------------------------------------------------------------- */
/* Pass 4: folding */

/* fold_line - append line l (n bytes; a continuation line starts with its
 * blank) to out, folded; prefix is what precedes it on its first output
 * line */
static void
fold_line(const char *l, size_t n, size_t prefix, bool keep, struct pbuf *out)
{
    size_t limit = keep ? RM_HDR_LINE_MAX : RM_HDR_FOLD_AT;
    size_t p, best, first, q;

    while (prefix + n > limit) {
        /* The last blank that ends a line within the limit and has text
         * before it on the line; failing that, the first blank after
         * text if it keeps the line within RM_HDR_LINE_MAX. */
        best = 0;
        first = 0;
        for (p = 1; p < n && prefix + p <= RM_HDR_LINE_MAX; p++) {
            if (!is_blank((unsigned char)l[p]) ||
                is_blank((unsigned char)l[p - 1]))
                continue;
            if (prefix + p <= limit)
                best = p;
            else if (first == 0)
                first = p;
            if (prefix + p > limit)
                break;
        }
        if (best == 0 && first != 0 && prefix + first <= RM_HDR_LINE_MAX)
            best = first;
        if (best == 0 && prefix + n <= RM_HDR_LINE_MAX)
            break; /* long, but legal and nowhere to fold */
        if (best != 0) {
            pbuf_add(out, l, best);
            pbuf_addc(out, '\n');
            l += best;
            n -= best;
            prefix = 0;
            continue;
        }
        /* No blank at all: insert a fold (adds one space). */
        q = RM_HDR_LINE_MAX > prefix ? RM_HDR_LINE_MAX - prefix : 1;
        if (q >= n)
            q = n - 1;
        while (q > 1 && ((unsigned char)l[q] & 0xc0) == 0x80)
            q--;
        if (q == 0)
            break; /* a one-byte rest after a huge prefix: leave it */
        pbuf_add(out, l, q);
        pbuf_add(out, "\n ", 2);
        l += q;
        n -= q;
        prefix = 1;
    }
    pbuf_add(out, l, n);
}

static void
fold(const struct pbuf *in, size_t name_len, bool keep, struct pbuf *out)
{
    const char *l = in->pb_data, *end = in->pb_data + in->pb_len, *nl;
    size_t prefix = name_len + 2;

    while (l < end) {
        nl = memchr(l, '\n', (size_t)(end - l));
        if (nl == NULL)
            nl = end;
        fold_line(l, (size_t)(nl - l), prefix, keep, out);
        if (nl < end)
            pbuf_addc(out, '\n');
        l = nl + 1;
        prefix = 0;
    }
}

char *
hdr_value_sanitize(const char *in, size_t len, size_t name_len, size_t max,
                   unsigned flags)
{
    struct pbuf c = {0}, out = {0};
    bool eight;

    if (max == 0)
        max = RM_HDR_VALUE_MAX;
    clean((const unsigned char *)in, len, max, &c);
    cut(&c, max);
    if (c.pb_len == 0) {
        pbuf_free(&c);
        return xstrdup("");
    }
    eight = fix_utf8(&c);
    if (eight && !(flags & RM_HDR_RAW8))
        encode_words(&c, name_len, &out);
    else
        fold(&c, name_len, (flags & RM_HDR_KEEP_FOLDS) != 0, &out);
    pbuf_free(&c);
    return pbuf_take(&out, NULL);
}

bool
hdr_name_valid(const char *name, size_t len)
{
    size_t i;

    if (len == 0 || len > RM_HDR_NAME_MAX)
        return false;
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];

        if (c < 0x21 || c > 0x7e || c == ':')
            return false;
    }
    return true;
}

size_t
hdr_text_oneline(const char *in, size_t len, char *out, size_t size,
                 unsigned flags)
{
    const unsigned char *s = (const unsigned char *)in;
    const unsigned char *src;
    size_t i = 0, o = 0, n;
    bool space = false;

    if (size == 0)
        return 0;
    while (i < len) {
        if (s[i] <= 0x20 || s[i] == 0x7f) {
            space = o > 0;
            i++;
            continue;
        }
        src = s + i;
        n = 1;
        if (s[i] >= 0x80) {
            n = (flags & RM_HDR_TEXT_UTF8) ? hdr_utf8_seq(src, len - i) : 0;
            if (n == 0) {
                src = (const unsigned char *)"?";
                n = 1;
            }
        }
        if (o + (space ? 1 : 0) + n > size - 1)
            break;
        if (space)
            out[o++] = ' ';
        space = false;
        memcpy(out + o, src, n);
        o += n;
        i += src == s + i ? n : 1;
    }
    out[o] = '\0';
    return o;
}

char *
hdr_text_oneline_dup(const char *in, size_t len, size_t max, unsigned flags)
{
    size_t size = (len < max ? len : max) + 1;
    char *out = xmalloc(size);

    hdr_text_oneline(in, len, out, size, flags);
    return out;
}
