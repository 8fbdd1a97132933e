/*
 * proxy.h: the proxy module's configuration, shared by its config half
 * (proxy_conf.c, master) and its runtime half (proxy_module.c, worker).
 */
#ifndef PT_PROXY_H
#define PT_PROXY_H

#include "portico.h"

extern struct pt_module pt_mod_proxy;

/* one proxy_set_header */
struct proxy_header {
	struct pt_str		 name;		/* as written */
	struct pt_cv		*value;		/* empty result = field not sent */
};

struct proxy_loc {
	struct pt_upstream	*upstream;	/* proxy_pass target, NULL = none here */
	struct pt_str		 uri;		/* URI part of proxy_pass */
	unsigned		 has_uri:1;	/* proxy_pass had a URI part ("/" counts) */
	unsigned		 ssl:1;		/* proxy_pass https:// (modules/tls) */
	struct pt_str		 host;		/* $proxy_host: host[:port] of the URL */
	struct pt_str		 loc_name;	/* location prefix replaced by <uri> */
	struct pt_cv		*url;		/* proxy_pass with variables, else NULL */
	unsigned		 uri_whole:1;	/* <uri> is the whole target (variables) */
	struct pt_array		*headers;	/* struct proxy_header; a level that sets
						   any replaces the inherited list */
	int			 http_version;	/* enum: 0 = 1.0, 1 = 1.1 */
	pt_msec_t		 connect_timeout;
	pt_msec_t		 read_timeout;
	pt_msec_t		 send_timeout;
	int			 buffering;
	size_t			 buffer_size;
	struct pt_conf_bufs	 buffers;	/* proxy_buffers NUMBER SIZE */
	size_t			 max_temp_file_size;
	int			 request_buffering;
	int			 pass_request_headers;
	int			 pass_request_body;
	int			 intercept_errors; /* error_page may replace >= 300 answers */
	size_t			 limit_rate;	/* proxy_limit_rate, bytes/s, 0 = none */
};

int	pt_proxy_handler(struct pt_request *r);
/* proxy_headers.c: hide/pass, proxy_redirect, proxy_cookie_* on r->out_fields */
void	pt_proxy_headers_upstream(struct pt_request *r, struct proxy_loc *pl);
/* proxy_dynamic.c: proxy_pass with variables */
const char *pt_proxy_dynamic_conf(struct pt_conf_ctx *cf, struct proxy_loc *pl, const char *url,
	    int *dyn);
int	pt_proxy_dynamic_eval(struct pt_request *r, struct proxy_loc **plp);
int	pt_proxy_dynamic_init_worker(struct pt_cycle *cycle);

#endif /* PT_PROXY_H */
