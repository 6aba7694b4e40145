/* The event loop: one thread, epoll (edge-triggered for connections), the
 * queue through which workers and other threads hand requests and streams
 * back, the timers, and the drain and stop commands. */
#include "http_int.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define container_of(p, type, member) ((type *)(void *)((char *)(p) - offsetof(type, member)))

/* ---- the event queue -------------------------------------------------------- */

void http__loop_signal(http_server *s)
{
    uint64_t one = 1;
    ssize_t n;
    do
        n = write(s->evfd, &one, sizeof one);
    while (n < 0 && errno == EINTR);
}

void http__post(http_server *s, http_event *ev)
{
    http_event *old = atomic_load(&s->q_top);
    do
        ev->next = old;
    while (!atomic_compare_exchange_weak(&s->q_top, &old, ev));
    if (!old) /* the first since the loop last looked: it may be asleep */
        http__loop_signal(s);
}

void http__task(http_server *s, http_task *t)
{
    t->next = NULL;
    if (s->tasks_tail)
        s->tasks_tail->next = t;
    else
        s->tasks_head = t;
    s->tasks_tail = t;
    s->ntasks++;
}

/* One hand-over per round: one lock of the pool instead of one per task. */
void http__tasks_flush(http_server *s)
{
    if (!s->ntasks)
        return;
    http__pool_push(s->pool, s->tasks_head, s->tasks_tail, s->ntasks);
    s->tasks_head = s->tasks_tail = NULL;
    s->ntasks = 0;
}

static void loop__events(http_server *s)
{
    http_event *top = atomic_exchange(&s->q_top, NULL), *ev = NULL;
    while (top) { /* the stack, reversed: events in the order they came */
        http_event *next = top->next;
        top->next = ev;
        ev = top;
        top = next;
    }
    while (ev) {
        http_event *next = ev->next;
        switch (ev->kind) {
        case EV_REPLY: {
            http_req *r = container_of(ev, http_req, ev);
            http__conn_reply_ready(r->conn, r);
            break;
        }
        case EV_AUTHED: {
            http_req *r = container_of(ev, http_req, ev);
            http__conn_authed(r->conn, r);
            break;
        }
        case EV_PULLED:
            http__stream_pulled(container_of(ev, http_stream, ev_pull));
            break;
        case EV_WAKE:
            http__stream_woken(container_of(ev, http_stream, ev_wake));
            break;
        default:
            break;
        }
        ev = next;
    }
}

/* ---- timers: one list per kind; a kind has one duration, so appending keeps
 * each list sorted and every operation is O(1) ---------------------------------- */

void http__timer_clear(http_server *s, http_conn *c)
{
    if (c->tkind < 0)
        return;
    http_timer_list *l = &s->timers[c->tkind];
    if (c->tprev)
        c->tprev->tnext = c->tnext;
    else
        l->head = c->tnext;
    if (c->tnext)
        c->tnext->tprev = c->tprev;
    else
        l->tail = c->tprev;
    c->tprev = c->tnext = NULL;
    c->tkind = -1;
}

void http__timer_set(http_server *s, http_conn *c, int kind, int64_t now)
{
    http__timer_clear(s, c);
    http_timer_list *l = &s->timers[kind];
    c->tkind = kind;
    c->deadline = now + l->dur_us;
    c->tprev = l->tail;
    c->tnext = NULL;
    if (l->tail)
        l->tail->tnext = c;
    else
        l->head = c;
    l->tail = c;
}

static int loop__timeout_ms(http_server *s, int64_t now)
{
    if (s->ready)
        return 0;
    int64_t next = now + 1000000; /* at least once a second */
    for (int k = 0; k < T_COUNT; k++)
        if (s->timers[k].head && s->timers[k].head->deadline < next)
            next = s->timers[k].head->deadline;
    if (!s->accepting && s->listen_fd >= 0 && s->accept_resume_us < next)
        next = s->accept_resume_us;
    int64_t ms = (next - now + 999) / 1000;
    return ms < 0 ? 0 : (int)ms;
}

static void loop__timers(http_server *s, int64_t now)
{
    for (int k = 0; k < T_COUNT; k++) {
        http_timer_list *l = &s->timers[k];
        /* bounded per round so a mass expiry does not stall the loop */
        for (int n = 0; n < 4096 && l->head && l->head->deadline <= now; n++) {
            http_conn *c = l->head;
            http__timer_clear(s, c);
            http__conn_timeout(c, k, now);
        }
    }
}

/* ---- the Date header, once a second ---------------------------------------------- */

const char *http__date(http_server *s)
{
    /* thread-local: workers serialise replies too */
    static _Thread_local char buf[40];
    static _Thread_local time_t last;
    time_t now = time(NULL);
    if (now != last) {
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        last = now;
    }
    (void)s;
    return buf;
}

/* ---- commands ---------------------------------------------------------------------- */

static void loop__stop_accepting(http_server *s)
{
    if (s->listen_fd < 0)
        return;
    epoll_ctl(s->epfd, EPOLL_CTL_DEL, s->listen_fd, NULL);
    close(s->listen_fd);
    s->listen_fd = -1;
    s->accepting = false;
}

static void loop__drain(http_server *s)
{
    if (s->drained)
        return;
    s->drained = true;
    loop__stop_accepting(s);
    for (http_conn *c = s->conns, *next; c; c = next) {
        next = c->next;
        http__conn_drain(c);
    }
}

static void loop__ready(http_server *s)
{
    http_conn *c = s->ready;
    s->ready = NULL;
    while (c) {
        http_conn *next = c->ready_next;
        c->in_ready = false;
        c->ready_next = NULL;
        http__conn_drive(c);
        c = next;
    }
}

void *http__loop_main(void *arg)
{
    http_server *s = arg;
    struct epoll_event evs[256];
    int64_t stop_deadline = 0;
    for (;;) {
        int64_t now = cx_mono_us();
        int n = epoll_wait(s->epfd, evs, 256, loop__timeout_ms(s, now));
        if (n < 0 && errno != EINTR) {
            cx_log(CX_LOG_ERROR, "http: epoll_wait: %s", strerror(errno));
            n = 0;
        }
        http__tasks_flush(s);
        for (int i = 0; i < n; i++) {
            void *tag = evs[i].data.ptr;
            if (tag == &s->listen_fd) {
                http__conn_accept(s);
            } else if (tag == &s->evfd) {
                uint64_t v;
                while (read(s->evfd, &v, sizeof v) < 0 && errno == EINTR)
                    ;
            } else {
                http__conn_event(tag, evs[i].events);
            }
        }
        http__tasks_flush(s);
        loop__events(s);
        loop__ready(s);
        now = cx_mono_us();
        loop__timers(s, now);
        http__conn_reap(s);
        http__tasks_flush(s);
        if (!s->accepting && s->listen_fd >= 0 && now >= s->accept_resume_us) {
            struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &s->listen_fd};
            if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->listen_fd, &ev) == 0)
                s->accepting = true;
            else
                s->accept_resume_us = now + 100000;
        }
        int cmd = atomic_load(&s->cmd);
        if (cmd >= 1)
            loop__drain(s);
        if (cmd == 2) {
            if (!stop_deadline) {
                stop_deadline = now + 60 * 1000000LL;
                http__conn_stop_all(s);
            }
            /* every request in flight still gets its reply written */
            if ((!s->conns && atomic_load(&s->inflight) == 0) || now > stop_deadline)
                break;
        }
    }
    return NULL;
}
