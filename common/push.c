/*
 * The decoded push request's lifecycle. The request owns only its arena;
 * every string in it is borrowed from the decoded body or lives in that
 * arena. One thread at a time.
 */
#include "common/push.h"

void noa_push_request_fini(struct noa_push_request *req)
{
    noa_arena_fini(&req->arena);
    req->streams = NULL;
    req->n_streams = 0;
}
