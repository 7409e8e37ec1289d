/*
 * version.h - the one version string: the status document's "version",
 * the Prometheus hookspool_info label and `hookspool --version` all
 * print HS_VERSION.
 */
#ifndef HS_VERSION_H
#define HS_VERSION_H

#define HS_VERSION "1.0.0"

#endif
