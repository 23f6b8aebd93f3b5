/*
 * gcbench.c -- runs bench/gc/workload.lua in an engine with the GC pacer on
 * or off (LuaJIT's own collector), so that the two can be compared in
 * separate processes. Built by bench/gc/run.sh against a silk build tree.
 *
 *   gcbench [--no-pacer] [--budget SECONDS] workload.lua TASKS WORKERS ITERS [SHAPE]
 *
 * SHAPE (passed to the workload as a string): "inline" (default) or "task".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "engine_run.h"

int main(int argc, char **argv)
{
    silk_engine_options o;
    silk_engine_defaults(&o);
    int i = 1;
    for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
        if (strcmp(argv[i], "--no-pacer") == 0)
            o.gc_pacer = 0;
        else if (strcmp(argv[i], "--budget") == 0 && i + 1 < argc)
            o.gc_budget = atof(argv[++i]);
        else {
            fprintf(stderr, "gcbench: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (argc - i < 4) {
        fprintf(stderr, "usage: gcbench [--no-pacer] [--budget S] workload.lua TASKS WORKERS ITERS [SHAPE]\n");
        return 2;
    }
    silk_engine *e = silk_engine_new(&o);
    if (!e)
        return 1;
    lua_State *L = silk_engine_lua(e);
    if (luaL_loadfile(L, argv[i]) != 0) {
        fprintf(stderr, "gcbench: %s\n", lua_tostring(L, -1));
        silk_engine_free(e);
        return 2;
    }
    lua_pushstring(L, o.gc_pacer ? "pacer" : "default");
    for (int k = i + 1; k < i + 4; k++)
        lua_pushinteger(L, atoi(argv[k]));
    lua_pushstring(L, argc - i > 4 ? argv[i + 4] : "inline");
    silk_outcome out = silk_engine_run_main(e, 5, "gcbench");
    silk_engine_free(e);
    return out == SILK_OK ? 0 : 1;
}
