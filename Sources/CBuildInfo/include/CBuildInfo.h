#ifndef CBUILDINFO_H
#define CBUILDINFO_H

/* The git commit this binary was built from, or "unknown" (see Package.swift). */
const char *visibility_worker_build_commit(void);

#endif
