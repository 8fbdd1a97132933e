portico_SOURCES += \
	master/master.h \
	master/conf_priv.h \
	master/main.c \
	master/process.c \
	master/listen.c \
	master/zone.c \
	master/cycle.c \
	master/conf_read.c \
	master/conf_nginx.c \
	master/conf_native.c \
	master/conf_apply.c \
	master/conf_dump.c
