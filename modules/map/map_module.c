/*
 * map_module.c: variables computed from other variables.
 *
 *   map $src $dst { default V; KEY V; ~REGEX V; ~*REGEX V; hostnames;
 *                   volatile; include FILE; }
 *   split_clients "$key" $dst { 10% a; 0.5% b; * c; }
 *
 * A map's value is computed when $dst is first used in a request and kept
 * for the rest of it (unless "volatile"). Keys match the source without
 * regard to case: exact keys first (binary search), then with
 * "hostnames" the longest leading wildcard (*.example.com, .example.com)
 * and the longest trailing one (www.example.*), then the regexes in
 * order, whose captures ($1, named) are usable in the value; the
 * request's own captures are restored afterwards. split_clients hashes
 * the key with MurmurHash2 (seed 0) like nginx, so a key lands in the
 * same bucket as it does there.
 */
#include "portico.h"
#include "regex.h"

extern struct pt_module pt_mod_map;

struct map_pair {
	struct pt_str		 key;		/* lowercase; wildcards without '*' / '.' */
	struct pt_cv		*value;
};

struct map_regex {
	struct pt_regex		*re;
	struct pt_cv		*value;
};

struct map_def {
	int			 index;		/* slot in the request cache */
	struct pt_cv		*source;
	struct map_pair		*exact;		/* sorted by key */
	int			 nexact;
	struct map_pair		*head_wild;	/* "*.x.com"/".x.com": key ".x.com" */
	int			 nhead;
	struct map_pair		*tail_wild;	/* "www.x.*": key "www.x." */
	int			 ntail;
	struct map_regex	*regex;
	int			 nregex;
	struct pt_cv		*def;		/* default, "" when absent */
	unsigned		 hostnames:1;
	unsigned		 is_volatile:1;
	unsigned		 split:1;	/* split_clients */
	uint32_t		*split_limit;	/* split_clients: upper hash bound, 0 = "*" */
	struct pt_cv		**split_value;
	int			 nsplit;
};

struct map_main {
	int			 nmaps;		/* request cache slots */
};

/* per request: computed values, by map index */
struct map_cache {
	struct pt_str		*vals;
	unsigned char		*done;
};

/*---- MurmurHash2 (Austin Appleby's, public domain algorithm), seed 0 ----*/

static uint32_t
map_murmur2(const unsigned char *p, size_t len)
{
	const uint32_t m = 0x5bd1e995;
	uint32_t h = 0 ^ (uint32_t)len, k;

	while (len >= 4) {
		k = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
		    (uint32_t)p[3] << 24;
		k *= m;
		k ^= k >> 24;
		k *= m;
		h *= m;
		h ^= k;
		p += 4;
		len -= 4;
	}
	switch (len) {
	case 3:
		h ^= (uint32_t)p[2] << 16;
		/* FALLTHROUGH */
	case 2:
		h ^= (uint32_t)p[1] << 8;
		/* FALLTHROUGH */
	case 1:
		h ^= p[0];
		h *= m;
	}
	h ^= h >> 13;
	h *= m;
	h ^= h >> 15;
	return h;
}

/*---- runtime (worker) ----*/

static int
map_pair_cmp_key(struct pt_str key, const struct map_pair *e)
{
	size_t n = PT_MIN(key.len, e->key.len);
	int c = memcmp(key.data, e->key.data, n);

	if (c != 0)
		return c;
	return key.len < e->key.len ? -1 : key.len > e->key.len;
}

static struct map_pair *
map_find_exact(const struct map_def *md, struct pt_str key)
{
	int lo = 0, hi = md->nexact - 1, mid, c;

	while (lo <= hi) {
		mid = (lo + hi) / 2;
		c = map_pair_cmp_key(key, &md->exact[mid]);
		if (c == 0)
			return &md->exact[mid];
		if (c < 0)
			hi = mid - 1;
		else
			lo = mid + 1;
	}
	return NULL;
}

