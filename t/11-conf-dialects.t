# One schema, two dialects: the same setup (a proxy in front of a
# demo server answering with return) written in the nginx dialect and in
# native syntax answers every request identically and dumps (-T)
# identically; the dialect is decided per file, with the first-line
# override, and an nginx file can include native files through a glob
# (and the other way round).

use strict;
use warnings;
use Test::More;
use Portico::Test;

my $NGX = <<'EOF';
daemon off;
worker_processes 1;
pid logs/portico.pid;
error_log logs/error.log info;
events {
    worker_connections 64;
}
http {
    access_log logs/access.log;
    keepalive_timeout 10s;
    upstream demo {
        server 127.0.0.1:%%PORT_D%% weight=2;
        keepalive 4;
    }
    server {
        listen 127.0.0.1:%%PORT_A%%;
        server_name localhost;
        location / {
            proxy_pass http://demo;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header X-Test "t-$request_method";
        }
        location /v1/ {
            proxy_pass http://demo/inner/;
        }
        location = /exact {
            return 301 http://example.com/moved;
        }
        location /text {
            return 200 "text; with \"quotes\" and 'single' $uri\n";
        }
        location /small {
            client_max_body_size 10;
            return 200 "small\n";
            location /small/nested {
                return 200 "nested\n";
            }
        }
    }
    server {
        listen 127.0.0.1:%%PORT_D%%;
        location / {
            return 200 "demo uri=$request_uri host=$host xtest=$http_x_test\n";
        }
        location /inner/ {
            return 200 "inner uri=$uri args=$args\n";
        }
    }
    %%NGINX_ONLY%%
}
EOF

my $NAT = <<'EOF';
daemon = off
worker_processes = 1
pid = 'logs/portico.pid'
error_log = {'logs/error.log', 'info'}
events {
    worker_connections = 64
}
http {
    access_log = 'logs/access.log'
    keepalive_timeout = 10s
    upstream 'demo' {
        server = {'127.0.0.1:%%PORT_D%%', 'weight=2'}
        keepalive = 4
    }
    server {
        listen = '127.0.0.1:%%PORT_A%%'
        server_name = 'localhost'
        location '/' {
            proxy_pass = 'http://demo'
            proxy_http_version = '1.1'
            proxy_set_header = {'Connection', ''}
            proxy_set_header = {'X-Test', 't-$request_method'}
        }
        location '/v1/' {
            proxy_pass = 'http://demo/inner/'
        }
        location '= /exact' {
            return = {'301', 'http://example.com/moved'}
        }
        location '/text' {
            return = {'200', "text; with \"quotes\" and 'single' $uri\n"}
        }
        location '/small' {
            client_max_body_size = 10
            return = {'200', "small\n"}
            location '/small/nested' {
                return = {'200', "nested\n"}
            }
        }
    }
    server {
        listen = '127.0.0.1:%%PORT_D%%'
        location '/' {
            return = {'200', "demo uri=$request_uri host=$host xtest=$http_x_test\n"}
        }
        location '/inner/' {
            return = {'200', "inner uri=$uri args=$args\n"}
        }
    }
}
EOF

my @requests = (
	"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
	"GET /some/path?a=1&b=2 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
	"POST /post HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc",
	"GET /v1/deep/er?q=z HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
	"GET /exact HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
	"GET /exact/not HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
	"GET /text/x HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
	"HEAD /text HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
	"POST /small HTTP/1.1\r\nHost: localhost\r\nContent-Length: 11\r\nConnection: close\r\n\r\n01234567890",
	"POST /small/nested HTTP/1.1\r\nHost: localhost\r\nContent-Length: 11\r\nConnection: close\r\n\r\n01234567890",
	"POST /small/nested HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nConnection: close\r\n\r\n01234",
	"GET / HTTP/1.0\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a b\r\n\r\n",
);

