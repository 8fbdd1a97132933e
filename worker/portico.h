/*
 * portico.h: umbrella header for modules and the runtime, in dependency
 * order. Modules include only this (and their own headers).
 */
#ifndef PT_PORTICO_H
#define PT_PORTICO_H

#include "config.h"
#include "core.h"
#include "pool.h"
#include "buf.h"
#include "log.h"
#include "conf.h"
#include "module.h"
#include "cycle.h"
#include "shm.h"
#include "event.h"
#include "conn.h"
#include "http_parse.h"
#include "var.h"
#include "http.h"
#include "upstream.h"

#endif /* PT_PORTICO_H */
