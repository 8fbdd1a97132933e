# Response header directives: proxy_hide_header / proxy_pass_header (and
# the fields hidden by default), proxy_redirect (default, off, FROM TO,
# Location and Refresh), proxy_cookie_domain, proxy_cookie_path,
# add_header (inheritance, "always"), headers_out set/add/remove on
# proxied and local responses. Runs against the nginx-dialect file and
# against its native dump.

use strict;
use warnings;
use Test::More;
use Portico::Test;

my $conf = <<'EOF';
daemon off;
worker_processes 1;
pid logs/portico.pid;
error_log logs/error.log info;
events { worker_connections 64; }
http {
    %%NGINX_ONLY%%
    access_log off;
    add_header X-Http http-level;

    server {
        listen 127.0.0.1:%%PORT_A%%;
        server_name localhost;

        location /p/ {
            proxy_pass http://127.0.0.1:%%PORT_B%%/b/;
            proxy_hide_header X-Secret;
            proxy_pass_header X-Accel-Buffering;
            proxy_cookie_domain backend.test example.com;
            proxy_cookie_path /b/ /p/;
            add_header X-Loc "loc $uri";
            add_header X-Always yes always;
            headers_out set X-Powered-By portico;
            headers_out remove X-Remove-Me;
            headers_out add X-Extra one;
        }
        location /def/ { proxy_pass http://127.0.0.1:%%PORT_B%%/b/; }
        location /off/ { proxy_pass http://127.0.0.1:%%PORT_B%%/b/; proxy_redirect off; }
        location /explicit/ {
            proxy_pass http://127.0.0.1:%%PORT_B%%;
            proxy_redirect http://upstream.test/ http://$host/new/;
        }
        location /ret/ { add_header X-Ret r; return 200 "ok\n"; }
        location /err/ { add_header X-Ret r; add_header X-Always yes always; return 404; }
        location /ct/ {
            headers_out set Content-Type text/x-custom;
            headers_out set X-Set set;
            return 200 "x";
        }
    }
}
EOF

my $t = Portico::Test->new;
$t->http_backend('B', handler => sub {
	my ($r) = @_;
	my $pb = $t->port('B');
	my $loc = $r->{uri} =~ m{^/explicit/} ? 'http://upstream.test/y'
	    : "http://127.0.0.1:$pb/b/target";
	return (200, ['Content-Type' => 'text/plain', 'Location' => $loc,
	    'Refresh' => "5; url=http://127.0.0.1:$pb/b/r",
	    'Set-Cookie' => 's=1; Domain=.backend.test; Path=/b/sub; HttpOnly',
	    'Set-Cookie' => 'o=2; path=/other; domain=other.test',
	    'X-Secret' => 's', 'X-Pad' => 'pad', 'X-Accel-Buffering' => 'no',
	    'X-Accel-Charset' => 'utf-8', 'X-Remove-Me' => 'r', 'X-Powered-By' => 'backend'],
	    "body\n");
});

sub resp {
	my ($port, $uri) = @_;
	return parse_response(http_get($port, $uri)) // {};
}

sub run_table {
	my ($t, $label) = @_;
	my $port = $t->port('A');
	my $pb = $t->port('B');
	my $m = resp($port, '/p/x');

	is($m->{status}, 200, "$label: proxied 200");
	ok(!defined $m->{h}{'x-secret'}, "$label: proxy_hide_header");
	ok(!defined $m->{h}{'x-pad'}, "$label: X-Pad hidden by default");
	ok(!defined $m->{h}{'x-accel-charset'}, "$label: X-Accel-Charset hidden by default");
	is($m->{h}{'x-accel-buffering'}, 'no', "$label: proxy_pass_header");
	is($m->{h}{location}, '/p/target', "$label: proxy_redirect default (Location)");
	is($m->{h}{refresh}, '5; url=/p/r', "$label: proxy_redirect default (Refresh)");
	is($m->{h}{'set-cookie'}, 's=1; Domain=.example.com; Path=/p/sub; HttpOnly, '
	    . 'o=2; path=/other; domain=other.test', "$label: proxy_cookie_domain and _path");
	is($m->{h}{'x-loc'}, 'loc /p/x', "$label: add_header with a variable");
	ok(!defined $m->{h}{'x-http'}, "$label: a level with add_header replaces the inherited");
	is($m->{h}{'x-always'}, 'yes', "$label: add_header always on 200");
	is($m->{h}{'x-powered-by'}, 'portico', "$label: headers_out set replaces the upstream's");
	ok(!defined $m->{h}{'x-remove-me'}, "$label: headers_out remove");
	is($m->{h}{'x-extra'}, 'one', "$label: headers_out add");
	my @pb = grep { lc($_->[0]) eq 'x-powered-by' } @{$m->{headers}};
	is(scalar(@pb), 1, "$label: set leaves one field");

	$m = resp($port, '/def/x');
	is($m->{h}{location}, '/def/target', "$label: default redirect in another location");
	is($m->{h}{'x-http'}, 'http-level', "$label: add_header inherited from http");
	is($m->{h}{'x-secret'}, 's', "$label: X-Secret relayed where not hidden");
	$m = resp($port, '/off/x');
	is($m->{h}{location}, "http://127.0.0.1:$pb/b/target", "$label: proxy_redirect off");
	$m = resp($port, '/explicit/x');
	is($m->{h}{location}, 'http://localhost/new/y', "$label: proxy_redirect FROM TO with \$host");

	$m = resp($port, '/ret/');
	is($m->{h}{'x-ret'}, 'r', "$label: add_header on return 200");
	$m = resp($port, '/err/');
	is($m->{status}, 404, "$label: 404");
	ok(!defined $m->{h}{'x-ret'}, "$label: add_header not on 404");
	is($m->{h}{'x-always'}, 'yes', "$label: add_header always on 404");
	$m = resp($port, '/ct/');
	is($m->{h}{'content-type'}, 'text/x-custom', "$label: headers_out set Content-Type");
	is($m->{h}{'x-set'}, 'set', "$label: headers_out set adds a missing field");
	is($m->{h}{'x-http'}, 'http-level', "$label: add_header and headers_out are separate lists");
}

$t->write_conf($conf);
$t->run;
run_table($t, 'nginx dialect');

SKIP: {
	skip('nginx has no native dialect or headers_out', 1) if $t->is_nginx;
	my ($rc, $dump) = $t->run_cmd('-p', $t->testdir . '/', '-c', 'portico.conf', '-T');
	$t->stop;
	$dump =~ s/\A.*?(?=^# portico: native)//ms;
	my $tn = Portico::Test->new;
	$tn->{ports} = $t->{ports};
	$tn->write_conf($dump, 'native.conf');
	$tn->{listen} = [['127.0.0.1', $t->port('A')]];
	$tn->run(conf => 'native.conf');
	run_table($tn, 'native dialect');
}

SKIP: {
	my $te = Portico::Test->new;
	skip('portico messages', 2) if $te->is_nginx;
	$te->write_conf(<<'EOF');
events { }
http {
    server {
        listen 127.0.0.1:%%PORT_E%%;
        location / { headers_out set Content-Length 5; }
    }
}
EOF
	my ($rc, $out, $err) = $te->run_cmd('-p', $te->testdir . '/', '-c', 'portico.conf', '-t');
	isnt($rc, 0, 'headers_out on a reserved field: -t fails');
	like(($out // '') . ($err // ''),
	    qr/portico\.conf:5: .*"Content-Length" is written by portico itself/,
	    'headers_out reserved field: file:line');
}

done_testing;
