/*
 * cidr.h: address ranges for allow/deny and set_real_ip_from. Parsed in
 * the master from "all", "ADDR" or "ADDR/BITS" (IPv4 or IPv6); matched in
 * workers against a socket address. An IPv4-mapped IPv6 address
 * (::ffff:a.b.c.d) matches as the IPv4 address it carries.
 */
#ifndef PT_CIDR_H
#define PT_CIDR_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include "portico.h"

struct pt_cidr {
	int		 family;	/* AF_INET, AF_INET6, or 0 for "all" */
	uint8_t		 addr[16];	/* network, masked */
	uint8_t		 mask[16];	/* netmask */
};

/*
 * Parse <text> into <c>. Returns NULL, or an error message from <pool>.
 * An address with bits set beyond its prefix ("10.0.0.1/8") is refused:
 * nginx masks it with a warning, but it is most often a typo.
 */
static inline const char *
pt_cidr_parse(struct pt_pool *pool, const char *text, struct pt_cidr *c)
{
	char buf[64];
	const char *slash = strchr(text, '/');
	size_t len = slash ? (size_t)(slash - text) : strlen(text);
	long bits, max, i;

	memset(c, 0, sizeof(*c));
	if (strcmp(text, "all") == 0)
		return NULL;
	if (len == 0 || len >= sizeof(buf))
		return pt_psprintf(pool, "invalid address \"%s\"", text);
	memcpy(buf, text, len);
	buf[len] = '\0';
	if (inet_pton(AF_INET, buf, c->addr) == 1) {
		c->family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, buf, c->addr) == 1) {
		c->family = AF_INET6;
		max = 128;
	} else {
		return pt_psprintf(pool, "invalid address \"%s\"", text);
	}
	bits = max;
	if (slash != NULL && pt_parse_int(slash + 1, 0, max, &bits) != PT_OK)
		return pt_psprintf(pool, "invalid prefix length in \"%s\"", text);
	for (i = 0; i < max / 8; i++) {
		long b = bits - i * 8;

		c->mask[i] = b >= 8 ? 0xff : b <= 0 ? 0 : (uint8_t)(0xff << (8 - b));
		if ((c->addr[i] & ~c->mask[i]) != 0)
			return pt_psprintf(pool, "\"%s\" has bits set beyond its prefix length",
			    text);
	}
	return NULL;
}

/* the address bytes of <ss> (IPv4-mapped IPv6 as IPv4); returns the family */
static inline int
pt_cidr_addr(const union pt_sa *ss, const uint8_t **bytes)
{
	if (ss->ss_family == AF_INET) {
		*bytes = (const uint8_t *)&((const struct sockaddr_in *)(const void *)ss)->sin_addr;
		return AF_INET;
	}
	if (ss->ss_family == AF_INET6) {
		const struct in6_addr *a6 = &((const struct sockaddr_in6 *)(const void *)ss)->sin6_addr;

		if (IN6_IS_ADDR_V4MAPPED(a6)) {
			*bytes = a6->s6_addr + 12;
			return AF_INET;
		}
		*bytes = a6->s6_addr;
		return AF_INET6;
	}
	*bytes = NULL;
	return 0;
}

/* does <c> contain the address <bytes> of <family>? */
static inline int
pt_cidr_match(const struct pt_cidr *c, int family, const uint8_t *bytes)
{
	int i, n;

	if (c->family == 0)
		return 1;
	if (c->family != family || bytes == NULL)
		return 0;
	n = family == AF_INET ? 4 : 16;
	for (i = 0; i < n; i++)
		if ((bytes[i] & c->mask[i]) != c->addr[i])
			return 0;
	return 1;
}

#endif /* PT_CIDR_H */
