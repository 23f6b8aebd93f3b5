/*
 * task.c -- tasks as coroutines: records, the run queue, the one resume
 * point, waits, cancel frames, deadlines, the family tree, joins and dumps.
 * See task.h for the contract and task_int.h for the record.
 *
 * Invariants:
 *  - a live task is on e->sched->all, and on exactly one of: e->sched->runq, e->sched->sliced
 *    or e->sched->woken (RUNNABLE), nothing (RUNNING, exactly e->current), its
 *    wait (WAITING);
 *  - a live task's coroutine and handle are anchored in the anchors table;
 *  - only task_resume() calls lua_resume, and only from the scheduler:
 *    silk_task_run (the loop's prepare phase) or silk_task_batch_end (the
 *    end of an event batch, in the loop callback that ran it);
 *  - e->sched->woken is empty between event batches (batch_end empties it);
 *  - a WAITING task has a cancel function or none, and its deadline timer
 *    is armed iff one of the frames that may interrupt the wait has a
 *    deadline.
 */
#define _GNU_SOURCE
#include <assert.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "errors.h"
#include "gcpace.h"
#include "task_int.h"
#include "track.h"

static char interrupt_marker;    /* its address is the marker value */

static const char waiting_key = 0;   /* registry: factory of waiting wrappers */

#define container_of(p, type, member) ((type *)((char *)(p) - offsetof(type, member)))

/* --- intrusive lists ------------------------------------------------------
 * One list type, several link pairs in the record; each pair gets its own
 * push/remove through this macro so that membership stays explicit. */
#define TLIST_LINKS(name, NEXT, PREV)                                              \
    static void name##_push(silk_tlist *l, silk_task *t)                           \
    {                                                                             \
        t->NEXT = NULL;                                                           \
        t->PREV = l->tail;                                                        \
        if (l->tail)                                                              \
            l->tail->NEXT = t;                                                    \
        else                                                                      \
            l->head = t;                                                          \
        l->tail = t;                                                              \
        l->n++;                                                                   \
    }                                                                             \
    static void name##_remove(silk_tlist *l, silk_task *t)                         \
    {                                                                             \
        if (t->PREV)                                                              \
            t->PREV->NEXT = t->NEXT;                                              \
        else                                                                      \
            l->head = t->NEXT;                                                    \
        if (t->NEXT)                                                              \
            t->NEXT->PREV = t->PREV;                                              \
        else                                                                      \
            l->tail = t->PREV;                                                    \
        t->NEXT = t->PREV = NULL;                                                 \
        l->n--;                                                                   \
    }

TLIST_LINKS(all, all_next, all_prev)
TLIST_LINKS(runq, run_next, run_prev)
TLIST_LINKS(waitq, q_next, q_prev)

/* The unordered sets push at the head. */
#define TSET_LINKS(name, NEXT, PREV)                                               \
    static void name##_push(silk_tset *s, silk_task *t)                            \
    {                                                                             \
        t->PREV = NULL;                                                           \
        t->NEXT = s->head;                                                        \
        if (s->head)                                                              \
            s->head->PREV = t;                                                    \
        s->head = t;                                                              \
        s->n++;                                                                   \
    }                                                                             \
    static void name##_remove(silk_tset *s, silk_task *t)                          \
    {                                                                             \
        if (t->PREV)                                                              \
            t->PREV->NEXT = t->NEXT;                                              \
        else                                                                      \
            s->head = t->NEXT;                                                    \
        if (t->NEXT)                                                              \
            t->NEXT->PREV = t->PREV;                                              \
        t->NEXT = t->PREV = NULL;                                                 \
        s->n--;                                                                   \
    }

TSET_LINKS(sib, sib_next, sib_prev)
TSET_LINKS(unjoined, sib_next, sib_prev)   /* a finished task is no child any more */
TSET_LINKS(scope, sc_next, sc_prev)

void silk_tlist_qpush(silk_tlist *q, silk_task *t)
{
    assert(t->q == NULL);
    waitq_push(q, t);
    t->q = q;
    silk_track_acquire(SILK_RES_WAITER);
}

void silk_tlist_qremove(silk_task *t)
{
    if (!t->q)
        return;
    waitq_remove(t->q, t);
    t->q = NULL;
    silk_track_release(SILK_RES_WAITER);
}

silk_task *silk_tlist_qpop(silk_tlist *q)
{
    silk_task *t = q->head;
    if (t)
        silk_tlist_qremove(t);
    return t;
}

/* --- names ---------------------------------------------------------------- */

const char *silk_task_state_name(silk_task_state s)
{
    static const char *const names[] = {"runnable", "running", "waiting", "done", "failed"};
    return names[s];
}

const char *silk_wait_reason_name(silk_wait_reason r)
{
    static const char *const names[SILK_WAIT_COUNT_] = {
        [SILK_WAIT_NONE] = "none",   [SILK_WAIT_SLEEP] = "sleep", [SILK_WAIT_JOIN] = "join",
        [SILK_WAIT_SEND] = "send",   [SILK_WAIT_RECV] = "recv",   [SILK_WAIT_FETCH] = "fetch",
        [SILK_WAIT_PARSE] = "parse", [SILK_WAIT_IO] = "io",
    };
    return names[r];
}

static int is_live(const silk_task *t)
{
    return t->state <= SILK_TASK_WAITING;
}

/* The only place a task changes state. */
/* Slots of e->sched->ntasks; a finished task is in none. */
#define TASK_SLOT_RUNNABLE 0
#define TASK_SLOT_RUNNING 1
#define TASK_SLOT_WAITING(reason) (2 + (reason))
#define TASK_SLOT_NONE 15

/* The one place a task changes state; keeps the per-state counts, which a
 * metrics scrape reads instead of walking every task. A wait's reason is set
 * before it enters WAITING and cleared before it leaves, so the slot a task
 * is counted in is remembered rather than recomputed. */
static void set_state(silk_task *t, silk_task_state s)
{
    silk_engine *e = t->e;
    if (t->state == s)
        return;
    if (t->state == SILK_TASK_RUNNABLE) {
        runq_remove(t->preempted ? &e->sched->sliced : t->batched ? &e->sched->woken : &e->sched->runq, t);
        t->batched = 0;
    }
    if (t->counted != TASK_SLOT_NONE)
        e->sched->ntasks[t->counted]--;
    t->counted = s == SILK_TASK_RUNNABLE  ? TASK_SLOT_RUNNABLE
               : s == SILK_TASK_RUNNING   ? TASK_SLOT_RUNNING
               : s == SILK_TASK_WAITING   ? TASK_SLOT_WAITING(t->reason)
                                          : TASK_SLOT_NONE;
    if (t->counted != TASK_SLOT_NONE)
        e->sched->ntasks[t->counted]++;
    t->state = s;
    if (s == SILK_TASK_RUNNABLE && e->sched->batch) {
        t->batched = 1;
        runq_push(&e->sched->woken, t);          /* resumed by silk_task_batch_end, soon */
    } else if (s == SILK_TASK_RUNNABLE) {
        runq_push(&e->sched->runq, t);
        silk_engine_kick(e);
    }
}

