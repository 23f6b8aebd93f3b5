/*
 * test_cdp.c -- core/cdp.c against the real chromium-headless-shell, on a
 * bare libev loop (no engine, no Lua): calls and replies, errors, sessions
 * and their generations, forgotten calls, a browser killed with calls
 * pending, the restart after it, and shutdown with calls pending.
 *
 * Skipped (exit 0 with a note) when the browser is not installed.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <ev.h>

#include "cdp.h"
#include "check.h"


static struct ev_loop *loop;
static silk_cdp *C;

typedef struct reply {
    int fired;
    silk_cdp_status st;
    json_object *result;
    char message[200];
} reply;

static void on_reply(silk_cdp_status st, json_object *result, const char *message, void *ud)
{
    reply *r = ud;
    r->fired++;
    r->st = st;
    r->result = json_object_get(result);
    snprintf(r->message, sizeof r->message, "%s", message ? message : "");
}

static int crashed_events, batches_open;
static void on_browser(const char *method, json_object *params, void *ud)
{
    if (strcmp(method, SILK_CDP_EV_CRASHED) == 0)
        crashed_events++;
}

static void around(int begin, void *ud)
{
    batches_open += begin ? 1 : -1;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Runs the loop until *flag or `secs` have passed. */
static void run_until(int *flag, double secs)
{
    double end = now() + secs;
    while (!*flag && now() < end) {
        ev_run(loop, EVRUN_NOWAIT);
        if (!*flag)
            nanosleep(&(struct timespec){ 0, 5000000 }, NULL);
    }
}

static void settle(double secs)
{
    int never = 0;
    run_until(&never, secs);
}

static reply call(const char *session, const char *method, json_object *params)
{
    reply r = { 0 };
    uint64_t id = silk_cdp_call(C, session, method, params, on_reply, &r);
    CHECK(id > 0, "%s: call refused", method);
    CHECK(r.fired == 0, "%s: callback fired inside silk_cdp_call", method);
    run_until(&r.fired, 10);
    CHECK(r.fired == 1, "%s: no reply", method);
    return r;
}

/* Runtime.evaluate's params: expression, and flag (NULL: none) set true. */
static json_object *expr(const char *expression, const char *flag)
{
    json_object *p = silk_json_set_str(json_object_new_object(), "expression", expression);
    return flag ? silk_json_set_bool(p, flag, 1) : p;
}

static void test_calls(void)
{
    char err[200];
    CHECK(silk_cdp_start(C, err, sizeof err) == 0, "start: %s", err);
    reply r = call(NULL, "Browser.getVersion", NULL);
    CHECK(r.st == SILK_CDP_OK && strstr(silk_json_str(silk_json_get(r.result, "product")), "Chrome"),
          "getVersion: %d %s", r.st, r.message);
    json_object_put(r.result);

    r = call(NULL, "No.suchMethod", NULL);
    CHECK(r.st == SILK_CDP_ERROR && strstr(r.message, "wasn't found"), "unknown method: %d %s", r.st, r.message);
    json_object_put(r.result);
    CHECK(batches_open == 0, "event batches left open: %d", batches_open);
}

static char session[128];