# status line, the headers that matter, and the body
sub summary {
	my ($raw, $req) = @_;
	my $m = parse_response($raw // '', head => ($req =~ /^HEAD/ ? 1 : 0)) or return 'none';
	my $s = "$m->{status}";
	for my $h (qw(content-type content-length location transfer-encoding
	    connection)) {
		$s .= "|$h=" . ($m->{h}{$h} // '-');
	}
	return "$s|$m->{body}";
}

my $tn = Portico::Test->new;
$tn->write_conf($NGX);
$tn->run;

my @sn = map { summary(http($tn->port('A'), $_), $_) } @requests;
like($sn[0], qr/^200\|.*demo uri=\/ host=demo xtest=t-GET\n$/s,
    'nginx dialect: proxied to the demo server');
like($sn[3], qr/inner uri=\/inner\/deep\/er args=q=z\n$/,
    'nginx dialect: URI replaced');
like($sn[4], qr/^301\|.*location=http:\/\/example\.com\/moved/,
    'nginx dialect: exact location');
like($sn[6], qr/text; with "quotes" and 'single' \/text\/x\n$/,
    'nginx dialect: quoted return text');
like($sn[8], qr/^413\|/, 'nginx dialect: client_max_body_size');
like($sn[9], qr/^413\|/, 'nginx dialect: client_max_body_size inherited');
like($sn[10], qr/^200\|.*nested\n$/, 'nginx dialect: nested location');

SKIP: {
	skip('nginx has no native dialect', @requests + 9) if $tn->is_nginx;

	my $tv = Portico::Test->new;
	$tv->write_conf($NAT);
	$tv->run;
	my @sv = map { summary(http($tv->port('A'), $_), $_) } @requests;
	for my $i (0 .. $#requests) {
		my ($first) = $requests[$i] =~ /^([^\r]*)/;
		is($sv[$i], $sn[$i], "native = nginx: $first");
	}

	# same schema: both dump to the same native text (ports differ:
	# compare with the ports masked)
	my (undef, $dn) = $tn->run_cmd('-p', $tn->testdir . '/', '-c',
	    'portico.conf', '-T');
	my (undef, $dv) = $tv->run_cmd('-p', $tv->testdir . '/', '-c',
	    'portico.conf', '-T');
	for my $p ([$tn, \$dn], [$tv, \$dv]) {
		for my $l (qw(A D)) {
			my $port = $p->[0]->port($l);
			${$p->[1]} =~ s/\b$port\b/PORT_$l/g;
		}
	}
	ok(length $dn > 100, '-T of the nginx file');
	is($dv, $dn, '-T: both dialects give the same native dump');

	#######################################################################
	# dialect per file: includes in both directions, a glob, overrides

	my $ti = Portico::Test->new;
	$ti->write_conf(<<'EOF');
daemon off;
pid logs/portico.pid;
error_log logs/error.log info;
events { worker_connections 64; }
http {
    include conf.d/*.conf;
}
EOF
	# a native server in an included file (detected: no semicolon)
	$ti->write_file('conf.d/a-native.conf', <<'EOF');
server {
    listen = '127.0.0.1:%%PORT_N1%%'
    location '/' { return = {'200', "native include\n"} }
}
EOF
	# an nginx server in an included file
	$ti->write_file('conf.d/b-nginx.conf', <<'EOF');
server {
    listen 127.0.0.1:%%PORT_N2%%;
    location / { return 200 "nginx include\n"; }
}
EOF
	# forced native although a semicolon appears in a /* */ comment
	$ti->write_file('conf.d/c-forced.conf', <<'EOF');
# portico: native
/* a comment; with a semicolon */
server {
    listen = '127.0.0.1:%%PORT_N3%%'
    location '/' { return = {'200', "forced native\n"} }
}
EOF
	$ti->run(wait_ports => [map { $ti->port($_) } qw(N1 N2 N3)]);
	like(http_get($ti->port('N1'), '/'), qr/\r\n\r\nnative include\n\z/,
	    'nginx file includes a native file (glob)');
	like(http_get($ti->port('N2'), '/'), qr/\r\n\r\nnginx include\n\z/,
	    'nginx file includes an nginx file (same glob)');
	like(http_get($ti->port('N3'), '/'), qr/\r\n\r\nforced native\n\z/,
	    '# portico: native first line');

	# the first-line override wins over the content
	$ti->write_file('conf.d/c-forced.conf', <<'EOF');
# portico: native
server { listen 127.0.0.1:%%PORT_N3%%; }
EOF
	my ($rc, $out, $err) = $ti->run_cmd('-t', '-p', $ti->testdir . '/',
	    '-c', 'portico.conf');
	is($rc, 1, '# portico: native forces native parsing of nginx text');
	like($out . $err, qr/c-forced\.conf:\d+/, 'forced dialect error: file:line');

	$ti->write_file('conf.d/c-forced.conf', <<'EOF');
# portico: nginx
server {
    listen = '127.0.0.1:%%PORT_N3%%'
}
EOF
	($rc, $out, $err) = $ti->run_cmd('-t', '-p', $ti->testdir . '/',
	    '-c', 'portico.conf');
	is($rc, 1, '# portico: nginx forces nginx parsing of native text');

	# a native main file including an nginx file
	my $tj = Portico::Test->new;
	$tj->write_conf(<<'EOF');
daemon = off
pid = 'logs/portico.pid'
error_log = {'logs/error.log', 'info'}
events { worker_connections = 64 }
http {
    include('part.conf')
}
EOF
	$tj->write_file('part.conf', <<'EOF');
server {
    listen 127.0.0.1:%%PORT_M%%;
    location / { return 200 "from nginx part\n"; }
}
EOF
	$tj->run(wait_ports => [$tj->port('M')]);
	like(http_get($tj->port('M'), '/'), qr/\r\n\r\nfrom nginx part\n\z/,
	    'native file includes an nginx file');
}

done_testing;