/* --- registry anchors -----------------------------------------------------
 * The anchors are chunks of ANCHOR_CHUNK slots listed in one small table,
 * not one table of every ref: the collector traverses a table in one piece,
 * and again in the atomic phase once it was written during marking (every
 * spawn and end writes), so one table of every ref would be a piece of a
 * GC slice that grows with the number of tasks. Refs count from 1; a free
 * slot holds the number of the next free ref (as luaL_ref's do), the first
 * is e->sched->anchor_free, 0 when none. Chunks are never freed (a
 * luaL_ref table never shrinks either). */

#define ANCHOR_CHUNK 256
#define ANCHOR_SLOT(ref) (((ref) - 1) % ANCHOR_CHUNK + 1)

/* Pushes onto L the chunk holding `ref`, which must exist. */
static void push_chunk(silk_engine *e, lua_State *L, int ref)
{
    lua_rawgeti(L, LUA_REGISTRYINDEX, e->sched->anchors_ref);
    lua_rawgeti(L, -1, (ref - 1) / ANCHOR_CHUNK + 1);
    lua_remove(L, -2);
}

/* Anchors the value at idx in L and returns its ref. Raises only on memory
 * errors, leaving the anchors as they were: the ref count is taken after
 * the new chunk is in place. */
static int anchor(silk_engine *e, lua_State *L, int idx)
{
    idx = idx < 0 ? lua_gettop(L) + idx + 1 : idx;
    int ref = e->sched->anchor_free;
    if (ref) {
        push_chunk(e, L, ref);
        lua_rawgeti(L, -1, ANCHOR_SLOT(ref));
        e->sched->anchor_free = (int)lua_tointeger(L, -1);
        lua_pop(L, 1);
    } else if (ANCHOR_SLOT(e->sched->anchor_top + 1) == 1) {
        ref = e->sched->anchor_top + 1;
        lua_rawgeti(L, LUA_REGISTRYINDEX, e->sched->anchors_ref);
        lua_createtable(L, ANCHOR_CHUNK, 0);
        lua_pushvalue(L, -1);
        lua_rawseti(L, -3, (ref - 1) / ANCHOR_CHUNK + 1);
        lua_remove(L, -2);
        e->sched->anchor_top = ref;
    } else {
        ref = ++e->sched->anchor_top;
        push_chunk(e, L, ref);
    }
    lua_pushvalue(L, idx);
    lua_rawseti(L, -2, ANCHOR_SLOT(ref));   /* in the array part: no allocation */
    lua_pop(L, 1);
    return ref;
}

void silk_task_push_handle(silk_task *t, lua_State *L)
{
    push_chunk(t->e, L, t->self_ref);
    lua_rawgeti(L, -1, ANCHOR_SLOT(t->self_ref));
    lua_remove(L, -2);
}

static void unanchor(silk_engine *e, int ref)
{
    lua_State *L = e->L;
    push_chunk(e, L, ref);
    lua_pushinteger(L, e->sched->anchor_free);
    lua_rawseti(L, -2, ANCHOR_SLOT(ref));
    lua_pop(L, 1);
    e->sched->anchor_free = ref;
}

/* --- frames ---------------------------------------------------------------- */

static int frame_triggered(const silk_frame *f, double now)
{
    return f->cancelled || (f->deadline > 0 && now >= f->deadline);
}

double silk_task_next_deadline(silk_task *t)
{
    double d = 0;
    for (silk_frame *f = t->frames; f; f = f->prev)
        if (f->deadline > 0 && !f->cancelled && (d == 0 || f->deadline < d))
            d = f->deadline;
    return d;
}

static void cancel_children(silk_task *t, const char *reason);

/* silk_task_pushinterrupt; `where` (or NULL) names the work a deadline
 * interrupted, in the error value's message when it is created here. */
static silk_frame *push_interrupt(silk_task *t, lua_State *L, silk_frame *upto, const char *where)
{
    double now = silk_now();
    silk_frame *hit = NULL;
    for (silk_frame *f = upto ? upto : t->frames; f; f = f->prev)
        if (frame_triggered(f, now))
            hit = f;                      /* keep going: the outermost wins */
    if (!hit)
        return NULL;
    if (hit->err_ref == LUA_NOREF) {      /* a deadline, seen for the first time */
        const char *in = where ? " in " : "";
        where = where ? where : "";
        if (hit == &t->frame0)
            silk_err_push(L, "timeout", "task %llu exceeded its deadline%s%s",
                          (unsigned long long)t->id, in, where);
        else
            silk_err_push(L, "timeout", "with_timeout deadline exceeded%s%s", in, where);
        hit->err_ref = luaL_ref(L, LUA_REGISTRYINDEX);
        if (hit == &t->frame0)
            cancel_children(t, "parent task timed out");
    }
    hit->fired = 1;
    lua_rawgeti(L, LUA_REGISTRYINDEX, hit->err_ref);
    return hit;
}

silk_frame *silk_task_pushinterrupt(silk_task *t, lua_State *L, silk_frame *upto)
{
    return push_interrupt(t, L, upto, NULL);
}

int silk_task_raise_interrupt(silk_task *t, lua_State *L, const char *where)
{
    if (!push_interrupt(t, L, NULL, where))
        silk_err_push(L, "cancelled", "%s was stopped", where);
    return lua_error(L);
}

silk_frame *silk_frame_push(silk_task *t, double timeout)
{
    silk_frame *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->owner = t;
    f->id = ++t->next_frame_id;
    f->deadline = timeout >= 0 ? silk_now() + timeout : 0;
    f->err_ref = f->cause_ref = LUA_NOREF;
    f->prev = t->frames;
    t->frames = f;
    silk_track_acquire(SILK_RES_FRAME);
    return f;
}

silk_frame *silk_frame_find(silk_task *t, uint32_t id)
{
    for (silk_frame *f = t->frames; f; f = f->prev)
        if (f->id == id)
            return f;
    return NULL;
}

/* Releases an inner frame; its scope children (if any are left, which only
 * happens when the owner was killed) lose their scope. */
static void frame_free(silk_engine *e, silk_frame *f)
{
    for (silk_task *c = f->scope.head; c; c = f->scope.head) {
        scope_remove(&f->scope, c);
        c->scope = NULL;
    }
    luaL_unref(e->L, LUA_REGISTRYINDEX, f->err_ref);
    luaL_unref(e->L, LUA_REGISTRYINDEX, f->cause_ref);
    free(f);
    silk_track_release(SILK_RES_FRAME);
}

