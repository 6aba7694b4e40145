#include "core.h"

#include <csv.h>
#include <stdlib.h>
#include <string.h>

#define CSV_MAX_FIELDS 256

typedef struct {
    cx_csv_row_fn fn;
    void *ctx;
    char *fields[CSV_MAX_FIELDS];
    size_t n;
    bool overflow; /* more than CSV_MAX_FIELDS fields in a row */
    uint64_t line;       /* physical line being fed */
    uint64_t row_line;   /* line where the current row started */
    uint64_t offset;
    bool stop;
    bool too_wide;
} csv_state;

/* libcsv grows its field buffer through this hook: refusing past the cap
 * keeps one huge field from reaching the heap. */
static _Thread_local size_t csv_cap;

static void *csv__realloc(void *p, size_t n)
{
    if (n > csv_cap)
        return NULL;
    return realloc(p, n);
}

static void csv__field(void *s, size_t len, void *data)
{
    csv_state *st = data;
    if (st->n == 0)
        st->row_line = st->line;
    if (st->n >= CSV_MAX_FIELDS) {
        st->overflow = true;
        return;
    }
    char *f = malloc(len + 1);
    if (!f) {
        st->stop = true;
        return;
    }
    if (len)
        memcpy(f, s, len);
    f[len] = '\0';
    st->fields[st->n++] = f;
}

static void csv__clear(csv_state *st)
{
    for (size_t i = 0; i < st->n; i++)
        free(st->fields[i]);
    st->n = 0;
    st->overflow = false;
}

static void csv__row(int c, void *data)
{
    csv_state *st = data;
    if (st->overflow) {
        st->too_wide = true;
        st->stop = true;
    } else if (!st->stop && st->n) {
        if (!st->fn(st->ctx, st->fields, st->n, st->row_line, st->offset))
            st->stop = true;
    }
    csv__clear(st);
}

static int csv__no_space(unsigned char c)
{
    (void)c;
    return 0;
}

cx_err cx_csv_read(FILE *f, size_t max_field, cx_csv_row_fn fn, void *ctx, uint64_t *err_line)
{
    struct csv_parser p;
    if (csv_init(&p, CSV_STRICT | CSV_STRICT_FINI | CSV_APPEND_NULL) != 0)
        return CX_ENOMEM;
    csv_cap = max_field + 64;
    csv_set_realloc_func(&p, csv__realloc);
    csv_set_space_func(&p, csv__no_space);
    csv_state st = {.fn = fn, .ctx = ctx, .line = 1};
    char block[65536];
    size_t got;
    cx_err e = CX_OK;
    while (!st.stop && e == CX_OK && (got = fread(block, 1, sizeof block, f)) > 0) {
        size_t pos = 0;
        while (pos < got && !st.stop) {
            char *nl = memchr(block + pos, '\n', got - pos);
            size_t seg = nl ? (size_t)(nl - (block + pos)) + 1 : got - pos;
            st.offset += seg;
            if (csv_parse(&p, block + pos, seg, csv__field, csv__row, &st) != seg) {
                int ce = csv_error(&p);
                e = ce == CSV_ENOMEM || ce == CSV_ETOOBIG ? CX_ETOOBIG : CX_EPARSE;
                if (err_line)
                    *err_line = st.line;
                break;
            }
            if (nl)
                st.line++;
            pos += seg;
        }
    }
    if (e == CX_OK && !st.stop && ferror(f))
        e = CX_EIO;
    if (e == CX_OK && !st.stop && csv_fini(&p, csv__field, csv__row, &st) != 0) {
        e = CX_EPARSE;
        if (err_line)
            *err_line = st.line;
    }
    if (st.too_wide) {
        e = CX_ETOOBIG;
        if (err_line)
            *err_line = st.row_line;
    }
    csv__clear(&st);
    csv_free(&p);
    return e;
}
