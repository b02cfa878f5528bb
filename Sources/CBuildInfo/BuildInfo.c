#include "CBuildInfo.h"

/* Set by Package.swift from VISIBILITY_WORKER_COMMIT when scripts/package builds. */
#ifndef VISIBILITY_WORKER_COMMIT
#define VISIBILITY_WORKER_COMMIT "unknown"
#endif

const char *visibility_worker_build_commit(void) {
    return VISIBILITY_WORKER_COMMIT;
}