int silk_frame_pop(silk_task *t, silk_frame *f, lua_State *L)
{
    assert(f == t->frames && f != &t->frame0);
    t->frames = f->prev;
    int fired = f->fired;
    if (fired)
        lua_rawgeti(L, LUA_REGISTRYINDEX, f->err_ref);
    frame_free(t->e, f);
    return fired;
}

static void interrupt_wait(silk_task *t);

void silk_frame_cancel(silk_frame *f, const char *reason, lua_State *L, int cause_idx)
{
    silk_task *t = f->owner;
    if (f->cancelled || !is_live(t))
        return;
    if (!L)
        L = t->e->L;
    if (cause_idx)
        cause_idx = cause_idx < 0 ? lua_gettop(L) + cause_idx + 1 : cause_idx;
    f->cancelled = 1;
    if (f->err_ref == LUA_NOREF) {
        silk_err_push(L, "cancelled", "%s", reason ? reason : "cancelled");
        if (cause_idx) {
            lua_pushvalue(L, cause_idx);
            lua_setfield(L, -2, "cause");
        }
        f->err_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    }
    if (cause_idx && f->cause_ref == LUA_NOREF) {
        lua_pushvalue(L, cause_idx);
        f->cause_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    }
    for (silk_task *c = f->scope.head; c; c = c->sc_next)
        silk_task_cancel(c, "scope cancelled");
    if (f == &t->frame0)
        cancel_children(t, reason);
    interrupt_wait(t);
}

void silk_task_cancel(silk_task *t, const char *reason)
{
    silk_frame_cancel(&t->frame0, reason ? reason : "cancelled", NULL, 0);
}

static void cancel_children(silk_task *t, const char *reason)
{
    for (silk_task *c = t->children.head; c; c = c->sib_next)
        silk_task_cancel(c, reason);
}

void silk_task_cancel_all(silk_engine *e, const char *reason)
{
    for (silk_task *t = e->sched->all.head; t; t = t->all_next)
        silk_task_cancel(t, reason);
}

long silk_task_count(silk_engine *e, silk_task_state s)
{
    return s == SILK_TASK_RUNNABLE ? e->sched->ntasks[TASK_SLOT_RUNNABLE]
         : s == SILK_TASK_RUNNING  ? e->sched->ntasks[TASK_SLOT_RUNNING]
         : 0;
}

long silk_task_count_waiting(silk_engine *e, silk_wait_reason r)
{
    return r > SILK_WAIT_NONE && r < SILK_WAIT_COUNT_ ? e->sched->ntasks[TASK_SLOT_WAITING(r)] : 0;
}

uint64_t silk_task_created(silk_engine *e)
{
    return e->sched->next_id;
}

silk_task *silk_task_find(silk_engine *e, uint64_t id)
{
    for (silk_task *t = e->sched->all.head; t; t = t->all_next)
        if (t->id == id)
            return t;
    return NULL;
}

int silk_task_is_main(const silk_task *t)
{
    return t == t->e->sched->main;
}

void silk_task_set_end_hook(silk_engine *e, silk_task_end_fn fn, void *data)
{
    e->sched->end_hook = fn;
    e->sched->end_hook_data = data;
}

void silk_task_set_service(silk_task *t)
{
    t->service = 1;
}

int silk_task_cancel_services(silk_engine *e, const char *reason)
{
    int n = 0;
    for (silk_task *t = e->sched->all.head; t; t = t->all_next)
        if (t->service) {
            silk_task_cancel(t, reason);
            n++;
        }
    return n;
}

int silk_task_interrupted(silk_task *t)
{
    double now = silk_now();
    for (silk_frame *f = t->frames; f; f = f->prev)
        if (frame_triggered(f, now))
            return 1;
    return 0;
}

/* --- the wake heap ----------------------------------------------------------
 * The waiting tasks whose timer is armed, by the time it fires, earliest on
 * top: libev keeps the same heap but has no call that reads its top, and
 * the tick needs it (silk_task_wake_due) to see that a sleeper is due while
 * a busy task holds the loop. timer_start and timer_stop are the only
 * places a task's timer changes, and they keep both. When the heap cannot
 * grow, the task is left out of it: its timer still fires, only not
 * before the busy task's slice ends. */

static void wakes_set(silk_engine *e, int i, silk_task *t)
{
    e->sched->wakes[i] = t;
    t->wake_pos = i + 1;
}

static void wakes_up(silk_engine *e, int i)
{
    silk_task *t = e->sched->wakes[i];
    while (i > 0 && e->sched->wakes[(i - 1) / 2]->timer_at > t->timer_at) {
        wakes_set(e, i, e->sched->wakes[(i - 1) / 2]);
        i = (i - 1) / 2;
    }
    wakes_set(e, i, t);
}

static void wakes_down(silk_engine *e, int i)
{
    silk_task *t = e->sched->wakes[i];
    for (int c; (c = 2 * i + 1) < e->sched->nwakes; i = c) {
        if (c + 1 < e->sched->nwakes && e->sched->wakes[c + 1]->timer_at < e->sched->wakes[c]->timer_at)
            c++;
        if (e->sched->wakes[c]->timer_at >= t->timer_at)
            break;
        wakes_set(e, i, e->sched->wakes[c]);
    }
    wakes_set(e, i, t);
}

static void wakes_remove(silk_engine *e, silk_task *t)
{
    int i = t->wake_pos - 1;
    t->wake_pos = 0;
    silk_task *last = e->sched->wakes[--e->sched->nwakes];
    if (i == e->sched->nwakes)
        return;
    wakes_set(e, i, last);
    wakes_up(e, i);
    wakes_down(e, last->wake_pos - 1);
}

static void wakes_add(silk_engine *e, silk_task *t)
{
    if (e->sched->nwakes == e->sched->wakes_cap) {
        int cap = e->sched->wakes_cap ? e->sched->wakes_cap * 2 : 64;
        silk_task **grown = realloc(e->sched->wakes, cap * sizeof *grown);
        if (!grown)
            return;
        e->sched->wakes = grown;
        e->sched->wakes_cap = cap;
    }
    wakes_set(e, e->sched->nwakes++, t);
    wakes_up(e, e->sched->nwakes - 1);
}

int silk_task_wake_due(silk_engine *e, double now)
{
    return e->sched->nwakes > 0 && e->sched->wakes[0]->timer_at <= now;
}

static void timer_stop(silk_task *t)
{
    ev_timer_stop(t->e->loop, &t->timer);
    if (t->wake_pos)
        wakes_remove(t->e, t);
}

/* Arms t's timer to fire `after` seconds from now (silk_now() time). */
static void timer_start(silk_task *t, double now, double after)
{
    silk_engine *e = t->e;
    timer_stop(t);
    ev_timer_set(&t->timer, after, 0);
    ev_timer_start(e->loop, &t->timer);
    t->timer_at = now + after;
    wakes_add(e, t);
}

