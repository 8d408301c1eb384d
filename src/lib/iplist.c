/*
 * SPDX-License-Identifier: BSD-2-Clause
 *
 * NAME
 *   iplist - a set of IPv4 and IPv6 networks with prefix lookup (iplist.h)
 *
 * DESCRIPTION
 *   Each family has a binary trie over address bits; a node is marked
 *   terminal where an entry's prefix ends, so a lookup walks at most 32 or
 *   128 bits and succeeds at the first terminal node on its path (any
 *   covering network, which includes the longest one). Nodes live in one
 *   growable array per family and refer to their children by index; index
 *   0 is the root, which is never anyone's child, so 0 means "no child".
 *
 *   IPv4-mapped IPv6 entries (::ffff:a.b.c.d/96+n) are stored in the IPv4
 *   trie as a.b.c.d/n. A lookup checks an address in both forms: its IPv4
 *   form (for IPv4 and v4-mapped addresses) against the IPv4 trie, and its
 *   IPv6 form (IPv4 addresses as ::ffff:a.b.c.d) against the IPv6 trie. So
 *   ::ffff:192.0.2.1 matches 192.0.2.0/24, and ::/0 matches every address.
 *
 *   Entries whose address has bits set beyond the prefix are masked
 *   (192.168.1.5/16 is 192.168.0.0/16). The canonical text of each distinct
 *   entry is kept, in insertion order, for --dump-config: the address as
 *   inet_ntop writes it, with "/bits" unless the prefix is the full length.
 *   An entry naming a network that is already listed (also ::ffff:1.2.3.4
 *   after 1.2.3.4) adds nothing, so adding is O(bits) and a dump lists
 *   each network once.
 *
 * OWNERSHIP
 *   The list owns its nodes and texts; iplist_free releases them and
 *   accepts NULL. A NULL list is an empty list to iplist_match and
 *   iplist_count.
 *
 * THREAD SAFETY
 *   Building is single-threaded; lookups only read, so any number of
 *   threads may look up concurrently once the list is built.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/iplist.h"
#include "lib/xmalloc.h"

struct trie_node {
    uint32_t child[2];
    bool term;
};

struct trie {
    struct trie_node *nodes;
    size_t n, cap;
};

struct rm_iplist {
    struct trie t4, t6;
    char **text;
    size_t n, cap;
};

static const uint8_t v4mapped_prefix[12] = {0, 0, 0, 0, 0,    0,
                                            0, 0, 0, 0, 0xff, 0xff};

/* trie_node_new - append a blank node and return its index */
static uint32_t
trie_node_new(struct trie *t)
{
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 64;
        t->nodes = xrealloc(t->nodes, t->cap * sizeof(*t->nodes));
    }
    memset(&t->nodes[t->n], 0, sizeof(t->nodes[0]));
    return (uint32_t)t->n++;
}

static unsigned
addr_bit(const uint8_t *a, unsigned i)
{
    return (a[i / 8] >> (7 - i % 8)) & 1u;
}

/* trie_insert - mark the node at the end of the first bits of a; false if
 * that exact network was there already */
static bool
trie_insert(struct trie *t, const uint8_t *a, unsigned bits)
{
    uint32_t cur;

    if (t->n == 0)
        trie_node_new(t);
    cur = 0;
    for (unsigned i = 0; i < bits; i++) {
        unsigned b = addr_bit(a, i);
        uint32_t next = t->nodes[cur].child[b];

        if (next == 0) {
            /* trie_node_new may move the array: index, don't point */
            next = trie_node_new(t);
            t->nodes[cur].child[b] = next;
        }
        cur = next;
    }
    if (t->nodes[cur].term)
        return false;
    t->nodes[cur].term = true;
    return true;
}

/* trie_match - true if a network on the path of a's first bits exists */
static bool
trie_match(const struct trie *t, const uint8_t *a, unsigned bits)
{
    uint32_t cur = 0;

    if (t->n == 0)
        return false;
    for (unsigned i = 0;; i++) {
        if (t->nodes[cur].term)
            return true;
        if (i == bits)
            return false;
        cur = t->nodes[cur].child[addr_bit(a, i)];
        if (cur == 0)
            return false;
    }
}

struct rm_iplist *
iplist_new(void)
{
    return xcalloc(1, sizeof(struct rm_iplist));
}

void
iplist_free(struct rm_iplist *l)
{
    if (l == NULL)
        return;
    for (size_t i = 0; i < l->n; i++)
        free(l->text[i]);
    free(l->text);
    free(l->t4.nodes);
    free(l->t6.nodes);
    free(l);
}

/* strip_brackets - copy s into buf without one pair of enclosing [] */
static int
strip_brackets(const char *s, size_t len, char *buf, size_t buflen)
{
    if (len > 0 && s[0] == '[') {
        if (len < 2 || s[len - 1] != ']')
            return -1;
        s++;
        len -= 2;
    }
    if (len == 0 || len >= buflen || memchr(s, '[', len) || memchr(s, ']', len))
        return -1;
    memcpy(buf, s, len);
    buf[len] = '\0';
    return 0;
}

