/*
 * regex.c: PCRE2 compilation at configuration time and matching with
 * captures at run time (see regex.h).
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "portico.h"
#include "regex.h"

/* one match-data block per process, large enough for every pattern */
static pcre2_match_data	*regex_md;
static uint32_t		 regex_md_pairs;

struct pt_regex *
pt_regex_compile(struct pt_conf_ctx *cf, const char *pattern, int caseless, const char **err)
{
	struct pt_regex *re;
	pcre2_code *code;
	PCRE2_SIZE off;
	PCRE2_UCHAR msg[256];
	uint32_t ncap = 0, nnamed = 0, nsize = 0, i;
	PCRE2_SPTR table;
	int ec;

	code = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED,
	    caseless ? PCRE2_CASELESS : 0, &ec, &off, NULL);
	if (code == NULL) {
		pcre2_get_error_message(ec, msg, sizeof(msg));
		*err = pt_psprintf(cf->pool, "pcre2_compile() failed: %s in \"%s\" at offset %zu",
		    (char *)msg, pattern, (size_t)off);
		return NULL;
	}
	/* JIT is an optimisation: without it (no JIT support) matching still works */
	(void)pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
	pcre2_pattern_info(code, PCRE2_INFO_CAPTURECOUNT, &ncap);
	pcre2_pattern_info(code, PCRE2_INFO_NAMECOUNT, &nnamed);
	re = pt_pcalloc(cf->pool, sizeof(*re));
	re->code = code;
	re->ncaptures = (int)ncap;
	re->nnamed = (int)nnamed;
	re->pattern = pt_pstrdup(cf->pool, pattern);
	/*
	 * The compiled code lives as long as the process image that holds
	 * the configuration; a reloaded master compiles new code and the
	 * old workers exit with theirs, so it is never freed here.
	 */
	if (nnamed > 0) {
		pcre2_pattern_info(code, PCRE2_INFO_NAMEENTRYSIZE, &nsize);
		pcre2_pattern_info(code, PCRE2_INFO_NAMETABLE, &table);
		for (i = 0; i < nnamed; i++) {
			const char *name = (const char *)table + i * nsize + 2;
			char *dup = pt_pstrdup(cf->pool, name);

			if (pt_var_define(cf, (struct pt_str){ strlen(dup), dup },
			    pt_regex_var_named, dup) != PT_OK) {
				*err = pt_psprintf(cf->pool, "the capture name \"%s\" in \"%s\" is "
				    "already a variable of another kind", dup, pattern);
				return NULL;
			}
		}
	}
	if (ncap + 1 > regex_md_pairs) {
		if (regex_md != NULL)
			pcre2_match_data_free(regex_md);
		regex_md = pcre2_match_data_create(ncap + 1 < 10 ? 10 : ncap + 1, NULL);
		if (regex_md == NULL) {
			regex_md_pairs = 0;
			*err = "pcre2_match_data_create() failed";
			return NULL;
		}
		regex_md_pairs = ncap + 1 < 10 ? 10 : ncap + 1;
	}
	return re;
}

int
pt_regex_exec(struct pt_request *r, const struct pt_regex *re, struct pt_str s)
{
	PCRE2_SIZE *ov;
	int rc, n;

	rc = pcre2_match(re->code, (PCRE2_SPTR)(s.data ? s.data : ""), s.len, 0, 0, regex_md,
	    NULL);
	if (rc == PCRE2_ERROR_NOMATCH)
		return 0;
	if (rc < 0) {
		PCRE2_UCHAR msg[128];

		pcre2_get_error_message(rc, msg, sizeof(msg));
		pt_log(PT_LOG_ERR, 0, "pcre2_match() failed: %s on \"%.*s\" using \"%s\"",
		    (char *)msg, (int)s.len, s.data, re->pattern);
		return PT_ERROR;
	}
	if (r == NULL)
		return 1;
	n = re->ncaptures + 1;
	if (r->captures == NULL || r->captures_size < n) {
		r->captures = pt_palloc(r->pool, sizeof(size_t) * 2 * (size_t)(n < 10 ? 10 : n));
		r->captures_size = n < 10 ? 10 : n;
	}
	ov = pcre2_get_ovector_pointer(regex_md);
	memcpy(r->captures, ov, sizeof(size_t) * 2 * (size_t)n);
	r->ncaptures = n;
	r->captures_data = s.data;
	r->captures_re = re;
	return 1;
}

int
pt_regex_var_capture(struct pt_request *r, void *data, struct pt_str *out)
{
	int n = (int)(intptr_t)data;

	if (n >= r->ncaptures || r->captures[2 * n] == PCRE2_UNSET)
		return PT_DECLINED;
	out->data = r->captures_data + r->captures[2 * n];
	out->len = r->captures[2 * n + 1] - r->captures[2 * n];
	return PT_OK;
}

int
pt_regex_var_named(struct pt_request *r, void *data, struct pt_str *out)
{
	int n;

	if (r->captures_re == NULL)
		return PT_DECLINED;
	n = pcre2_substring_number_from_name(r->captures_re->code, (PCRE2_SPTR)data);
	if (n < 0)
		return PT_DECLINED;
	return pt_regex_var_capture(r, (void *)(intptr_t)n, out);
}