/* --- waiting --------------------------------------------------------------- */

/* A sleep's end is one of the times the wait timer stands for. */
static void clear_sleep(silk_task *t)
{
    if (t->sleep_until > 0) {
        t->sleep_until = 0;
        silk_track_release(SILK_RES_TIMER);
    }
}

static void end_wait(silk_task *t)
{
    timer_stop(t);
    clear_sleep(t);
    silk_tlist_qremove(t);
    t->reason = SILK_WAIT_NONE;
    t->what = NULL;
    t->cancel = NULL;
    t->cancel_data = NULL;
    t->wait_upto = NULL;
    t->wait_shield = 0;
    if (t->wait_ref != LUA_NOREF) {
        luaL_unref(t->e->L, LUA_REGISTRYINDEX, t->wait_ref);
        t->wait_ref = LUA_NOREF;
    }
}

/* Wakes t with its outermost triggered frame's interruption, if one covers
 * its wait. The wait's operation is released through its cancel function. */
static void interrupt_wait(silk_task *t)
{
    if (t->state != SILK_TASK_WAITING || t->wait_shield)
        return;
    if (!silk_task_pushinterrupt(t, t->co, t->wait_upto))
        return;
    if (t->cancel)
        t->cancel(t, t->cancel_data);
    end_wait(t);
    lua_pushlightuserdata(t->co, &interrupt_marker);
    lua_insert(t->co, -2);
    t->nwake = 2;
    set_state(t, SILK_TASK_RUNNABLE);
}

/* When the waiting task's timer must fire: the end of its sleep or the
 * earliest deadline of the frames that may interrupt the wait; 0 for never. */
static double wake_at(silk_task *t)
{
    double d = t->sleep_until;
    for (silk_frame *f = t->wait_upto; f && !t->wait_shield; f = f->prev)
        if (f->deadline > 0 && !f->cancelled && (d == 0 || f->deadline < d))
            d = f->deadline;
    return d;
}

static void arm_timer(silk_task *t, double now)
{
    double d = wake_at(t);
    if (d > 0) {
        ev_now_update(t->e->loop);        /* the loop's time is stale while tasks run */
        timer_start(t, now, fmax(d - now, 0));
    }
}

static void on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop, (void)revents;
    silk_task *t = container_of(w, silk_task, timer);
    timer_stop(t);                        /* libev stopped it; the heap follows */
    interrupt_wait(t);                    /* a deadline: the interruption wins */
    if (t->state != SILK_TASK_WAITING)
        return;
    double now = silk_now();
    if (t->sleep_until > 0 && now >= t->sleep_until) {
        silk_task_wake(t, 0);
        return;
    }
    /* Woke a hair early by the monotonic clock: wait for the rest. */
    double d = wake_at(t);
    if (d > 0)
        timer_start(t, now, fmax(d - now, 1e-4));
}

silk_task *silk_task_check_current(lua_State *L, const char *what)
{
    silk_engine *e = silk_engine_from(L);
    silk_task *t = e->current;
    if (!t)
        luaL_error(L, "%s: not inside a silk task", what);
    if (t->co != L)
        luaL_error(L, "%s: cannot wait inside a coroutine the script created itself "
                      "(coroutine.create/wrap); call it from the task", what);
    return t;
}

static int park(lua_State *L, silk_wait_reason reason, const char *what, silk_wait_cancel_fn cancel,
                void *data, silk_frame *upto, int shield)
{
    silk_task *t = silk_task_check_current(L, silk_wait_reason_name(reason));
    if (!upto)
        upto = t->frames;
    if (!shield && silk_task_pushinterrupt(t, L, upto)) {
        if (cancel)
            cancel(t, data);
        clear_sleep(t);
        if (t->wait_ref != LUA_NOREF) {
            luaL_unref(L, LUA_REGISTRYINDEX, t->wait_ref);
            t->wait_ref = LUA_NOREF;
        }
        silk_tlist_qremove(t);
        lua_pushlightuserdata(L, &interrupt_marker);
        lua_insert(L, -2);
        return 2;
    }
    t->reason = reason;
    t->what = what;
    t->cancel = cancel;
    t->cancel_data = data;
    t->wait_upto = upto;
    t->wait_shield = shield;
    t->since = silk_now();
    arm_timer(t, t->since);
    set_state(t, SILK_TASK_WAITING);
    return lua_yield(L, 0);
}

int silk_task_wait_upto(lua_State *L, silk_wait_reason reason, const char *what,
                        silk_wait_cancel_fn cancel, void *data, silk_frame *upto)
{
    return park(L, reason, what, cancel, data, upto, 0);
}

int silk_task_wait_shielded(lua_State *L, silk_wait_reason reason, const char *what,
                            silk_wait_cancel_fn cancel, void *data)
{
    return park(L, reason, what, cancel, data, NULL, 1);
}

int silk_task_wait(lua_State *L, silk_wait_reason reason, const char *what,
                   silk_wait_cancel_fn cancel, void *data)
{
    return silk_task_wait_upto(L, reason, what, cancel, data, NULL);
}

void silk_task_wake(silk_task *t, int nvalues)
{
    assert(t->magic == SILK_TASK_MAGIC && t->state == SILK_TASK_WAITING);
    end_wait(t);
    t->nwake = nvalues;
    set_state(t, SILK_TASK_RUNNABLE);
}

void *silk_task_interrupt_marker(void)
{
    return &interrupt_marker;
}

/* The wrappers that turn an interrupted wait into a raised error value are
 * plain Lua, made once per state by this chunk, which also returns the
 * function that takes the wrappers' own frames out of tracebacks. */
static const char waiting_chunk[] =
    "local marker = ...\n"
    "local error = error\n"
    "local function check(a, ...)\n"
    "  if a == marker then error((...), 0) end\n"
    "  return a, ...\n"
    "end\n"
    "local function wrap(f) return function(...) return check(f(...)) end end\n"
    "local function clean(tb)\n"
    "  tb = tb:gsub(\"\\n\\t%[C%]: in function 'f'\\n\\tsilk%.waiting:%d+: in function\", \"\\n\\t[C]: in function\")\n"
    "  tb = tb:gsub(\"\\n\\tsilk%.waiting:%d+: in function\", \"\\n\\t[C]: in function\")\n"
    "  return (tb:gsub(\"\\n\\t%[C%]: in function <silk%.waiting:%d+>\", \"\\n\\t[C]: in a silk primitive\"))\n"
    "end\n"
    "return wrap, clean\n";