static void test_session(void)
{
    reply r = call(NULL, "Target.createTarget", silk_json_set_str(json_object_new_object(), "url", "about:blank"));
    const char *target = silk_json_str(silk_json_get(r.result, "targetId"));
    CHECK(r.st == SILK_CDP_OK && target, "createTarget: %s", r.message);
    reply a = call(NULL, "Target.attachToTarget", silk_json_set_bool(silk_json_set_str(json_object_new_object(), "targetId", target), "flatten", 1));
    const char *sid = silk_json_str(silk_json_get(a.result, "sessionId"));
    CHECK(a.st == SILK_CDP_OK && sid, "attach: %s", a.message);
    snprintf(session, sizeof session, "%s", sid ? sid : "");
    json_object_put(r.result);
    json_object_put(a.result);
    CHECK(silk_cdp_session_add(C, session, NULL, NULL) == 0, "session_add");

    r = call(session, "Runtime.evaluate", expr("6*7", "returnByValue"));
    json_object *v = silk_json_get(silk_json_get(r.result, "result"), "value");
    CHECK(r.st == SILK_CDP_OK && json_object_get_int64(v) == 42, "evaluate on the session: %s", r.message);
    json_object_put(r.result);

    /* a string with a NUL inside comes back whole (its length kept), and
     * the browser goes on: the message is JSON like any other */
    r = call(session, "Runtime.evaluate", expr("'a\\u0000b'", "returnByValue"));
    v = silk_json_get(silk_json_get(r.result, "result"), "value");
    CHECK(r.st == SILK_CDP_OK && json_object_get_string_len(v) == 3 &&
          memcmp(json_object_get_string(v), "a\0b", 3) == 0, "a string with a NUL: %d %s", r.st, r.message);
    json_object_put(r.result);
    CHECK(silk_cdp_running(C), "the browser ended over a string with a NUL");

    /* a reply made stale by a bump is dropped, a forgotten call never answers */
    silk_cdp_stats before, after;
    silk_cdp_get_stats(C, &before);
    reply stale = { 0 }, forgotten = { 0 };
    silk_cdp_call(C, session, "Runtime.evaluate", expr("1", NULL), on_reply, &stale);
    silk_cdp_session_bump(C, session);
    uint64_t id = silk_cdp_call(C, session, "Runtime.evaluate", expr("2", NULL),
                                on_reply, &forgotten);
    silk_cdp_forget(C, id);
    r = call(session, "Runtime.evaluate", expr("3", NULL));
    json_object_put(r.result);
    silk_cdp_get_stats(C, &after);
    CHECK(stale.fired == 0 && forgotten.fired == 0, "stale %d forgotten %d fired", stale.fired, forgotten.fired);
    CHECK(after.dropped - before.dropped == 2, "dropped %ld", after.dropped - before.dropped);
    CHECK(after.pending == 0, "pending %ld", after.pending);

    /* a call on an unknown session is refused at once */
    reply none = { 0 };
    CHECK(silk_cdp_call(C, "nope", "Runtime.evaluate", NULL, on_reply, &none) == 0 && !none.fired,
          "call on an unknown session");

    /* a renderer crash: the owner fails the session's calls itself */
    reply hang = { 0 };
    silk_cdp_call(C, session, "Runtime.evaluate",
                  expr("new Promise(() => {})", "awaitPromise"),
                  on_reply, &hang);
    settle(0.1);
    silk_cdp_session_fail(C, session, SILK_CDP_TARGET_CRASHED, "render_crashed");
    CHECK(hang.fired == 1 && hang.st == SILK_CDP_TARGET_CRASHED, "session_fail: %d %d", hang.fired, hang.st);
}

static void test_browser_killed(void)
{
    silk_cdp_stats st;
    silk_cdp_get_stats(C, &st);
    pid_t pid = st.pid;
    reply hang = { 0 };
    silk_cdp_call(C, session, "Runtime.evaluate",
                  expr("new Promise(() => {})", "awaitPromise"),
                  on_reply, &hang);
    settle(0.1);
    kill(pid, SIGKILL);
    run_until(&hang.fired, 5);
    CHECK(hang.fired == 1 && hang.st == SILK_CDP_BROWSER_CRASHED, "pending call on a killed browser: %d %d",
          hang.fired, hang.st);
    CHECK(crashed_events == 1, "crash events %d", crashed_events);
    CHECK(!silk_cdp_running(C), "still running");
    silk_cdp_get_stats(C, &st);
    CHECK(st.crashes == 1 && st.pending == 0, "crashes %ld pending %ld", st.crashes, st.pending);
    CHECK(kill(pid, 0) != 0, "the killed browser's process is still there");

    char err[200];
    CHECK(silk_cdp_start(C, err, sizeof err) == 0, "restart: %s", err);
    reply r = call(NULL, "Browser.getVersion", NULL);
    CHECK(r.st == SILK_CDP_OK, "after restart: %s", r.message);
    json_object_put(r.result);
    silk_cdp_get_stats(C, &st);
    CHECK(st.restarts == 1, "restarts %ld", st.restarts);
}

int main(void)
{
    const char *bin = getenv("SILK_CHROMIUM") ? getenv("SILK_CHROMIUM") : "/usr/lib/chromium/chromium-headless-shell";
    if (access(bin, X_OK) != 0) {
        printf("test_cdp: %s not installed, skipped\n", bin);
        return 0;
    }
    loop = ev_default_loop(0);
    silk_cdp_options o = { .around = around };
    C = silk_cdp_new(loop, &o, on_browser, NULL);
    CHECK(C != NULL, "new");
    test_calls();
    test_session();
    test_browser_killed();

    /* shutdown with a call pending: it completes with CLOSED, the
     * browser is gone */
    silk_cdp_stats st;
    silk_cdp_get_stats(C, &st);
    pid_t pid = st.pid;
    reply last = { 0 };
    silk_cdp_call(C, NULL, "Browser.getVersion", NULL, on_reply, &last);
    silk_cdp_free(C);
    CHECK(last.fired == 1 && last.st == SILK_CDP_CLOSED, "pending at free: %d %d", last.fired, last.st);
    CHECK(kill(pid, 0) != 0, "the browser outlived silk_cdp_free");
    return check_done("test_cdp");
}