/* the value of map <md> for <r> (not cached) */
static void
map_compute(struct pt_request *r, const struct map_def *md, struct pt_str *out)
{
	struct pt_str src, low;
	struct map_pair *e;
	char *l;
	size_t i;
	int k, best;

	pt_cv_eval(r, md->source, &src);
	l = pt_palloc(r->pool, src.len + 1);
	for (i = 0; i < src.len; i++)
		l[i] = (char)(src.data[i] >= 'A' && src.data[i] <= 'Z' ? src.data[i] + 32 :
		    src.data[i]);
	low.data = l;
	low.len = src.len;
	if (md->hostnames && low.len > 0 && low.data[low.len - 1] == '.')
		low.len--;
	if ((e = map_find_exact(md, low)) != NULL) {
		pt_cv_eval(r, e->value, out);
		return;
	}
	if (md->hostnames) {
		/* the longest leading wildcard ".x.com" matching "a.x.com" or "x.com" */
		for (k = 0, best = -1; k < md->nhead; k++) {
			struct pt_str w = md->head_wild[k].key;

			if ((low.len >= w.len && memcmp(low.data + low.len - w.len, w.data, w.len) == 0) ||
			    (low.len == w.len - 1 && memcmp(low.data, w.data + 1, low.len) == 0))
				if (best < 0 || w.len > md->head_wild[best].key.len)
					best = k;
		}
		if (best >= 0) {
			pt_cv_eval(r, md->head_wild[best].value, out);
			return;
		}
		for (k = 0, best = -1; k < md->ntail; k++) {
			struct pt_str w = md->tail_wild[k].key;

			if (low.len > w.len && memcmp(low.data, w.data, w.len) == 0 &&
			    (best < 0 || w.len > md->tail_wild[best].key.len))
				best = k;
		}
		if (best >= 0) {
			pt_cv_eval(r, md->tail_wild[best].value, out);
			return;
		}
	}
	for (k = 0; k < md->nregex; k++) {
		/* the request's captures survive the map's own match */
		size_t *caps = r->captures;
		int ncaps = r->ncaptures, size = r->captures_size;
		const char *data = r->captures_data;
		const struct pt_regex *re = r->captures_re;
		int m;

		r->captures = NULL;
		r->ncaptures = r->captures_size = 0;
		m = pt_regex_exec(r, md->regex[k].re, src);
		if (m == 1)
			pt_cv_eval(r, md->regex[k].value, out);
		r->captures = caps;
		r->ncaptures = ncaps;
		r->captures_size = size;
		r->captures_data = data;
		r->captures_re = re;
		if (m == 1)
			return;
		if (m < 0)
			break;
	}
	pt_cv_eval(r, md->def, out);
}

static void
map_split(struct pt_request *r, const struct map_def *md, struct pt_str *out)
{
	struct pt_str key;
	uint32_t h;
	int i;

	pt_cv_eval(r, md->source, &key);
	h = map_murmur2((const unsigned char *)key.data, key.len);
	for (i = 0; i < md->nsplit; i++) {
		if (md->split_limit[i] == 0 || h < md->split_limit[i]) {
			pt_cv_eval(r, md->split_value[i], out);
			return;
		}
	}
	*out = PT_STR("");
}

static int
map_var_get(struct pt_request *r, void *data, struct pt_str *out)
{
	const struct map_def *md = data;
	struct map_main *mm = pt_http_main_conf(pt_worker.cycle, &pt_mod_map);
	struct map_cache *mc = pt_http_ctx(r, &pt_mod_map);

	if (!md->is_volatile) {
		if (mc == NULL) {
			mc = pt_palloc(r->pool, sizeof(*mc));
			mc->vals = pt_palloc(r->pool, sizeof(*mc->vals) * (size_t)mm->nmaps);
			mc->done = pt_pcalloc(r->pool, (size_t)mm->nmaps);
			pt_http_set_ctx(r, &pt_mod_map, mc);
		}
		if (mc->done[md->index]) {
			*out = mc->vals[md->index];
			return PT_OK;
		}
	}
	if (md->split)
		map_split(r, md, out);
	else
		map_compute(r, md, out);
	if (!md->is_volatile) {
		mc->vals[md->index] = *out;
		mc->done[md->index] = 1;
	}
	return PT_OK;
}

/*---- configuration (master) ----*/

static int
map_pair_cmp(const void *a, const void *b)
{
	return map_pair_cmp_key(((const struct map_pair *)a)->key, (const struct map_pair *)b);
}