/* Pushes the wrapping (which = 1) or the traceback-cleaning (2) function. */
static void push_waiting_helper(lua_State *L, int which)
{
    lua_pushlightuserdata(L, (void *)&waiting_key);
    lua_rawget(L, LUA_REGISTRYINDEX);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        if (luaL_loadbuffer(L, waiting_chunk, sizeof waiting_chunk - 1, "=silk.waiting"))
            lua_error(L);
        lua_pushlightuserdata(L, &interrupt_marker);
        lua_call(L, 1, 2);
        lua_createtable(L, 2, 0);
        lua_insert(L, -3);
        lua_rawseti(L, -3, 2);
        lua_rawseti(L, -2, 1);
        lua_pushlightuserdata(L, (void *)&waiting_key);
        lua_pushvalue(L, -2);
        lua_rawset(L, LUA_REGISTRYINDEX);
    }
    lua_rawgeti(L, -1, which);
    lua_remove(L, -2);
}

void silk_task_pushwaiting(lua_State *L, lua_CFunction fn)
{
    push_waiting_helper(L, 1);
    lua_pushcfunction(L, fn);
    lua_call(L, 1, 1);
}

/* Where a misuse error of a waiting primitive should point: the caller of
 * the wrapper when the primitive was called through one. */
static void push_where(lua_State *L)
{
    lua_Debug ar;
    int level = 1;
    if (lua_getstack(L, 1, &ar) && lua_getinfo(L, "S", &ar) && strcmp(ar.source, "=silk.waiting") == 0)
        level = 2;
    luaL_where(L, level);
}

int silk_task_argerror(lua_State *L, int narg, const char *fname, const char *msg)
{
    push_where(L);
    lua_pushfstring(L, "bad argument #%d to '%s' (%s)", narg, fname, msg);
    lua_concat(L, 2);
    return lua_error(L);
}

int silk_task_error(lua_State *L, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    push_where(L);
    lua_pushstring(L, buf);
    lua_concat(L, 2);
    return lua_error(L);
}

lua_State *silk_task_thread(silk_task *t)
{
    return t->co;
}

silk_task *silk_task_current(lua_State *L)
{
    return silk_engine_from(L)->current;
}

/* Returns the interruption (marker, err) of t's frames, if one is due,
 * from a primitive that does not need to park (sleep(0), join of a
 * finished task): such calls still fail at once in an interrupted task. */
static int interrupted_now(silk_task *t, lua_State *L)
{
    if (!silk_task_pushinterrupt(t, L, NULL))
        return 0;
    lua_pushlightuserdata(L, &interrupt_marker);
    lua_insert(L, -2);
    return 2;
}

int silk_task_sleep(lua_State *L, double seconds)
{
    silk_task *t = silk_task_check_current(L, "sleep");
    if (seconds <= 0) {
        /* A bare yield: to the back of the run queue. */
        int n = interrupted_now(t, L);
        return n ? n : lua_yield(L, 0);
    }
    t->sleep_until = silk_now() + seconds;
    silk_track_acquire(SILK_RES_TIMER);
    return silk_task_wait(L, SILK_WAIT_SLEEP, NULL, NULL, NULL);
}

int silk_task_join(lua_State *L, silk_task *target)
{
    silk_task *t = silk_task_check_current(L, "join");
    if (!is_live(target)) {
        int n = interrupted_now(t, L);
        return n ? n : silk_task_pushresult(target, L, 1);
    }
    silk_tlist_qpush(&target->joiners, t);
    return silk_task_wait(L, SILK_WAIT_JOIN, target->name ? target->name : "task", NULL, NULL);
}

/* --- spawning -------------------------------------------------------------- */

/* Creation sites are few (one per spawn call in the source) and shown for a
 * task's whole life, so each is stored once: an open-addressing set of
 * strings, owned by the engine, freed by silk_task_engine_free(). */