/* parse_addr_n - an address (brackets allowed) from s[0..len) */
static int
parse_addr_n(const char *s, size_t len, struct rm_ipaddr *out)
{
    char buf[INET6_ADDRSTRLEN + 1];

    memset(out, 0, sizeof(*out));
    if (strip_brackets(s, len, buf, sizeof(buf)) < 0)
        return -1;
    if (inet_pton(AF_INET, buf, out->a) == 1) {
        out->family = AF_INET;
        return 0;
    }
    if (inet_pton(AF_INET6, buf, out->a) == 1) {
        out->family = AF_INET6;
        return 0;
    }
    return -1;
}

int
ipaddr_parse(const char *s, struct rm_ipaddr *out)
{
    return parse_addr_n(s, strlen(s), out);
}

int
ipaddr_from_sockaddr(const struct sockaddr *sa, struct rm_ipaddr *out)
{
    memset(out, 0, sizeof(*out));
    if (sa == NULL)
        return -1;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;

        out->family = AF_INET;
        memcpy(out->a, &sin->sin_addr, 4);
        return 0;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
        const uint8_t *b = sin6->sin6_addr.s6_addr;

        if (memcmp(b, v4mapped_prefix, 12) == 0) {
            out->family = AF_INET;
            memcpy(out->a, b + 12, 4);
        } else {
            out->family = AF_INET6;
            memcpy(out->a, b, 16);
        }
        return 0;
    }
    return -1;
}

const char *
ipaddr_format(const struct rm_ipaddr *a, char *buf, size_t len)
{
    if (inet_ntop(a->family == AF_INET ? AF_INET : AF_INET6, a->a, buf,
                  (socklen_t)len) == NULL) {
        if (len > 0)
            snprintf(buf, len, "?");
    }
    return buf;
}

void
ipaddr_mask(struct rm_ipaddr *a, unsigned bits)
{
    unsigned total = a->family == AF_INET ? 32 : 128;

    for (unsigned i = bits; i < total; i++)
        a->a[i / 8] &= (uint8_t) ~(0x80u >> (i % 8));
}

/* parse_prefix - the decimal prefix length after '/', at most max */
static int
parse_prefix(const char *s, unsigned max, unsigned *bits)
{
    unsigned v = 0;

    if (*s == '\0' || strlen(s) > 3)
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        v = v * 10 + (unsigned)(*s - '0');
    }
    if (v > max)
        return -1;
    *bits = v;
    return 0;
}

static bool
is_v4mapped(const struct rm_ipaddr *a)
{
    return a->family == AF_INET6 && memcmp(a->a, v4mapped_prefix, 12) == 0;
}

int
iplist_add(struct rm_iplist *l, const char *spec, char *errbuf, size_t errlen)
{
    struct rm_ipaddr addr;
    const char *slash = strchr(spec, '/');
    size_t alen = slash ? (size_t)(slash - spec) : strlen(spec);
    unsigned full, bits;
    bool added;
    char abuf[INET6_ADDRSTRLEN], text[INET6_ADDRSTRLEN + 8];

    if (parse_addr_n(spec, alen, &addr) < 0) {
        if (errbuf && errlen)
            snprintf(errbuf, errlen,
                     "expected an IP address or network, found '%s'", spec);
        return -1;
    }
    full = addr.family == AF_INET ? 32 : 128;
    bits = full;
    if (slash && parse_prefix(slash + 1, full, &bits) < 0) {
        if (errbuf && errlen)
            snprintf(errbuf, errlen,
                     "expected a prefix length between 0 and %u, found '%s'",
                     full, spec);
        return -1;
    }
    ipaddr_mask(&addr, bits);

    ipaddr_format(&addr, abuf, sizeof(abuf));
    if (bits == full)
        snprintf(text, sizeof(text), "%s", abuf);
    else
        snprintf(text, sizeof(text), "%s/%u", abuf, bits);
    if (addr.family == AF_INET)
        added = trie_insert(&l->t4, addr.a, bits);
    else if (is_v4mapped(&addr) && bits >= 96)
        added = trie_insert(&l->t4, addr.a + 12, bits - 96);
    else
        added = trie_insert(&l->t6, addr.a, bits);
    if (!added)
        return 0; /* the same network again: one entry, one text */

    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 8;
        l->text = xrealloc(l->text, l->cap * sizeof(*l->text));
    }
    l->text[l->n++] = xstrdup(text);
    return 0;
}

bool
iplist_match(const struct rm_iplist *l, const struct rm_ipaddr *addr)
{
    uint8_t v6[16];

    if (l == NULL || addr == NULL)
        return false;
    if (addr->family == AF_INET) {
        if (trie_match(&l->t4, addr->a, 32))
            return true;
        memcpy(v6, v4mapped_prefix, 12);
        memcpy(v6 + 12, addr->a, 4);
        return trie_match(&l->t6, v6, 128);
    }
    if (addr->family != AF_INET6)
        return false;
    if (is_v4mapped(addr) && trie_match(&l->t4, addr->a + 12, 32))
        return true;
    return trie_match(&l->t6, addr->a, 128);
}

size_t
iplist_count(const struct rm_iplist *l)
{
    return l ? l->n : 0;
}

const char *
iplist_entry(const struct rm_iplist *l, size_t i)
{
    if (l == NULL || i >= l->n)
        return NULL;
    return l->text[i];
}
