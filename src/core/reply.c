/*
 * NAME
 *   reply - what the pipeline answers the MTA at one stage (see reply.h)
 *
 * DESCRIPTION
 *   A reply owns its strings and its array of modifications. reply_init
 *   gives the empty reply (RM_ACT_CONTINUE, no text, no changes);
 *   reply_clear releases everything and returns to that state, so a reply
 *   can be reused for the next stage.
 *
 * THREAD SAFETY
 *   A reply is used by one thread at a time.
 */
#include <stdlib.h>
#include <string.h>

#include "core/reply.h"
#include "lib/xmalloc.h"

void
reply_init(struct rm_reply *r)
{
    memset(r, 0, sizeof(*r));
    r->action = RM_ACT_CONTINUE;
}

void
reply_clear(struct rm_reply *r)
{
    size_t i;

    for (i = 0; i < r->n_mods; i++) {
        free(r->mods[i].name);
        free(r->mods[i].value);
    }
    free(r->mods);
    free(r->text);
    free(r->quarantine_reason);
    reply_init(r);
}

/* copy_code - bounded copy that always terminates */
static void
copy_code(char *dst, size_t size, const char *src)
{
    size_t n = src ? strlen(src) : 0;

    if (n >= size)
        n = size - 1;
    if (n)
        memcpy(dst, src, n);
    dst[n] = '\0';
}

void
reply_set(struct rm_reply *r, enum rm_action a, const char *rcode,
          const char *xcode, const char *text)
{
    r->action = a;
    copy_code(r->rcode, sizeof(r->rcode), rcode);
    copy_code(r->xcode, sizeof(r->xcode), xcode);
    free(r->text);
    r->text = text ? xstrdup(text) : NULL;
}

void
reply_add_mod(struct rm_reply *r, enum rm_mod_kind kind, unsigned index,
              const char *name, const char *value, size_t value_len)
{
    struct rm_mod *mod;

    r->mods = xrealloc(r->mods, (r->n_mods + 1) * sizeof(*r->mods));
    mod = &r->mods[r->n_mods++];
    mod->kind = kind;
    mod->index = index;
    mod->name = name ? xstrdup(name) : NULL;
    if (value) {
        mod->value = xmalloc(value_len + 1);
        memcpy(mod->value, value, value_len);
        mod->value[value_len] = '\0';
    } else {
        mod->value = NULL;
    }
    mod->value_len = value ? value_len : 0;
}
