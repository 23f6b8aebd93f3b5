/*
 * channel.h -- channels between tasks (Go's chan): a FIFO of Lua values with
 * a capacity (0 = rendezvous), blocking send and receive, and close.
 *
 * A channel is a Lua userdata; its buffered values live in its environment
 * table and a blocked sender's value is held by the sender's wait
 * (silk_task.wait_ref), so the GC sees every value. Waiting tasks sit on the
 * channel's two wait queues; a cancelled or timed-out waiter is dequeued by
 * the task module before it is resumed.
 *
 * Semantics: send(v) hands v to a waiting receiver, else buffers it, else
 * waits; it raises on a closed channel (also when the channel is closed
 * while the sender waits). recv() returns the next value, or nil once the
 * channel is closed and drained. close() wakes every waiter. nil cannot be
 * sent (it is the end-of-channel value).
 */
#ifndef SILK_CHANNEL_H
#define SILK_CHANNEL_H

#include <lua.h>

/* Sets the fields of the table on top of L: channel(cap) and the channel
 * metatable's methods (send, recv, close, len, cap, is_closed). */
void silk_channel_register(lua_State *L);

#endif
