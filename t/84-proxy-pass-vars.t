# proxy_pass with variables: an upstream group chosen by a map or by
# $arg_*, a literal IPv4/[IPv6] address from a variable, a URI part from
# variables (it replaces the whole request URI; "?args" alone becomes
# "/?args"), no URI part (the request URI passes as received), $proxy_host,
# a host name that is no group (502, "no resolver" logged), bad URLs
# (500, logged), keep-alive to a named group with `keepalive` but never to
# an ad-hoc address, many distinct addresses (the per-worker cache of
# ad-hoc groups recycles its slots). Both dialects.

use strict;
use warnings;
use Test::More;
use Portico::Test;

my $t = Portico::Test->new;
my $v6 = Portico::Test::has_ipv6();
my $v6conf = $v6 ? <<'EOF' : '';
    server {
        listen [::1]:%%PORT_U%%;
        location / { return 200 "v6 saw $remote_addr $http_host $request_uri\n"; }
    }
EOF

my $conf = <<"EOF";
daemon off;
worker_processes 1;
pid logs/portico.pid;
error_log logs/error.log info;
events { worker_connections 256; }
http {
    %%NGINX_ONLY%%
    access_log off;

    map \$arg_g \$grp {
        default g1;
        two g2;
    }
    upstream g1 {
        server 127.0.0.1:%%PORT_B%%;
        keepalive 4;
    }
    upstream g2 { server 127.0.0.1:%%PORT_C%%; }
    upstream backend_1 { server 127.0.0.1:%%PORT_B%%; }
    upstream backend_2 { server 127.0.0.1:%%PORT_C%%; }

    server {
        listen 127.0.0.1:%%PORT_A%%;
        server_name localhost;

        location /grp/ { proxy_pass http://\$grp; }
        location /argv/ { proxy_pass http://backend_\$arg_v; }
        location /lit/ { proxy_pass http://127.0.0.1:\$arg_p; }
        location /uri/ { proxy_pass http://\$grp/fixed\$uri?x=\$arg_x; }
        location /q/ { proxy_pass http://127.0.0.1:%%PORT_B%%?k=\$arg_k; }
        location /ph/ {
            proxy_pass http://\$arg_h;
            proxy_set_header X-PH "ph=\$proxy_host";
        }
        location /any/ { proxy_pass \$arg_u; }
        location /ka/ {
            proxy_pass http://\$arg_t;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
        location /if/ {
            if (\$arg_s) { proxy_pass http://g2; }
            proxy_pass http://\$grp;
        }
        location /v6/ { proxy_pass http://[::1]:\$arg_p; }
        location /static/ { proxy_pass http://localhost:%%PORT_C%%; }
    }
$v6conf}
EOF

# B echoes the request head; C says who it is
$t->http_backend('B');
$t->http_backend('C', handler => sub {
	my ($r) = @_;
	return (200, ['Content-Type' => 'text/plain'], "C saw $r->{uri} host=$r->{h}{host}\n");
});

sub resp {
	my ($t, $uri) = @_;
	return parse_response(http_get($t->port('A'), $uri)) // {};
}

# the request line the echoing backend B saw
sub line_of {
	my ($m) = @_;
	return ($m->{body} // '') =~ /\A([^\r\n]*)/ ? $1 : '';
}

sub host_of {
	my ($m) = @_;
	return ($m->{body} // '') =~ /^Host: ([^\r\n]*)/mi ? $1 : '';
}

# <t>: the proxy under test; <bk>: the object that started the backends
sub run_table {
	my ($t, $label, $bk) = @_;
	my $pb = $t->port('B');
	my $pc = $t->port('C');
	my $m;

	# a group from a map, the request URI as received
	$m = resp($t, '/grp/a%2Fb?x=1&y=2');
	is($m->{status}, 200, "$label: map to group g1");
	is(line_of($m), 'GET /grp/a%2Fb?x=1&y=2 HTTP/1.0',
	    "$label: no URI part: the request URI as received");
	is(host_of($m), 'g1', "$label: \$proxy_host is the group name");
	$m = resp($t, '/grp/z?g=two');
	is($m->{body}, "C saw /grp/z?g=two host=g2\n", "$label: map to group g2");

	# a group from $arg_v
	$m = resp($t, '/argv/p?v=2');
	is($m->{body}, "C saw /argv/p?v=2 host=backend_2\n", "$label: group backend_\$arg_v (2)");
	$m = resp($t, '/argv/p?v=1');
	is(line_of($m), 'GET /argv/p?v=1 HTTP/1.0', "$label: group backend_\$arg_v (1)");

	# a literal address from a variable
	$m = resp($t, "/lit/r?p=$pc");
	is($m->{body}, "C saw /lit/r?p=$pc host=127.0.0.1:$pc\n",
	    "$label: literal address by variable, \$proxy_host with the port");
	$m = resp($t, "/lit/r?p=$pb");
	is(line_of($m), "GET /lit/r?p=$pb HTTP/1.0", "$label: another literal address");

	# the URI part replaces the whole URI, args are not appended
	$m = resp($t, '/uri/s/t?x=9&y=8');
	is(line_of($m), 'GET /fixed/uri/s/t?x=9 HTTP/1.0', "$label: URI part from variables");
  SKIP: {
	# nginx sends the decoded bytes as they are
	skip('portico escapes the URI part', 1) if $t->is_nginx;
	$m = resp($t, '/uri/a%20b%0D%0AX-Injected:%20y');
	is(line_of($m), 'GET /fixed/uri/a%20b%0D%0AX-Injected:%20y?x= HTTP/1.0',
	    "$label: a decoded \$uri cannot split the request line");
  }
	$m = resp($t, '/q/a?k=v');
	is(line_of($m), 'GET /?k=v HTTP/1.0', "$label: \"?args\" alone becomes \"/?args\"");

	# $proxy_host and Host
	$m = resp($t, "/ph/x?h=127.0.0.1:$pb");
	like($m->{body} // '', qr/^X-PH: ph=127\.0\.0\.1:$pb\r$/m,
	    "$label: \$proxy_host in proxy_set_header");
	$m = resp($t, "/ph/x?h=G1");
	is(host_of($m), 'G1', "$label: group names match without regard to case");

	# a host name with no group: no resolver
	$m = resp($t, '/ph/x?h=nonexistent.invalid');
	is($m->{status}, 502, "$label: host name without a resolver: 502");
	ok($t->wait_for_log('logs/error.log',
	    qr/no resolver defined to resolve "?nonexistent\.invalid/, 3),
	    "$label: no resolver logged");
	$m = resp($t, "/ph/x?h=localhost:$pc");
	is($m->{body}, "C saw /ph/x?h=localhost:$pc host=localhost:$pc\n",
	    "$label: a host name that a proxy_pass without variables names");
	$m = resp($t, '/ph/x?h=g1:80');
	is($m->{status}, 502, "$label: a group name with a port is a host name: 502");

	# bad URLs
	$m = resp($t, '/any/x?u=ftp://127.0.0.1/');
	is($m->{status}, 500, "$label: invalid URL prefix: 500");
	ok($t->wait_for_log('logs/error.log', qr/invalid URL prefix in "ftp:/, 3),
	    "$label: invalid URL prefix logged");
	$m = resp($t, '/any/x');
	is($m->{status}, 500, "$label: empty URL: 500");
	$m = resp($t, "/any/x?u=http://127.0.0.1:$pb");
	is(line_of($m), "GET /any/x?u=http://127.0.0.1:$pb HTTP/1.0",
	    "$label: the whole URL from a variable");

	# an if block inherits the enclosing proxy_pass with variables
	$m = resp($t, '/if/a?g=two');
	is($m->{body}, "C saw /if/a?g=two host=g2\n", "$label: if block: the enclosing proxy_pass");

	# keep-alive: to a group with keepalive, never to an ad-hoc address
	my $before = $bk->backend_conns('B');
	my $ok = 0;
	for my $i (1 .. 5) {
		$m = resp($t, "/ka/$i?t=g1");
		$ok++ if ($m->{status} // 0) == 200;
	}
	is($ok, 5, "$label: 5 requests to a group by variable");
	is($bk->backend_conns('B') - $before, 1, "$label: group keepalive: one connection");
	$before = $bk->backend_conns('B');
	$ok = 0;
	for my $i (1 .. 3) {
		$m = resp($t, "/ka/$i?t=127.0.0.1:$pb");
		$ok++ if ($m->{status} // 0) == 200;
	}
	is($ok, 3, "$label: 3 requests to a literal address");
	is($bk->backend_conns('B') - $before, 3, "$label: ad-hoc address: no keepalive");

	# more distinct addresses than the cache holds: slots are recycled
	my $bad = 0;
	my $pz = $bk->port('Z');	# nobody listens there
	for my $i (1 .. 100) {
		$m = resp($t, "/any/n?u=http://127.0.1.$i:$pz/");
		$bad++ unless ($m->{status} // 0) == 502;
	}
	is($bad, 0, "$label: 100 refused literal addresses: 502 each");
	$m = resp($t, "/lit/again?p=$pb");
	is(line_of($m), "GET /lit/again?p=$pb HTTP/1.0", "$label: served after recycling");

  SKIP: {
	skip('no IPv6 loopback', 2) unless $v6;
	my $pu = $t->port('U');
	$m = resp($t, "/v6/w?p=$pu");
	is($m->{status}, 200, "$label: [IPv6] literal by variable");
	is($m->{body}, "v6 saw ::1 [::1]:$pu /v6/w?p=$pu\n", "$label: [IPv6] Host and URI");
  }
}

$t->write_conf($conf);
$t->run;
run_table($t, 'nginx dialect', $t);

SKIP: {
	skip('nginx has no native dialect', 1) if $t->is_nginx;
	my ($rc, $dump) = $t->run_cmd('-p', $t->testdir . '/', '-c', 'portico.conf', '-T');
	$t->stop;
	$dump =~ s/\A.*?(?=^# portico: native)//ms;
	my $tn = Portico::Test->new;
	$tn->{ports} = $t->{ports};
	$tn->write_conf($dump, 'native.conf');
	$tn->{listen} = [['127.0.0.1', $t->port('A')]];
	$tn->run(conf => 'native.conf');
	like($dump, qr/proxy_pass = 'http:\/\/\$grp'/, 'native dump keeps the variables');
	run_table($tn, 'native dialect', $t);
}

# https:// with variables: to a TLS server by address and by group, with
# SNI and verification from proxy_ssl_* as in the static form
SKIP: {
	my $ts = Portico::Test->new;
	my $d = $ts->testdir;
	my $out = `cd $d && timeout 15 sh -c 'openssl req -x509 -newkey rsa:2048 -nodes -keyout s.key -out s.crt -days 2 -subj /CN=s.test -addext subjectAltName=DNS:s.test' 2>&1`;
	skip("openssl: $out", 4) if $? != 0;
	$ts->write_conf(<<'EOF2');
daemon off;
worker_processes 1;
pid logs/portico.pid;
error_log logs/error.log info;
events { worker_connections 64; }
http {
    %%NGINX_ONLY%%
    access_log off;
    upstream tlsg { server 127.0.0.1:%%PORT_S%%; }
    server {
        listen 127.0.0.1:%%PORT_S%% ssl;
        ssl_certificate s.crt;
        ssl_certificate_key s.key;
        location / { return 200 "tls $ssl_server_name $request_uri\n"; }
    }
    server {
        listen 127.0.0.1:%%PORT_A%%;
        location /t/ {
            proxy_pass https://$arg_h/in$uri;
            proxy_ssl_verify on;
            proxy_ssl_trusted_certificate s.crt;
            proxy_ssl_name s.test;
            proxy_ssl_server_name on;
        }
    }
}
EOF2
	$ts->run;
	my $ps = $ts->port('S');
	my $m = parse_response(http_get($ts->port('A'), "/t/x?h=127.0.0.1:$ps")) // {};
	is($m->{status}, 200, 'https:// by variable to an address');
	is($m->{body}, "tls s.test /in/t/x\n", 'https:// by variable: SNI, verification, URI');
	$m = parse_response(http_get($ts->port('A'), "/t/y?h=tlsg")) // {};
	is($m->{body}, "tls s.test /in/t/y\n", 'https:// by variable to a group');
	$m = parse_response(http_get($ts->port('A'), "/t/y?h=localhost:$ps")) // {};
	is($m->{status}, 502, 'https:// to a host name without a resolver: 502');
}

# a `resolver` serves upstream `resolve` servers, not proxy_pass variables
SKIP: {
	my $tr = Portico::Test->new;
	skip('portico messages', 2) if $tr->is_nginx;
	$tr->write_conf(<<'EOF2');
daemon off;
worker_processes 1;
pid logs/portico.pid;
error_log logs/error.log info;
events { worker_connections 64; }
http {
    access_log off;
    resolver 127.0.0.1:%%PORT_D%%;
    server {
        listen 127.0.0.1:%%PORT_A%%;
        location / { proxy_pass http://$arg_h; }
    }
}
EOF2
	$tr->run;
	my $m = parse_response(http_get($tr->port('A'), '/?h=name.test')) // {};
	is($m->{status}, 502, 'with a resolver: a host name in proxy_pass variables is 502');
	ok($tr->wait_for_log('logs/error.log',
	    qr/no run-time resolution of proxy_pass with variables: cannot resolve "name\.test"/, 3),
	    'with a resolver: logged as not resolved at run time');
}

SKIP: {
	my $te = Portico::Test->new;
	skip('portico messages', 2) if $te->is_nginx;
	$te->write_conf(<<'EOF');
events { }
http {
    server {
        listen 127.0.0.1:%%PORT_E%%;
        location / { proxy_pass http://$nosuchvar; }
    }
}
EOF
	my ($rc, $out) = $te->run_fails;
	isnt($rc, 0, 'unknown variable in proxy_pass: refused');
	like($out, qr/portico\.conf:5: .*nosuchvar/, 'unknown variable: file:line and name');
}

done_testing;
