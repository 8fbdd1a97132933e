/*
 * status.c: `upstream_status` in a location answers with the state of
 * every server of every upstream group as JSON. With a zone, the state is
 * what all workers share; without, it is the answering worker's own view.
 *
 *   {"upstreams":{"NAME":{"method":"round_robin","zone":"z"|null,
 *     "peers":[{"server":"127.0.0.1:8081","name":"host:port","weight":1,
 *       "backup":false,"state":"up"|"down"|"unavail"|"unhealthy"|"draining",
 *       "active":0,"requests":12,"fails":0,"failures":1,"ejections":0,
 *       "max_conns":0,"health_checks":{"last_status":200,"fails":0,
 *       "passes":3,"checked_ms_ago":120}|null}, ...]}, ...}}
 */
#include "upstream_priv.h"

/* append <s> as a JSON string (quotes, escapes) */
static char *
status_json_str(char *p, const char *s)
{
	*p++ = '"';
	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\') {
			*p++ = '\\';
			*p++ = (char)ch;
		} else if (ch < 0x20) {
			p += sprintf(p, "\\u%04x", ch);
		} else {
			*p++ = (char)ch;
		}
	}
	*p++ = '"';
	return p;
}

static const char *
status_state(const struct pt_upstream *u, const struct pt_upstream_peer *p)
{
	const struct pt_upstream_state *st = p->st;

	if (p->down)
		return "down";
	if (__atomic_load_n(&st->hc_down, __ATOMIC_RELAXED))
		return "unhealthy";
	if (p->max_fails > 0 && u->npeers - u->nabsent > 1 &&
	    __atomic_load_n(&st->fails, __ATOMIC_RELAXED) >= (uint32_t)p->max_fails &&
	    pt_current_msec < __atomic_load_n(&st->unavail_until, __ATOMIC_RELAXED))
		return "unavail";
	if (u->outlier_consecutive > 0 &&
	    pt_current_msec < __atomic_load_n(&st->ejected_until, __ATOMIC_RELAXED))
		return "ejected";
	if (p->max_conns > 0 &&
	    __atomic_load_n(&st->conns, __ATOMIC_RELAXED) >= (uint32_t)p->max_conns)
		return "full";
	return "up";
}

static int
upstream_status_handler(struct pt_request *r)
{
	struct pt_upstream_main *um = pt_http_main_conf(pt_worker.cycle, &pt_mod_upstream);
	struct pt_upstream **ups = um->upstreams.elts;
	size_t i, len = 64;
	char *buf, *p;
	int j, first;

	for (i = 0; i < um->upstreams.nelts; i++) {
		len += 128 + 2 * strlen(ups[i]->name) * 6;
		for (j = 0; j < ups[i]->npeers; j++)
			len += 512 + strlen(ups[i]->peers[j].name) * 6;
	}
	buf = pt_palloc(r->pool, len);
	p = buf;
	p += sprintf(p, "{\"upstreams\":{");
	for (i = 0; i < um->upstreams.nelts; i++) {
		struct pt_upstream *u = ups[i];

		if (i > 0)
			*p++ = ',';
		p = status_json_str(p, u->name);
		p += sprintf(p, ":{\"method\":\"%s\",\"zone\":", u->balancer->name);
		if (u->zone != NULL)
			p = status_json_str(p, u->zone->name);
		else
			p += sprintf(p, "null");
		p += sprintf(p, ",\"peers\":[");
		if (u->resolve != NULL)
			pt_upstream_resolve_sync(u);
		for (j = 0, first = 1; j < u->npeers; j++) {
			struct pt_upstream_peer *pe = &u->peers[j];
			struct pt_upstream_state *st = pe->st;

			if (pe->absent)
				continue;	/* a `resolve` slot with no address now */
			if (!first)
				*p++ = ',';
			first = 0;
			p += sprintf(p, "{\"server\":");
			p = status_json_str(p, pe->addr.text);
			p += sprintf(p, ",\"name\":");
			p = status_json_str(p, pe->name);
			p += sprintf(p, ",\"weight\":%ld,\"backup\":%s,\"state\":\"%s\",\"active\":%u,"
			    "\"requests\":%llu,\"fails\":%u,\"failures\":%llu,\"ejections\":%llu,"
			    "\"max_conns\":%ld,\"health_checks\":",
			    pe->weight, pe->backup ? "true" : "false", status_state(u, pe),
			    __atomic_load_n(&st->conns, __ATOMIC_RELAXED),
			    (unsigned long long)__atomic_load_n(&st->requests, __ATOMIC_RELAXED),
			    __atomic_load_n(&st->fails, __ATOMIC_RELAXED),
			    (unsigned long long)__atomic_load_n(&st->failures, __ATOMIC_RELAXED),
			    (unsigned long long)__atomic_load_n(&st->ejections, __ATOMIC_RELAXED),
			    pe->max_conns);
			if (u->hc == NULL) {
				p += sprintf(p, "null}");
				continue;
			}
			p += sprintf(p, "{\"last_status\":%d,\"fails\":%u,\"passes\":%u,"
			    "\"checked_ms_ago\":%lld}}", st->hc_status, st->hc_fails, st->hc_passes,
			    st->hc_checked ? (long long)(pt_current_msec - st->hc_checked) : -1LL);
		}
		p += sprintf(p, "]}");
	}
	p += sprintf(p, "}}\n");
	if (pt_http_send_simple(r, 200, PT_STR("application/json"),
	    (struct pt_str){ (size_t)(p - buf), buf }) != PT_OK) {
		pt_http_finalize(r, PT_ERROR);
		return PT_DONE;
	}
	pt_http_finalize(r, PT_DONE);
	return PT_DONE;
}

/* upstream_status (in a location) */
const char *
pt_upstream_set_status(struct pt_conf_ctx *cf, const struct pt_directive *d, void *conf)
{
	struct pt_http_loc *loc = cf->loc_conf[pt_mod_http_core.index];

	(void)conf;
	if (loc->content != NULL)
		return pt_psprintf(cf->pool, "\"%s\" directive: the location already has a "
		    "content handler", d->name);
	loc->content = upstream_status_handler;
	return NULL;
}
