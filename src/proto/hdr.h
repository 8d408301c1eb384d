/*
 * NAME
 *   hdr - make text from a backend safe to put into a mail header or an
 *   SMTP reply
 *
 * DESCRIPTION
 *   Every header value that comes from a backend (rspamd's add_headers,
 *   DKIM-Signature and subject, a clamd virus name put into a header,
 *   spamd's symbol list...) passes through hdr_value_sanitize before it
 *   reaches the milter engine, and every text that ends up in an SMTP
 *   reply or a log line passes through hdr_text_oneline. A backend can
 *   then never inject a header (a bare CR or LF), a control character, or
 *   an overlong line into the message.
 *
 *   Folded values use the milter convention: a line feed followed by a
 *   space or tab, no CR (the MTA adds it).
 *
 *   Pure functions: no I/O, no global state, thread-safe. Results are new
 *   strings from xmalloc (the caller frees them) or go to a caller buffer.
 *
 * SEE ALSO
 *   rspamd.h, clamd.h, RFC 5322 section 2.2, RFC 2047
 */
#ifndef RM_PROTO_HDR_H
#define RM_PROTO_HDR_H

#include <stdbool.h>
#include <stddef.h>

/* Fold lines longer than this (RFC 5322's SHOULD). */
#define RM_HDR_FOLD_AT 78
/* Never emit a line longer than this (RFC 5322's MUST, without CRLF). */
#define RM_HDR_LINE_MAX 998
/* A default cap on the content of one value, before encoding/folding. */
#define RM_HDR_VALUE_MAX 4096
/* Longest header name hdr_name_valid accepts. */
#define RM_HDR_NAME_MAX 128

/* Flags for hdr_value_sanitize. */
enum {
    /* Keep 8-bit bytes that form valid UTF-8 as they are (RFC 6532)
     * instead of encoding the value as RFC 2047 encoded-words. */
    RM_HDR_RAW8 = 1u << 0,
    /* Keep the folding the value came with and add folds only where a
     * line would pass RM_HDR_LINE_MAX (DKIM-Signature: refolding would
     * break a signature made with "simple" header canonicalization). */
    RM_HDR_KEEP_FOLDS = 1u << 1,
};

/*
 * hdr_value_sanitize - a safe, folded header value made from raw text
 *
 * in/len is the value as a backend sent it (not NUL-terminated; it may
 * hold any bytes). name_len is the length of the header name the value
 * goes with (the first line also holds "Name: "). max caps the content
 * (after cleaning, before encoding and folding) in bytes; 0 means
 * RM_HDR_VALUE_MAX. flags are RM_HDR_* above.
 *
 * Rules, in order:
 *   - a line break (any run of CR and LF) followed by a space or tab is
 *     a fold and is kept as "\n" plus that blank; any other line break
 *     becomes one space, so no new header line can start;
 *   - other control characters (0x00-0x1f except tab, 0x7f) are dropped;
 *   - leading and trailing blanks and folds are dropped;
 *   - the content is cut to max bytes at a character boundary;
 *   - bytes >= 0x80: a sequence that is not valid UTF-8 becomes '?';
 *     unless RM_HDR_RAW8, a value holding 8-bit text becomes a list of
 *     RFC 2047 "=?UTF-8?B?...?=" words, one per folded line;
 *   - lines longer than RM_HDR_FOLD_AT are folded before a blank (unless
 *     RM_HDR_KEEP_FOLDS); a line with no blank that would pass
 *     RM_HDR_LINE_MAX gets a fold inserted (this adds one space to the
 *     value, the only change of content the rules make).
 *
 * Returns a new NUL-terminated string (possibly empty) that holds no
 * byte below 0x20 other than "\n" (always followed by a space or tab) and
 * tab, and no 0x7f. Never fails (aborts on OOM).
 */
char *hdr_value_sanitize(const char *in, size_t len, size_t name_len,
                         size_t max, unsigned flags);

/*
 * hdr_name_valid - true if name is a usable header field name
 *
 * 1..RM_HDR_NAME_MAX characters, each printable ASCII (0x21-0x7e) other
 * than ':' (RFC 5322 ftext).
 */
bool hdr_name_valid(const char *name, size_t len);

/* Flags for hdr_text_oneline. */
enum {
    /* Keep valid UTF-8 (logs); without it 8-bit bytes become '?' (SMTP
     * replies must be ASCII). */
    RM_HDR_TEXT_UTF8 = 1u << 0,
};

/*
 * hdr_text_oneline - one line of printable text for SMTP replies and logs
 *
 * Copies in/len to out (size bytes, NUL-terminated, size >= 1): control
 * characters and runs of blanks become one space, leading and trailing
 * blanks are dropped, 8-bit bytes become '?' (unless RM_HDR_TEXT_UTF8 and
 * they form valid UTF-8). The text is cut at a character boundary to fit
 * size - 1 bytes. Returns the length written.
 */
size_t hdr_text_oneline(const char *in, size_t len, char *out, size_t size,
                        unsigned flags);

/* hdr_text_oneline_dup - the same into a new string of at most max bytes
 * (plus the NUL) */
char *hdr_text_oneline_dup(const char *in, size_t len, size_t max,
                           unsigned flags);

/*
 * hdr_utf8_seq - the length of the valid UTF-8 sequence at s (1 for
 * ASCII, 2-4 for a multibyte character), or 0 if the bytes at s (at most
 * left of them) are not valid UTF-8 (overlong forms, surrogates and code
 * points above U+10FFFF are invalid).
 */
size_t hdr_utf8_seq(const unsigned char *s, size_t left);

#endif
