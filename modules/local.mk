portico_SOURCES += \
	modules/modules.c \
	modules/core/core_module.c \
	modules/http/http_core_module.c \
	modules/http/http_log_module.c \
	modules/rewrite/rewrite_module.c \
	modules/upstream/upstream_module.c \
	modules/proxy/proxy.h \
	modules/proxy/proxy_module.c \
	modules/proxy/proxy_conf.c
