/* The worker pool: a fixed number of threads taking tasks in order. Tasks
 * are embedded in their owners (a request, a stream), each queued at most
 * once at a time, so the queue needs no allocation and is bounded by the
 * number of requests and streams. The most recently idle thread is woken
 * first: under light load one warm thread (with its caches and its one
 * database reader) does the work instead of all of them in turn. */
#include "http_int.h"

#include <stdio.h>
#include <stdlib.h>

typedef struct {
    struct http_pool *p;
    pthread_cond_t cv;
    bool woken;
} pool_worker;

struct http_pool {
    pthread_mutex_t mu;
    http_task *head, *tail;
    unsigned queued, busy;
    pool_worker **idle; /* a stack: the last to go idle is woken first */
    unsigned nidle;
    bool stop;
    unsigned n;
    pthread_t *threads;
    pool_worker *workers;
};

static void *pool__main(void *arg)
{
    pool_worker *w = arg;
    http_pool *p = w->p;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->head && !p->stop) {
            w->woken = false;
            p->idle[p->nidle++] = w;
            while (!w->woken)
                pthread_cond_wait(&w->cv, &p->mu);
        }
        http_task *t = p->head;
        if (!t)
            break; /* stopping and nothing left */
        p->head = t->next;
        if (!p->head)
            p->tail = NULL;
        p->queued--;
        p->busy++;
        pthread_mutex_unlock(&p->mu);
        t->run(t);
        pthread_mutex_lock(&p->mu);
        p->busy--;
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

cx_err http__pool_new(unsigned threads, http_pool **out)
{
    http_pool *p = calloc(1, sizeof *p);
    if (!p)
        return CX_ENOMEM;
    p->threads = calloc(threads, sizeof *p->threads);
    p->workers = calloc(threads, sizeof *p->workers);
    p->idle = calloc(threads, sizeof *p->idle);
    if (!p->threads || !p->workers || !p->idle) {
        free(p->threads);
        free(p->workers);
        free(p->idle);
        free(p);
        return CX_ENOMEM;
    }
    pthread_mutex_init(&p->mu, NULL);
    for (unsigned i = 0; i < threads; i++) {
        p->workers[i].p = p;
        pthread_cond_init(&p->workers[i].cv, NULL);
    }
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, (size_t)1 << 20); /* handlers' stacks: 1 MiB each */
    for (unsigned i = 0; i < threads; i++) {
        if (pthread_create(&p->threads[i], &attr, pool__main, &p->workers[i]) != 0)
            break;
        char name[16];
        snprintf(name, sizeof name, "http-w%u", i);
        pthread_setname_np(p->threads[i], name);
        p->n++;
    }
    pthread_attr_destroy(&attr);
    if (p->n == 0) {
        http__pool_free(p);
        return CX_ENOMEM;
    }
    *out = p;
    return CX_OK;
}

void http__pool_push(http_pool *p, http_task *head, http_task *tail, unsigned n)
{
    pthread_mutex_lock(&p->mu);
    tail->next = NULL;
    if (p->tail)
        p->tail->next = head;
    else
        p->head = head;
    p->tail = tail;
    p->queued += n;
    for (unsigned i = 0; i < n && p->nidle; i++) {
        pool_worker *w = p->idle[--p->nidle];
        w->woken = true;
        pthread_cond_signal(&w->cv);
    }
    pthread_mutex_unlock(&p->mu);
}

void http__pool_free(http_pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->stop = true;
    while (p->nidle) {
        pool_worker *w = p->idle[--p->nidle];
        w->woken = true;
        pthread_cond_signal(&w->cv);
    }
    pthread_mutex_unlock(&p->mu);
    for (unsigned i = 0; i < p->n; i++)
        pthread_join(p->threads[i], NULL);
    for (unsigned i = 0; i < p->n; i++)
        pthread_cond_destroy(&p->workers[i].cv);
    pthread_mutex_destroy(&p->mu);
    free(p->threads);
    free(p->workers);
    free(p->idle);
    free(p);
}

unsigned http__pool_busy(http_pool *p)
{
    pthread_mutex_lock(&p->mu);
    unsigned n = p->busy;
    pthread_mutex_unlock(&p->mu);
    return n;
}

unsigned http__pool_queued(http_pool *p)
{
    pthread_mutex_lock(&p->mu);
    unsigned n = p->queued;
    pthread_mutex_unlock(&p->mu);
    return n;
}