static const char *
map_define(struct pt_conf_ctx *cf, struct map_def *md, const char *var)
{
	struct pt_str name;

	if (var[0] != '$' || var[1] == '\0')
		return pt_psprintf(cf->pool, "invalid variable name \"%s\"", var);
	name.data = var + 1;
	name.len = strlen(var + 1);
	if (pt_var_defined_data(cf, name, map_var_get) != NULL ||
	    pt_var_define(cf, name, map_var_get, md) != PT_OK)
		return pt_psprintf(cf->pool, "variable \"%s\" is already defined", var);
	md->index = ((struct map_main *)cf->http_conf[pt_mod_map.index])->nmaps++;
	return NULL;
}

static struct pt_str
map_lower(struct pt_conf_ctx *cf, const char *s, size_t skip, size_t cut)
{
	size_t n = strlen(s) - skip - cut, i;
	char *p = pt_palloc(cf->pool, n + 1);

	for (i = 0; i < n; i++)
		p[i] = (char)(s[skip + i] >= 'A' && s[skip + i] <= 'Z' ? s[skip + i] + 32 :
		    s[skip + i]);
	p[n] = '\0';
	return (struct pt_str){ n, p };
}

static const char *
map_block(struct pt_conf_ctx *cf, const struct pt_directive *d, void *conf)
{
	const struct pt_conf_node *n = cf->node, *c;
	struct map_def *md = pt_pcalloc(cf->pool, sizeof(*md));
	const char *err = NULL;
	int total = 0;

	(void)d;
	(void)conf;
	if ((md->source = pt_cv_compile(cf, n->args[0], &err)) == NULL)
		return err;
	if ((err = map_define(cf, md, n->args[1])) != NULL)
		return err;
	for (c = n->children; c != NULL; c = c->next)
		total++;
	md->exact = pt_pcalloc(cf->pool, sizeof(*md->exact) * (size_t)(total + 1));
	md->head_wild = pt_pcalloc(cf->pool, sizeof(*md->head_wild) * (size_t)(total + 1));
	md->tail_wild = pt_pcalloc(cf->pool, sizeof(*md->tail_wild) * (size_t)(total + 1));
	md->regex = pt_pcalloc(cf->pool, sizeof(*md->regex) * (size_t)(total + 1));
	/* flags first: "hostnames" changes how the keys read */
	for (c = n->children; c != NULL; c = c->next)
		if (c->nargs == 0 && strcmp(c->name, "hostnames") == 0)
			md->hostnames = 1;
	for (c = n->children; c != NULL; c = c->next) {
		const char *key = c->name;
		struct pt_cv *value;
		size_t kl = strlen(key);
		int k;

		cf->node = c;
		if (c->nargs == 0 && (strcmp(key, "hostnames") == 0 || strcmp(key, "volatile") == 0)) {
			if (key[0] == 'v')
				md->is_volatile = 1;
			continue;
		}
		if (c->block || c->nargs != 1) {
			pt_conf_error(cf, "invalid map entry \"%s\": expected \"KEY VALUE\"", key);
			cf->node = n;
			return "";
		}
		if ((value = pt_cv_compile(cf, c->args[0], &err)) == NULL) {
			pt_conf_error(cf, "%s", err);
			cf->node = n;
			return "";
		}
		if (strcmp(key, "default") == 0) {
			md->def = value;
			continue;
		}
		if (key[0] == '\\')
			key++;		/* "\default", "\~x": a literal key */
		else if (key[0] == '~') {
			int caseless = key[1] == '*';
			struct pt_regex *re = pt_regex_compile(cf, key + 1 + caseless, caseless, &err);

			if (re == NULL) {
				pt_conf_error(cf, "%s", err);
				cf->node = n;
				return "";
			}
			md->regex[md->nregex].re = re;
			md->regex[md->nregex++].value = value;
			continue;
		}
		kl = strlen(key);
		if (md->hostnames && kl > 2 && key[0] == '*' && key[1] == '.') {
			md->head_wild[md->nhead].key = map_lower(cf, key, 1, 0);
			md->head_wild[md->nhead++].value = value;
			continue;
		}
		if (md->hostnames && kl > 1 && key[0] == '.') {
			md->head_wild[md->nhead].key = map_lower(cf, key, 0, 0);
			md->head_wild[md->nhead++].value = value;
			continue;
		}
		if (md->hostnames && kl > 2 && key[kl - 1] == '*' && key[kl - 2] == '.') {
			md->tail_wild[md->ntail].key = map_lower(cf, key, 0, 1);
			md->tail_wild[md->ntail++].value = value;
			continue;
		}
		md->exact[md->nexact].key = map_lower(cf, key, 0,
		    md->hostnames && kl > 1 && key[kl - 1] == '.' ? 1 : 0);
		for (k = 0; k < md->nexact; k++)
			if (map_pair_cmp_key(md->exact[md->nexact].key, &md->exact[k]) == 0) {
				pt_conf_error(cf, "duplicate map key \"%s\"", key);
				cf->node = n;
				return "";
			}
		md->exact[md->nexact++].value = value;
	}
	cf->node = n;
	qsort(md->exact, (size_t)md->nexact, sizeof(*md->exact), map_pair_cmp);
	if (md->def == NULL && (md->def = pt_cv_compile(cf, "", &err)) == NULL)
		return err;
	return NULL;
}

