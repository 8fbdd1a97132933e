# Servers and locations: server_name (exact, *.wildcard, case, port,
# trailing dot, absolute-form target), default_server and the first
# server as default; location prefix/longest match, = exact, nesting, URI
# normalisation before matching; return CODE [TEXT|URL]; error_page with
# = to a local location; listen backlog=.

use strict;
use warnings;
use Test::More;
use Portico::Test;

my $t = Portico::Test->new;
$t->write_conf(<<'EOF');
daemon off;
worker_processes 1;
pid logs/portico.pid;
error_log logs/error.log info;
events { worker_connections 64; }
http {
    %%NGINX_ONLY%%
    access_log logs/access.log;

    server {
        listen 127.0.0.1:%%PORT_A%%;
        server_name first.example;
        location / { return 200 "first\n"; }
    }
    server {
        listen 127.0.0.1:%%PORT_A%% default_server;
        server_name dflt.example;
        location / { return 200 "default\n"; }
    }
    server {
        listen 127.0.0.1:%%PORT_A%%;
        server_name exact.example.com;
        location / { return 200 "exact\n"; }
    }
    server {
        listen 127.0.0.1:%%PORT_A%%;
        server_name *.example.com;
        location / { return 200 "wild\n"; }
    }
    server {
        listen 127.0.0.1:%%PORT_A%%;
        server_name www.example.com alias.example.org;
        location / { return 200 "www\n"; }
    }

    server {
        listen 127.0.0.1:%%PORT_B%%;
        server_name first.b;
        location / { return 200 "b-first\n"; }
    }
    server {
        listen 127.0.0.1:%%PORT_B%%;
        server_name second.b;
        location / { return 200 "b-second\n"; }
    }

    server {
        listen 127.0.0.1:%%PORT_C%% backlog=7;
        location / { return 200 "root\n"; }
        location = / { return 200 "exact root\n"; }
        location /a { return 200 "a\n"; }
        location = /a { return 200 "exact a\n"; }
        location /a/b { return 200 "ab\n"; }
        location /r { return 301 http://example.com/target; }
        location /code { return 204; }
        location /text { return 404 "custom not found\n"; }
        location /nested/ {
            location /nested/deeper/ { return 200 "deeper\n"; }
            return 200 "nested\n";
        }
        location /ep/ {
            proxy_pass http://127.0.0.1:%%PORT_DEAD%%;
            error_page 502 503 504 = /fallback;
        }
        location = /fallback { return 200 "fallback\n"; }
    }
}
EOF
$t->run;

sub body_for {
	my ($port, $raw) = @_;
	my $m = parse_response(http($port, $raw) // '') // {};
	return ($m->{status} // 'none') . ' ' . ($m->{body} // '');
}

sub host {
	my ($h, $port) = @_;
	return body_for($port // $t->port('A'),
	    "GET / HTTP/1.1\r\nHost: $h\r\nConnection: close\r\n\r\n");
}

my $pa = $t->port('A');
is(host('exact.example.com'), "200 exact\n", 'exact server_name');
is(host('EXACT.Example.COM'), "200 exact\n", 'server_name is case-insensitive');
is(host("exact.example.com:$pa"), "200 exact\n", 'port in Host ignored');
is(host('exact.example.com.'), "200 exact\n", 'trailing dot ignored');
is(host('foo.example.com'), "200 wild\n", '*.example.com wildcard');
is(host('a.b.example.com'), "200 wild\n", '*.example.com: deeper name');
is(host('example.com'), "200 default\n", '*.example.com does not match example.com');
is(host('www.example.com'), "200 www\n", 'exact name wins over the wildcard');
is(host('alias.example.org'), "200 www\n", 'second name of a server');
is(host('first.example'), "200 first\n", 'first server by name');
is(host('unknown.test'), "200 default\n", 'unknown name: default_server');
is(body_for($pa, "GET / HTTP/1.0\r\n\r\n"), "200 default\n",
    'no Host: default_server');
is(body_for($pa, "GET http://exact.example.com/ HTTP/1.1\r\n"
    . "Host: other.test\r\nConnection: close\r\n\r\n"), "200 exact\n",
    'absolute-form target: its host wins over Host');

is(host('unknown.test', $t->port('B')), "200 b-first\n",
    'no default_server: the first server is the default');
is(host('second.b', $t->port('B')), "200 b-second\n", 'second server by name');

###########################################################################
# locations

sub get {
	my ($uri) = @_;
	return body_for($t->port('C'),
	    "GET $uri HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
}

is(get('/'), "200 exact root\n", '= / wins for /');
is(get('/x'), "200 root\n", 'prefix /');
is(get('/a'), "200 exact a\n", '= /a');
is(get('/a?q=1'), "200 exact a\n", '= /a with arguments');
is(get('/ab'), "200 a\n", 'prefix /a matches /ab');
is(get('/a/'), "200 a\n", 'prefix /a matches /a/');
is(get('/a/b/c'), "200 ab\n", 'longest prefix wins');
is(get('/nested/x'), "200 nested\n", 'outer location');
is(get('/nested/deeper/x'), "200 deeper\n", 'nested location');
is(get('/x/../a'), "200 exact a\n", 'dot-dot resolved before matching');
is(get('/a/./b/c'), "200 ab\n", 'dot segment resolved before matching');
is(get('/a//b/c'), "200 ab\n", 'double slash merged before matching');
is(get('/%61'), "200 exact a\n", 'percent-decoded before matching');
like(get('/../x'), qr/^400 /, 'dot-dot above the root: 400');

{
	my $m = parse_response(http_get($t->port('C'), '/r')) // {};
	is($m->{status}, 301, 'return 301 URL: status');
	is($m->{h}{location}, 'http://example.com/target', 'return 301 URL: Location');

	$m = parse_response(http_get($t->port('C'), '/code')) // {};
	is($m->{status}, 204, 'return 204: status');
	is($m->{body}, '', 'return 204: no body');

	$m = parse_response(http_get($t->port('C'), '/text')) // {};
	is($m->{status}, 404, 'return 404 TEXT: status');
	is($m->{body}, "custom not found\n", 'return 404 TEXT: body');
}

is(get('/ep/x'), "200 fallback\n", 'error_page 502 = /fallback');

# backlog=7 (ss shows the backlog of a listening socket as Send-Q)
SKIP: {
	my $ss = `ss -ltn 2>/dev/null`;
	skip('no ss', 1) unless $ss;
	my $pc = $t->port('C');
	my @q = $ss =~ /^LISTEN\s+\d+\s+(\d+)\s+127\.0\.0\.1:$pc\s/mg;
	ok(@q && !grep({ $_ != 7 } @q), 'listen backlog=7') or diag("@q");
}

done_testing;