static const char *intern_site(silk_engine *e, const char *site)
{
    uint32_t h = 2166136261u;
    for (const char *p = site; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    if (e->sched->nsites * 2 >= e->sched->sites_cap) {
        size_t cap = e->sched->sites_cap ? e->sched->sites_cap * 2 : 64;
        char **grown = calloc(cap, sizeof *grown);
        if (!grown)
            return "?";
        for (size_t i = 0; i < e->sched->sites_cap; i++) {
            if (!e->sched->sites[i])
                continue;
            uint32_t g = 2166136261u;
            for (const char *p = e->sched->sites[i]; *p; p++)
                g = (g ^ (unsigned char)*p) * 16777619u;
            size_t j = g & (cap - 1);
            while (grown[j])
                j = (j + 1) & (cap - 1);
            grown[j] = e->sched->sites[i];
        }
        free(e->sched->sites);
        e->sched->sites = grown;
        e->sched->sites_cap = cap;
    }
    size_t i = h & (e->sched->sites_cap - 1);
    for (; e->sched->sites[i]; i = (i + 1) & (e->sched->sites_cap - 1))
        if (strcmp(e->sched->sites[i], site) == 0)
            return e->sched->sites[i];
    e->sched->sites[i] = strdup(site);
    if (!e->sched->sites[i])
        return "?";
    e->sched->nsites++;
    return e->sched->sites[i];
}

int silk_task_sched_new(silk_engine *e)
{
    silk_sched *s = calloc(1, sizeof *s);
    if (!s)
        return -1;
    lua_newtable(e->L);
    s->anchors_ref = luaL_ref(e->L, LUA_REGISTRYINDEX);
    e->sched = s;
    return 0;
}

void silk_task_engine_free(silk_engine *e)
{
    silk_sched *s = e->sched;
    if (!s)
        return;
    free(s->wakes);
    for (size_t i = 0; i < s->sites_cap; i++)
        free(s->sites[i]);
    free(s->sites);
    free(s);
    e->sched = NULL;
}

/* The first caller outside silk's own Lua modules: where the task was made. */
static const char *creation_site(silk_engine *e, lua_State *L)
{
    lua_Debug ar;
    char buf[512];
    size_t dirlen = strlen(e->lua_dir);
    for (int level = 1; lua_getstack(L, level, &ar); level++) {
        if (!lua_getinfo(L, "Sl", &ar) || ar.currentline < 0)
            continue;
        if (ar.source[0] == '@' && strncmp(ar.source + 1, e->lua_dir, dirlen) == 0)
            continue;
        snprintf(buf, sizeof buf, "%s:%d", ar.short_src, ar.currentline);
        return intern_site(e, buf);
    }
    return e->current ? "?" : "(engine)";
}

silk_task *silk_task_spawn_in(silk_engine *e, lua_State *L, int nargs, const char *name,
                              double timeout, silk_frame *scope)
{
    int fn = lua_gettop(L) - nargs;
    size_t namelen = name ? strlen(name) + 1 : 0;
    silk_task *t = lua_newuserdata(L, sizeof *t + namelen);
    memset(t, 0, sizeof *t);
    if (name)
        t->name = memcpy((char *)(t + 1), name, namelen);
    luaL_getmetatable(L, SILK_TASK_META);
    lua_setmetatable(L, -2);
    lua_insert(L, fn);                    /* handle below the function */

    lua_State *co = lua_newthread(L);
    t->co_ref = anchor(e, L, -1);
    lua_pop(L, 1);
    lua_xmove(L, co, nargs + 1);          /* function and arguments */
    t->self_ref = anchor(e, L, -1);       /* the handle, left on L */

    t->magic = SILK_TASK_MAGIC;
    t->e = e;
    t->co = co;
    t->id = ++e->sched->next_id;
    t->wait_ref = LUA_NOREF;
    t->created = silk_now();
    t->site = creation_site(e, L);
    t->frame0.owner = t;
    t->frame0.deadline = timeout > 0 ? t->created + timeout : 0;
    t->frame0.err_ref = t->frame0.cause_ref = LUA_NOREF;
    t->frames = &t->frame0;
    ev_init(&t->timer, on_timer);
    t->nwake = nargs;                     /* the first resume passes the arguments */
    t->state = SILK_TASK_DONE;            /* so that set_state below queues it */
    t->counted = TASK_SLOT_NONE;
    all_push(&e->sched->all, t);
    silk_track_acquire(SILK_RES_TASK);

    silk_task *parent = e->current;
    if (parent) {
        t->parent = parent;
        t->creator = parent->id;
        t->service = parent->service;
        sib_push(&parent->children, t);
    }
    if (scope) {
        t->scope = scope;
        scope_push(&scope->scope, t);
    }
    set_state(t, SILK_TASK_RUNNABLE);
    if ((parent && parent->frame0.cancelled) || (scope && scope->cancelled))
        silk_task_cancel(t, "spawned by a cancelled task");
    return t;
}

silk_task *silk_task_spawn(silk_engine *e, lua_State *L, int nargs, const char *name,
                           double timeout)
{
    return silk_task_spawn_in(e, L, nargs, name, timeout, NULL);
}

/* --- finishing ------------------------------------------------------------- */

/* Pushes traceback text of co onto L without the frames of the Lua wrapper
 * that every waiting primitive goes through (silk_task_pushwaiting), so
 * that the user's own lines come right after the primitive. */
static void push_traceback(lua_State *L, lua_State *co)
{
    push_waiting_helper(L, 2);
    luaL_traceback(L, co, NULL, 0);
    lua_call(L, 1, 1);
}

/* Turns the error at the top of co into an error value with a traceback
 * taken where it was raised (the coroutine's stack is still intact). */
static void normalize_error(lua_State *co)
{
    int err = lua_gettop(co);
    int wrap = !silk_err_is(co, err);
    if (wrap) {
        const char *msg = lua_tostring(co, err);
        silk_err_push(co, "error", "%s", msg ? msg : luaL_typename(co, err));
        if (!msg) {
            lua_pushvalue(co, err);
            lua_setfield(co, -2, "value");
        }
        lua_replace(co, err);
    }
    lua_getfield(co, err, "traceback");
    int has = !lua_isnil(co, -1);
    lua_pop(co, 1);
    if (!has) {
        push_traceback(co, co);
        lua_setfield(co, err, "traceback");
    }
}

/* --- failures nobody has joined ---------------------------------------------
 * A task that fails while nobody is joining it is reported on stderr, but
 * not while its parent lives: spawning, doing other work (waits included)
 * and then joining is how a result is taken, and the failure may come
 * first. It is reported when its parent ends without having joined it, or
 * at once when it has no parent left; a join in between takes it off the
 * parent's `unjoined` set, which holds its handle (so its error) until then. */

static void report_failure(silk_task *t, lua_State *L, int err)
{
    lua_getfield(L, err, "kind");
    lua_getfield(L, err, "message");
    lua_getfield(L, err, "traceback");
    fprintf(stderr, "silk: task %llu%s%s%s (created at %s) failed and nobody joined it: %s: %s\n%s\n",
            (unsigned long long)t->id, t->name ? " \"" : "", t->name ? t->name : "",
            t->name ? "\"" : "", t->site, lua_tostring(L, -3), lua_tostring(L, -2),
            lua_isstring(L, -1) ? lua_tostring(L, -1) : "");
    lua_pop(L, 3);
}

static void unjoined_release(silk_task *t)
{
    unjoined_remove(&t->parent->unjoined, t);
    t->on_unjoined = 0;
    unanchor(t->e, t->self_ref);
}

/* t ends: reports its children's failures that nobody joined. */
static void report_unjoined(silk_task *t, lua_State *L)
{
    for (silk_task *c = t->unjoined.head; c; c = t->unjoined.head) {
        silk_task_push_handle(c, L);
        lua_getfenv(L, -1);
        lua_rawgeti(L, -1, 1);
        report_failure(c, L, lua_gettop(L));
        lua_pop(L, 3);
        unjoined_release(c);
    }
}

int silk_task_pushresult(silk_task *t, lua_State *L, int handle)
{
    lua_getfenv(L, handle);
    int res = lua_gettop(L);
    if (t->state == SILK_TASK_FAILED) {
        lua_pushboolean(L, 0);
        lua_rawgeti(L, res, 1);
        lua_remove(L, res);
        if (t->unobserved) {
            t->unobserved = 0;
            t->e->sched->unobserved_failures--;
        }
        if (t->on_unjoined)
            unjoined_release(t);
        t->observed = 1;
        return 2;
    }
    lua_getfield(L, res, "n");
    int n = (int)lua_tointeger(L, -1);
    lua_pop(L, 1);
    luaL_checkstack(L, n + 1, "too many results");
    lua_pushboolean(L, 1);
    for (int i = 1; i <= n; i++)
        lua_rawgeti(L, res, i);
    lua_remove(L, res);
    return n + 1;
}

static int error_kind_is(lua_State *L, int idx, const char *kind)
{
    lua_getfield(L, idx, "kind");
    int same = lua_isstring(L, -1) && strcmp(lua_tostring(L, -1), kind) == 0;
    lua_pop(L, 1);
    return same;
}


/* Ends t: stores its outcome (results, or the error at the top of co for
 * FAILED), releases everything it held, hands its children to its parent,
 * tells its scope and wakes its joiners. */
static void task_finish(silk_task *t, silk_task_state final)
{
    silk_engine *e = t->e;
    lua_State *co = t->co;

    if (final == SILK_TASK_FAILED) {
        normalize_error(co);
        lua_createtable(co, 1, 1);
        lua_insert(co, -2);
        lua_rawseti(co, -2, 1);
    } else {
        int n = lua_gettop(co);
        lua_createtable(co, n, 1);
        lua_insert(co, 1);
        for (int i = n; i >= 1; i--)
            lua_rawseti(co, 1, i);
        lua_pushinteger(co, n);
        lua_setfield(co, 1, "n");
    }
    /* The outcome becomes the handle's environment table: it dies with the
     * handle, with no finaliser to release it, and ending a task writes no
     * shared table (a table written during a GC cycle is rescanned whole in
     * the collector's atomic phase, and the registry is big). */
    silk_task_push_handle(t, co);
    lua_insert(co, -2);
    lua_setfenv(co, -2);
    lua_settop(co, 0);
    report_unjoined(t, co);
    set_state(t, final);
    if (e->sched->end_hook)
        e->sched->end_hook(t, e->sched->end_hook_data);

    end_wait(t);
    while (t->frames != &t->frame0) {     /* inner frames left by a kill */
        silk_frame *f = t->frames;
        t->frames = f->prev;
        for (silk_task *c = f->scope.head; c; c = c->sc_next)
            silk_task_cancel(c, "scope owner ended");
        frame_free(e, f);
    }
    /* Frame 0 interrupts only a live task: its values go now, so that the
     * handle needs no finaliser (see task.h, Ownership). */
    luaL_unref(co, LUA_REGISTRYINDEX, t->frame0.err_ref);
    luaL_unref(co, LUA_REGISTRYINDEX, t->frame0.cause_ref);
    t->frame0.err_ref = t->frame0.cause_ref = LUA_NOREF;

    /* children outlive their parent: they move up to the grandparent */
    for (silk_task *c = t->children.head; c; c = t->children.head) {
        sib_remove(&t->children, c);
        c->parent = t->parent;
        if (t->parent)
            sib_push(&t->parent->children, c);
    }
    if (t->parent)
        sib_remove(&t->parent->children, t);

    silk_task_push_handle(t, co);
    lua_getfenv(co, -1);
    lua_remove(co, -2);
    int failed = final == SILK_TASK_FAILED;
    if (failed)
        lua_rawgeti(co, -1, 1);           /* the error value */
    int err = lua_gettop(co);

    silk_frame *scope = t->scope;
    if (scope) {
        scope_remove(&scope->scope, t);
        t->scope = NULL;
        if (failed && !scope->cancelled) {
            char reason[96];
            snprintf(reason, sizeof reason, "task %llu of the scope failed", (unsigned long long)t->id);
            silk_frame_cancel(scope, reason, co, err);
            t->observed = 1;
        } else if (failed) {
            t->observed = 1;              /* a sibling already failed: the scope reports that one */
        }
        silk_task *owner = scope->owner;
        if (scope->scope.n == 0 && owner->state == SILK_TASK_WAITING &&
            owner->cancel_data == scope && owner->reason == SILK_WAIT_JOIN) {
            lua_pushboolean(owner->co, 1);
            silk_task_wake(owner, 1);
        }
    }

    for (silk_task *j = t->joiners.head; j; j = t->joiners.head) {
        silk_tlist_qremove(j);
        silk_task_push_handle(t, j->co);
        int h = lua_gettop(j->co);
        int n = silk_task_pushresult(t, j->co, h);
        lua_remove(j->co, h);
        silk_task_wake(j, n);
    }

    if (failed && !t->observed && t != e->sched->main && !error_kind_is(co, err, "cancelled")) {
        t->unobserved = 1;
        e->sched->unobserved_failures++;
        if (t->parent) {
            unjoined_push(&t->parent->unjoined, t);
            t->on_unjoined = 1;            /* keeps its handle: see report_unjoined */
        } else {
            report_failure(t, co, err);
        }
    }
    lua_settop(co, 0);

    if (t == e->sched->main) {
        e->sched->main = NULL;
        e->sched->main_status = final;
    }
    all_remove(&e->sched->all, t);
    silk_track_release(SILK_RES_TASK);
    t->co = NULL;
    unanchor(e, t->co_ref);
    if (!t->on_unjoined)
        unanchor(e, t->self_ref);        /* last: the handle may now be collected */
}

/* --- the one resume point --------------------------------------------------- */

/* Ends t, which went over the memory cap (engine.c), with a `memory` error,
 * whatever it did since: stopped by preempt.c (a yield), raised a refusal
 * (LUA_ERRMEM), caught it and raised something else, returned, or parked on
 * a wait (released like a cancelled one). The traceback is taken where the
 * error surfaced. Then collects what it held, before another task
 * allocates against the cap. */
static void mem_fail(silk_task *t, int status)
{
    silk_engine *e = t->e;
    lua_State *co = t->co;
    if (status == LUA_YIELD && t->state == SILK_TASK_WAITING && t->cancel)
        t->cancel(t, t->cancel_data);
    if (status == 0 || status == LUA_YIELD)
        lua_settop(co, 0);
    else
        lua_pop(co, 1);
    const double mb = 1 << 20;
    char why[160];
    int n = !t->mem.system ? snprintf(why, sizeof why, "went past --max-memory (%.0f MB)", e->mem_cap / mb)
                           : snprintf(why, sizeof why, "ran out of memory (the system refused an allocation)");
    if (e->mem_refused)
        snprintf(why + n, sizeof why - n, ": %.1f MB asked for at once were refused", e->mem_refused / mb);
    e->mem_refused = 0;
    silk_err_push(co, "memory", "task %llu%s%s%s %s; Lua heap %.1f MB, %.1f MB of it allocated while the task ran",
                  (unsigned long long)t->id, t->name ? " \"" : "", t->name ? t->name : "",
                  t->name ? "\"" : "", why, e->mem_used / mb, t->mem.allocated / mb);
    if (t->name)
        silk_err_setfield(co, -1, "task", t->name);
    task_finish(t, SILK_TASK_FAILED);
    if (e->mem_collect) {
        e->mem_collect = 0;
        silk_gcpace_full(e->gc, e->L);
    }
}

static void task_resume(silk_engine *e, silk_task *t)
{
    set_state(t, SILK_TASK_RUNNING);
    t->preempted = 0;
    t->ticks = 0;
    e->current = t;
    e->charge = &t->mem;
    if (e->resuming)
        e->resuming(e);                   /* after current is set: see preempt.c */
    int nargs = t->nwake;
    t->nwake = 0;
    t->since = silk_now();
    int status = lua_resume(t->co, nargs);
    t->cpu += silk_now() - t->since;
    e->current = NULL;
    e->charge = NULL;

    if (t->mem.over) {
        mem_fail(t, status);
        return;
    }
    if (status == LUA_YIELD) {
        if (t->kill) {                   /* preempt.c: frame 0 fired while running */
            lua_settop(t->co, 0);
            silk_task_pushinterrupt(t, t->co, &t->frame0);
            task_finish(t, SILK_TASK_FAILED);
            return;
        }
        if (t->state == SILK_TASK_RUNNING) {
            /* time-sliced, silk.sleep(0) or a bare coroutine.yield(): run again later */
            lua_settop(t->co, 0);
            set_state(t, SILK_TASK_RUNNABLE);
            if (t->preempted) {
                /* Behind whatever the next poll wakes: see silk_task_run. */
                runq_remove(&e->sched->runq, t);
                runq_push(&e->sched->sliced, t);
            }
        }
        return;
    }
    if (status == 0 && t->frame0.fired) {
        /* It returned after catching its own cancellation or deadline: it
         * still failed with it (user code cannot swallow an interruption). */
        lua_settop(t->co, 0);
        lua_rawgeti(t->co, LUA_REGISTRYINDEX, t->frame0.err_ref);
        status = LUA_ERRRUN;
    }
    task_finish(t, status == 0 ? SILK_TASK_DONE : SILK_TASK_FAILED);
}

int silk_task_run(silk_engine *e, double budget)
{
    double until = silk_now() + budget;
    for (silk_task *t; (t = e->sched->sliced.head);) {
        runq_remove(&e->sched->sliced, t);
        t->preempted = 0;
        runq_push(&e->sched->runq, t);
    }
    while (e->sched->runq.head) {
        silk_task *t = e->sched->runq.head;
        task_resume(e, t);
        silk_gcpace_assist(e->gc);        /* pace allocation storms inside long runs */
        if (t->preempted)
            break;                        /* used up its slice: let the loop poll first */
        if (silk_now() >= until)
            break;
    }
    return e->sched->runq.n + e->sched->sliced.n;
}

/* An event batch resumes the tasks it woke as soon as its source is done
 * with them, instead of leaving them for the next prepare phase: behind
 * that phase is the rest of the poll's events (hundreds of completions at
 * a thousand transfers in flight) and the run budget, which made a woken
 * task wait tens of milliseconds. Why this is safe:
 *  - the source calls batch_end from its loop callback after the foreign
 *    library has returned (fetch.c: after curl_multi_socket_action and the
 *    drain of finished transfers), so a resumed task may start, cancel or
 *    free anything the source owns, as from the prepare phase;
 *  - batches are never nested and never inside a task (asserted): loop
 *    callbacks do not run while a task runs;
 *  - a task woken in the batch and then cancelled by one resumed before it
 *    is RUNNABLE, not waiting: it still gets its wake values, and the
 *    interruption at its next wait, as when the prepare phase runs it;
 *  - each resume is bounded like any other (time slice, deadlines through
 *    the profiler tick); a task sliced here goes behind the next poll;
 *  - fairness: tasks woken by I/O run ahead of those already runnable,
 *    which keep their order and get the prepare phase's budget in every
 *    loop iteration, so none starves; and batches resume tasks for at most
 *    the same budget per iteration (see silk_task_batch_end), so a busy
 *    loop still gets back to its timers and its run queue. */
void silk_task_batch_begin(silk_engine *e)
{
    assert(!e->sched->batch && !e->current);
    e->sched->batch = 1;
}

void silk_task_batch_end(silk_engine *e)
{
    assert(e->sched->batch && !e->current);
    e->sched->batch = 0;                         /* wakes by the tasks below go to the run queue */
    /* Tasks are resumed here during the first SILK_SCHED_BUDGET of a loop
     * iteration's batches, and go to the run queue after that: each resumed
     * task starts more work (a fetch whose response may be read within the
     * same iteration), so without a bound a saturated loop makes long
     * iterations, and every timer, run-queue task and GC slice waits for
     * them. The bound costs the fetches nothing: their wait only moves from
     * the run queue to the sockets (bench/results/fetch-*-unbounded.txt
     * against the bounded runs). The clock starts at the iteration's first
     * batch (ev_now is no use: arming a timer updates it mid-iteration). */
    unsigned iteration = ev_iteration(e->loop);
    double now = silk_now();
    if (e->sched->batch_iteration != iteration) {
        e->sched->batch_iteration = iteration;
        e->sched->batch_since = now;
    }
    int inline_ok = now - e->sched->batch_since < SILK_SCHED_BUDGET;
    for (silk_task *t; (t = e->sched->woken.head);) {
        if (!inline_ok) {
            runq_remove(&e->sched->woken, t);
            t->batched = 0;
            runq_push(&e->sched->runq, t);
            silk_engine_kick(e);
            continue;
        }
        task_resume(e, t);
        silk_gcpace_assist(e->gc);
    }
}

int silk_task_live(silk_engine *e)
{
    return e->sched->all.n;
}

int silk_task_runnable(silk_engine *e)
{
    return e->sched->runq.n + e->sched->sliced.n;
}

/* --- dumps ------------------------------------------------------------------ */

/* Pushes one task's entry of the dump onto L. */
static void push_dump_entry(silk_task *t, lua_State *L, double now)
{
    char head[640];
    const char *what = t->state == SILK_TASK_WAITING ? silk_wait_reason_name(t->reason)
                                                       : silk_task_state_name(t->state);
    double since = t->state == SILK_TASK_WAITING ? now - t->since : now - t->created;
    int n = snprintf(head, sizeof head, "task %llu%s%s%s [%s%s%s, %.3fs]:\n    created at %s",
                     (unsigned long long)t->id, t->name ? " \"" : "", t->name ? t->name : "",
                     t->name ? "\"" : "", what, t->what ? " " : "", t->what ? t->what : "", since,
                     t->site);
    if (t->creator)
        n += snprintf(head + n, sizeof head - n, " by task %llu", (unsigned long long)t->creator);
    n += snprintf(head + n, sizeof head - n, ", age %.3fs, cpu %.3fms, allocated %.1f MB", now - t->created,
                  t->cpu * 1e3, t->mem.allocated / (double)(1 << 20));
    double d = silk_task_next_deadline(t);
    if (d > 0)
        n += snprintf(head + n, sizeof head - n, ", deadline in %.3fs", d - now);
    if (t->frame0.cancelled)
        snprintf(head + n, sizeof head - n, ", cancelled");
    lua_pushstring(L, head);
    if (t->state == SILK_TASK_RUNNABLE && t->cpu == 0) {
        lua_pushliteral(L, "\n    (not started yet)\n\n");
        lua_concat(L, 2);
        return;
    }
    lua_pushliteral(L, "\n    ");
    push_traceback(L, t->co);
    luaL_gsub(L, lua_tostring(L, -1), "\n", "\n    ");
    lua_remove(L, -2);
    lua_pushliteral(L, "\n\n");
    lua_concat(L, 4);
}

void silk_task_pushdump(silk_engine *e, lua_State *L)
{
    double now = silk_now();
    lua_pushfstring(L, "%d live task%s\n\n", e->sched->all.n, e->sched->all.n == 1 ? "" : "s");
    for (silk_task *t = e->sched->all.head; t; t = t->all_next) {
        push_dump_entry(t, L, now);
        lua_concat(L, 2);
    }
}

void silk_task_dump(silk_engine *e, FILE *out)
{
    lua_State *L = e->L;
    silk_task_pushdump(e, L);
    fputs(lua_tostring(L, -1), out);
    fflush(out);
    lua_pop(L, 1);
}