static const char *
map_split_block(struct pt_conf_ctx *cf, const struct pt_directive *d, void *conf)
{
	const struct pt_conf_node *n = cf->node, *c;
	struct map_def *md = pt_pcalloc(cf->pool, sizeof(*md));
	const char *err = NULL;
	uint64_t sum = 0;		/* in 1/100 of a percent */
	int total = 0;

	(void)d;
	(void)conf;
	md->split = 1;
	if ((md->source = pt_cv_compile(cf, n->args[0], &err)) == NULL)
		return err;
	if ((err = map_define(cf, md, n->args[1])) != NULL)
		return err;
	for (c = n->children; c != NULL; c = c->next)
		total++;
	md->split_limit = pt_pcalloc(cf->pool, sizeof(*md->split_limit) * (size_t)(total + 1));
	md->split_value = pt_pcalloc(cf->pool, sizeof(*md->split_value) * (size_t)(total + 1));
	for (c = n->children; c != NULL; c = c->next) {
		const char *p = c->name;
		uint64_t pct = 0;
		int frac = 0, digits = 0;

		cf->node = c;
		if (c->block || c->nargs != 1) {
			pt_conf_error(cf, "invalid entry \"%s\": expected \"PERCENT%% VALUE\"", p);
			cf->node = n;
			return "";
		}
		if (strcmp(p, "*") != 0) {
			for (; *p >= '0' && *p <= '9' && digits < 4; p++, digits++)
				pct = pct * 10 + (uint64_t)(*p - '0');
			if (*p == '.')
				for (p++; *p >= '0' && *p <= '9' && frac < 2; p++, frac++)
					pct = pct * 10 + (uint64_t)(*p - '0');
			for (; frac < 2; frac++)
				pct *= 10;
			if (digits == 0 || strcmp(p, "%") != 0 || pct == 0) {
				pt_conf_error(cf, "invalid percentage \"%s\"", c->name);
				cf->node = n;
				return "";
			}
			sum += pct;
			if (sum > 10000) {
				pt_conf_error(cf, "percentages add up to more than 100%%");
				cf->node = n;
				return "";
			}
			/* the bucket is [previous bound, this bound) of the 32-bit hash */
			md->split_limit[md->nsplit] = (uint32_t)(sum * 0xffffffffULL / 10000);
		}
		if ((md->split_value[md->nsplit] = pt_cv_compile(cf, c->args[0], &err)) == NULL) {
			pt_conf_error(cf, "%s", err);
			cf->node = n;
			return "";
		}
		md->nsplit++;
	}
	cf->node = n;
	return NULL;
}

static const struct pt_directive map_directives[] = {
	{ "map", PT_CTX_HTTP, PT_D_BLOCK | PT_D_RAW_BLOCK | PT_D_MULTI, 0, 2, 2, PT_LEVEL_NONE,
	  PT_NO_OFFSET, map_block, NULL, NULL, "define a variable from another by a table" },
	{ "split_clients", PT_CTX_HTTP, PT_D_BLOCK | PT_D_RAW_BLOCK | PT_D_MULTI, 0, 2, 2,
	  PT_LEVEL_NONE, PT_NO_OFFSET, map_split_block, NULL, NULL,
	  "define a variable splitting keys by percentage (A/B, canary)" },
	PT_DIRECTIVE_END
};

struct pt_module pt_mod_map = {
	.name = "map",
	.directives = map_directives,
	.conf_size = { [PT_LEVEL_HTTP] = sizeof(struct map_main) },
};
