# Reverse proxy: proxy_pass forms and URI replacement, default and set
# headers, hop-by-hop removal both ways, request and response bodies
# streamed with bounded memory, chunked responses to 1.1 and 1.0
# clients, upstream keep-alive pool, weighted round robin, errors
# (refused 502, read timeout 504, connect timeout 504), error_page.

use strict;
use warnings;
use Test::More;
use IO::Select;
use IO::Socket::INET;
use Time::HiRes qw(sleep);
use Portico::Test;

my $t = Portico::Test->new;
$t->write_conf(<<'EOF');
daemon off;
worker_processes 1;
pid logs/portico.pid;
error_log logs/error.log info;
events { worker_connections 256; }
http {
    %%NGINX_ONLY%%
    access_log logs/access.log;

    upstream u1 { server 127.0.0.1:%%PORT_B%%; }
    upstream ka {
        server 127.0.0.1:%%PORT_K%%;
        keepalive 8;
    }
    upstream stale {
        server 127.0.0.1:%%PORT_Z%%;
        keepalive 8;
    }
    upstream racy {
        server 127.0.0.1:%%PORT_Y%%;
        keepalive 8;
    }
    upstream wrr {
        server 127.0.0.1:%%PORT_W1%% weight=1;
        server 127.0.0.1:%%PORT_W2%% weight=2;
        server 127.0.0.1:%%PORT_W3%% weight=1;
        keepalive 8;
    }

    server {
        listen 127.0.0.1:%%PORT_A%%;
        server_name localhost;
        proxy_set_header X-Outer outer;

        location /inherit/ { proxy_pass http://127.0.0.1:%%PORT_B%%; }

        location /plain/ { proxy_pass http://127.0.0.1:%%PORT_B%%; }
        location /a/ { proxy_pass http://127.0.0.1:%%PORT_B%%/x/; }
        location /strip/ { proxy_pass http://127.0.0.1:%%PORT_B%%/; }
        location /up/ { proxy_pass http://u1; }
        location /upuri/ { proxy_pass http://u1/y/; }
        location /hdr/ {
            proxy_pass http://127.0.0.1:%%PORT_B%%;
            proxy_set_header Host example.org;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Method "m=$request_method";
            proxy_set_header User-Agent "";
        }
        location /hdr11/ {
            proxy_pass http://127.0.0.1:%%PORT_B%%;
            proxy_http_version 1.1;
        }
        location /hop/ { proxy_pass http://127.0.0.1:%%PORT_H%%; }
        location /body/ { proxy_pass http://127.0.0.1:%%PORT_B%%; }
        location /streamreq/ {
            proxy_pass http://127.0.0.1:%%PORT_R%%;
            proxy_request_buffering off;
            proxy_http_version 1.1;
        }
        location /chunked/ {
            proxy_pass http://127.0.0.1:%%PORT_C%%;
            proxy_http_version 1.1;
        }
        location /drip/ {
            proxy_pass http://127.0.0.1:%%PORT_C%%;
            proxy_http_version 1.1;
            proxy_buffering off;
        }
        location /big/ {
            proxy_pass http://127.0.0.1:%%PORT_G%%;
            proxy_max_temp_file_size 0;
        }
        location /bigoff/ {
            proxy_pass http://127.0.0.1:%%PORT_G%%;
            proxy_buffering off;
        }
        location /ka/ {
            proxy_pass http://ka;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
        location /noka/ { proxy_pass http://127.0.0.1:%%PORT_K%%; }
        location /stale/ {
            proxy_pass http://stale;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
        location /racy/ {
            proxy_pass http://racy;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
        location /wrr/ {
            proxy_pass http://wrr;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
        location /refused/ { proxy_pass http://127.0.0.1:%%PORT_DEAD%%; }
        location /slow/ {
            proxy_pass http://127.0.0.1:%%PORT_S%%;
            proxy_read_timeout 1s;
        }
        location /ctimeout/ {
            proxy_pass http://127.0.0.1:%%PORT_FULL%%;
            proxy_connect_timeout 1s;
        }
        location /errpage/ {
            proxy_pass http://127.0.0.1:%%PORT_DEAD%%;
            error_page 502 /oops;
        }
        location = /oops { return 200 "sorry\n"; }
    }
}
EOF

# B: echo backend, the request head and body come back as the body;
# /empty answers with an empty body
$t->http_backend('B', handler => sub {
	my ($r) = @_;
	return (200, [], '') if $r->{uri} =~ /empty/;
	return (204, [], '') if $r->{uri} =~ /nocontent/;
	return (200, ['Content-Type' => 'text/plain'], $r->{head} . $r->{body});
});

# K: counts connections; answers with the connection number
$t->http_backend('K', handler => sub {
	my ($r) = @_;
	return (200, ['X-Conn' => $r->{conn}], "conn $r->{conn}\n");
});

# Z: closes idle keep-alive connections after 0.5 s
$t->http_backend('Z', idle => 0.5, handler => sub {
	my ($r) = @_;
	return (200, [], "z conn $r->{conn}");
});

# Y: closes a connection when its second request arrives, unanswered
# (the race of an upstream closing an idle connection just as the proxy
# reuses it)
$t->http_backend('Y', handler => sub {
	my ($r) = @_;
	return if $r->{n} == 2;
	return (200, [], "y conn $r->{conn}");
});

# W1..W3: answer with their name
for my $w (qw(W1 W2 W3)) {
	$t->http_backend($w, handler => sub { return (200, [], $w) });
}

# H: hop-by-hop headers in the response
$t->http_backend('H', handler => sub {
	my ($r) = @_;
	return (200, ['Connection' => 'X-Bar', 'X-Bar' => 'secret',
	    'Keep-Alive' => 'timeout=99', 'Upgrade' => 'foo/1',
	    'Proxy-Connection' => 'keep-alive', 'X-Kept' => 'yes'],
	    $r->{head});
});

# C: chunked responses; /drip/ sends a second chunk after 2.5 s
$t->http_backend('C', handler => sub {
	my ($r) = @_;
	if ($r->{uri} =~ /drip/) {
		return (200, ['Transfer-Encoding' => 'chunked'], sub {
			my ($s) = @_;
			print $s "5\r\nfirst\r\n";
			sleep 2.5;
			print $s "6\r\nsecond\r\n0\r\n\r\n";
		});
	}
	return (200, [], ['hello ', 'chunked ', 'world']);
});

# S: slow backend for proxy_read_timeout
$t->http_backend('S', handler => sub { sleep 3; return (200, [], 'late') });

# R: records when the first part of a request body arrived
my $early = $t->testdir . '/early';
$t->raw_backend('R', sub {
	my ($s) = @_;
	my $buf = '';
	my $end = now() + 10;
	while ($buf !~ /\r\n\r\n/ && now() < $end) {
		sysread($s, $buf, 65536, length $buf) or last;
	}
	my ($head, $body) = split /\r\n\r\n/, $buf, 2;
	$body //= '';
	my $chunked = $head =~ /transfer-encoding:\s*chunked/i;
	# wait for the first 1000 bytes of body (chunk framing included)
	while (length $body < 1000 && now() < $end) {
		sysread($s, $body, 65536, length $body) or last;
	}
	if (open my $fh, '>', $early) { print $fh length($body); close $fh }
	# then for the rest
	my $done = sub {
		return $chunked ? $body =~ /\r\n0\r\n\r\n$/
		    : length $body >= 2000;
	};
	while (!$done->() && now() < $end) {
		sysread($s, $body, 65536, length $body) or last;
	}
	print $s "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
	    . "Connection: close\r\n\r\nok";
}, read => 0);

# G: a big response produced on the fly
my $BIG = 64 << 20;
my $block = join '', map { sprintf "%07d\n", $_ } 0 .. 8191;	# 64 KiB
$t->raw_backend('G', sub {
	my ($s) = @_;
	print $s "HTTP/1.1 200 OK\r\nContent-Length: $BIG\r\n"
	    . "Connection: close\r\n\r\n";
	for (1 .. $BIG / length $block) {
		Portico::Test::_write_all($s, $block) or last;
	}
});

$t->run;
my $port = $t->port('A');
my $bport = $t->port('B');

sub get {
	my ($uri, @h) = @_;
	return parse_response(http_get($port, $uri, headers => \@h)) // {};
}

###########################################################################
# proxy_pass forms and URI replacement

my $r = get('/plain/x?a=1&b=%20');
is($r->{status}, 200, 'host:port: 200');
like($r->{body}, qr{^GET /plain/x\?a=1&b=%20 HTTP/1\.0\r\n},
    'no URI in proxy_pass: original URI with args, HTTP/1.0');
like($r->{body}, qr/^Host: 127\.0\.0\.1:$bport\r$/mi,
    'default Host is $proxy_host (host:port)');
like($r->{body}, qr/^Connection: close\r$/mi, 'default Connection: close');
is($r->{h}{'content-length'}, length $r->{body},
    'upstream Content-Length passed to the client');
ok(!$r->{chunked}, 'response with a Content-Length is not re-chunked');

$r = get('/a/foo/bar?q=1');
like($r->{body}, qr{^GET /x/foo/bar\?q=1 HTTP/1\.0\r\n},
    'location /a/ + proxy_pass .../x/: /a/foo/bar -> /x/foo/bar');

$r = get('/plain/a%2Fb/../c?x=%41');
like($r->{body}, qr{^GET /plain/a%2Fb/\.\./c\?x=%41 HTTP/1\.0\r\n},
    'no URI in proxy_pass: the request URI is passed unchanged');

$r = get('/a/sp%20ace/%7Efoo?k=%20');
like($r->{body}, qr{^GET /x/sp%20ace/~foo\?k=%20 HTTP/1\.0\r\n},
    'URI replacement: the normalised URI, escaped again; args unchanged');

$r = get('/a/one/../two');
like($r->{body}, qr{^GET /x/two HTTP/1\.0\r\n},
    'URI replacement uses the normalised URI');

$r = get('/strip/z');
like($r->{body}, qr{^GET /z HTTP/1\.0\r\n}, 'proxy_pass .../: prefix stripped');

$r = get('/up/u?k=v');
like($r->{body}, qr{^GET /up/u\?k=v HTTP/1\.0\r\n}, 'upstream: URI kept');
like($r->{body}, qr/^Host: u1\r$/mi, 'upstream: Host is the upstream name');

$r = get('/upuri/deep/p');
like($r->{body}, qr{^GET /y/deep/p HTTP/1\.0\r\n}, 'upstream with URI: replaced');

# empty responses are complete, to 1.1 and 1.0 clients
for my $v ('1.1', '1.0') {
	for my $u ('/plain/empty', '/plain/nocontent') {
		my $raw = http($port, "GET $u HTTP/$v\r\nHost: localhost\r\n\r\n",
		    timeout => 3);
		my $m = parse_response($raw // '') // {};
		ok($m->{status} && $m->{complete} && $m->{body} eq '',
		    "empty response $u to HTTP/$v: complete")
		    or diag($raw);
	}
}

###########################################################################
# request headers

# proxy_set_header is inherited from the server level only by locations
# that set none themselves (nginx semantics)
$r = get('/inherit/x');
like($r->{body}, qr/^X-Outer: outer\r$/mi, 'proxy_set_header inherited');
$r = get('/hdr/x');
unlike($r->{body}, qr/^X-Outer:/mi,
    'a location with its own proxy_set_header does not inherit');

$r = get('/hdr/h', 'X-Forwarded-For: 10.1.2.3', 'User-Agent: agent/1',
    'X-Other: kept');
like($r->{body}, qr/^Host: example\.org\r$/mi, 'proxy_set_header Host overrides');
unlike($r->{body}, qr/^Host: 127/mi, 'only one Host');
like($r->{body}, qr/^X-Forwarded-For: 10\.1\.2\.3, 127\.0\.0\.1\r$/mi,
    '$proxy_add_x_forwarded_for appends the client address');
is(() = $r->{body} =~ /^X-Forwarded-For:/mig, 1, 'one X-Forwarded-For');
like($r->{body}, qr/^X-Method: m=GET\r$/mi, 'proxy_set_header with a variable');
unlike($r->{body}, qr/^User-Agent:/mi, 'empty proxy_set_header removes');
like($r->{body}, qr/^X-Other: kept\r$/mi, 'other headers passed');

$r = get('/hdr/h');
like($r->{body}, qr/^X-Forwarded-For: 127\.0\.0\.1\r$/mi,
    '$proxy_add_x_forwarded_for without a client header');

# hop-by-hop request headers removed, also the ones named in Connection
$r = get('/hdr11/hop', 'Connection: close, X-Foo', 'X-Foo: secret',
    'Keep-Alive: timeout=5', 'TE: trailers', 'Upgrade: websocket',
    'Proxy-Connection: keep-alive', 'X-Kept: yes');
like($r->{body}, qr{^GET /hdr11/hop HTTP/1\.1\r\n}, 'proxy_http_version 1.1');
unlike($r->{body}, qr/^X-Foo:/mi, 'header named in Connection removed');
unlike($r->{body}, qr/^Keep-Alive:/mi, 'Keep-Alive removed');
unlike($r->{body}, qr/^TE:/mi, 'TE removed');
unlike($r->{body}, qr/^Upgrade:/mi, 'Upgrade removed');
unlike($r->{body}, qr/^Connection:.*X-Foo/mi, 'client Connection not passed');
like($r->{body}, qr/^X-Kept: yes\r$/mi, 'end-to-end header kept');

# hop-by-hop response headers removed
$r = get('/hop/x');
is($r->{status}, 200, 'hop-by-hop response: 200');
ok(!exists $r->{h}{'x-bar'}, 'response header named in Connection removed');
unlike($r->{h}{'keep-alive'} // '', qr/99/, 'upstream Keep-Alive removed');
ok(!exists $r->{h}{upgrade}, 'response Upgrade removed');
unlike($r->{h}{connection} // '', qr/x-bar/i, 'upstream Connection not relayed');
is($r->{h}{'x-kept'}, 'yes', 'end-to-end response header kept');

###########################################################################
# request bodies

{
	my $body = join '', map { chr(($_ * 7) % 256) } 0 .. 199_999;
	my $raw = http($port, "POST /body/cl HTTP/1.1\r\nHost: localhost\r\n"
	    . "Connection: close\r\nContent-Length: " . length($body)
	    . "\r\n\r\n$body", timeout => 10);
	my $m = parse_response($raw) // {};
	my ($echo_body) = ($m->{body} // '') =~ /\r\n\r\n(.*)\z/s;
	is($m->{status}, 200, 'CL request body: 200');
	ok(defined $echo_body && $echo_body eq $body,
	    'CL request body (200000 bytes) reaches the backend intact');

	my $chunked = '';
	for (my $i = 0; $i < length $body; $i += 30_000) {
		my $c = substr($body, $i, 30_000);
		$chunked .= sprintf("%x\r\n%s\r\n", length $c, $c);
	}
	$raw = http($port, "POST /body/ch HTTP/1.1\r\nHost: localhost\r\n"
	    . "Connection: close\r\nTransfer-Encoding: chunked\r\n\r\n"
	    . $chunked . "0\r\n\r\n", timeout => 10);
	$m = parse_response($raw) // {};
	($echo_body) = ($m->{body} // '') =~ /\r\n\r\n(.*)\z/s;
	is($m->{status}, 200, 'chunked request body: 200');
	unlike($m->{body} // '', qr/^Transfer-Encoding:/mi,
	    'no chunked request body to an HTTP/1.0 upstream');
	like($m->{body} // '', qr/^Content-Length: 200000\r$/mi,
	    'HTTP/1.0 upstream gets a Content-Length');
	ok(defined $echo_body && $echo_body eq $body,
	    'chunked request body reaches the backend intact');
}

# proxy_request_buffering off: the backend sees the body before the
# client has finished sending it
for my $mode ('cl', 'chunked') {
	unlink $early;
	my $c = Portico::Test::Conn->new($port);
	my $part = 'p' x 1500;
	if ($mode eq 'cl') {
		$c->send("POST /streamreq/ HTTP/1.1\r\nHost: localhost\r\n"
		    . "Content-Length: 3000\r\n\r\n$part");
	} else {
		$c->send("POST /streamreq/ HTTP/1.1\r\nHost: localhost\r\n"
		    . "Transfer-Encoding: chunked\r\n\r\n"
		    . sprintf("%x\r\n%s\r\n", length $part, $part));
	}
	ok(wait_until(sub { -e $early }, 3),
	    "request body streamed to the backend ($mode)");
	$c->send($mode eq 'cl' ? $part
	    : sprintf("%x\r\n%s\r\n0\r\n\r\n", length $part, $part));
	my $m = $c->read_final(timeout => 5);
	is($m && $m->{body}, 'ok', "streamed request body: response ($mode)");
}

###########################################################################
# chunked responses

{
	my $raw = http($port, "GET /chunked/ HTTP/1.1\r\nHost: localhost\r\n"
	    . "Connection: close\r\n\r\n");
	my $m = parse_response($raw) // {};
	is($m->{status}, 200, 'chunked response: 200');
	ok($m->{chunked}, 'chunked response to a 1.1 client is chunked');
	is($m->{body}, 'hello chunked world', 'chunked response: body');
	ok($m->{last_chunk}, 'chunked response: terminated');

	my $c = Portico::Test::Conn->new($port);
	$c->send("GET /chunked/ HTTP/1.0\r\n\r\n");
	$m = $c->read_response(timeout => 5) // {};
	ok($m->{status} && !$m->{chunked}
	    && ($m->{h}{'transfer-encoding'} // '') eq '',
	    'chunked response to a 1.0 client is not chunked');
	ok($c->closed(3), 'de-chunked response: connection closed');
	my $all = $c->{raw};
	$all =~ s/^.*?\r\n\r\n//s;
	is($all, 'hello chunked world', 'de-chunked response: body');
}

# an HTTP/1.0 keep-alive client and a chunked upstream response: not
# chunked; either a Content-Length or the connection is closed
{
	my $c = Portico::Test::Conn->new($port);
	$c->send("GET /chunked/ HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
	my $m = $c->read_response(timeout => 5) // {};
	ok(!$m->{chunked}, '1.0 keep-alive client: not chunked');
	my $closed = $c->closed(2);
	my $all = $c->{raw};
	my $mm = parse_response($all) // {};
	ok(defined $mm->{h}{'content-length'} || $closed,
	    '1.0 keep-alive client: length known or connection closed');
	is($mm->{body}, 'hello chunked world', '1.0 keep-alive client: body');
	if (!$closed) {
		$c->send("GET /strip/ HTTP/1.0\r\n\r\n");
		my $m2 = $c->read_response(timeout => 5) // {};
		is($m2->{status}, 200, '1.0 keep-alive client: next request');
	} else {
		pass('1.0 keep-alive client: closed');
	}
}

# proxy_buffering off: the first chunk arrives before the backend sends
# the second
{
	my $c = Portico::Test::Conn->new($port);
	my $t0 = now();
	$c->send("GET /drip/ HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
	wait_until(sub { $c->_fill(0.05); $c->{raw} =~ /first/ }, 2);
	my $dt = now() - $t0;
	like($c->{raw}, qr/first/, 'unbuffered: first part early');
	unlike($c->{raw}, qr/second/, 'unbuffered: before the second part');
	my $m = $c->read_response(timeout => 5) // {};
	is($m->{body}, 'firstsecond', 'unbuffered: whole body');
}

###########################################################################
# a 64 MiB response streams through with bounded worker memory

sub big_transfer {
	my ($uri) = @_;
	my ($worker) = $t->worker_pids;
	my $rss0 = Portico::Test::rss_kb($worker) // 0;
	my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
	    Proto => 'tcp') or return;
	print $s "GET $uri HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
	my ($total, $head, $buf, $max_rss, $paused) = (0, '', '', $rss0, 0);
	my $first = '';
	my $last = '';
	my $end = now() + 60;
	my $sel = IO::Select->new($s);
	while (now() < $end) {
		last unless $sel->can_read(10);
		my $n = sysread($s, $buf, 262144);
		last unless $n;
		if (!$head) {
			$head = $buf;
			my $i = index($head, "\r\n\r\n");
			next if $i < 0;		# a tiny first read; good enough
			$buf = substr($head, $i + 4);
			$head = substr($head, 0, $i + 4);
		}
		$total += length $buf;
		$first .= substr($buf, 0, 16 - length $first) if length $first < 16;
		$last = substr($last . $buf, -16);
		if (!$paused && $total > $BIG / 4) {
			# a slow client: the proxy must hold back, not buffer
			$paused = 1;
			for (1 .. 10) {
				sleep 0.1;
				my $rss = Portico::Test::rss_kb($worker) // 0;
				$max_rss = $rss if $rss > $max_rss;
			}
		}
		if (($total >> 20) != (($total - length $buf) >> 20)) {
			my $rss = Portico::Test::rss_kb($worker) // 0;
			$max_rss = $rss if $rss > $max_rss;
		}
	}
	close $s;
	return ($head, $total, $first, $last, $rss0, $max_rss);
}

for my $uri ('/big/', '/bigoff/') {
	my ($head, $total, $first, $last, $rss0, $max) = big_transfer($uri);
	like($head // '', qr/^HTTP\/1\.1 200 /, "$uri 64 MiB: 200");
	is($total, $BIG, "$uri 64 MiB: every byte");
	is($first, "0000000\n0000001\n", "$uri 64 MiB: first bytes");
	is($last, "0008190\n0008191\n", "$uri 64 MiB: last bytes");
	cmp_ok($max - $rss0, '<', 32 * 1024,
	    "$uri worker RSS grew by less than 32 MiB ($rss0 kB -> $max kB)");
}

###########################################################################
# upstream keep-alive pool

{
	my $before = $t->backend_conns('K');
	my $ok = 0;
	for my $i (1 .. 10) {
		my $m = get("/ka/$i");
		$ok++ if ($m->{status} // 0) == 200;
	}
	is($ok, 10, 'keepalive upstream: 10 responses');
	is($t->backend_conns('K') - $before, 1,
	    'keepalive upstream: 10 requests over 1 upstream connection');

	$before = $t->backend_conns('K');
	get("/noka/$_") for 1 .. 3;
	is($t->backend_conns('K') - $before, 3,
	    'no keepalive: one upstream connection per request');
}

# a pooled connection the upstream closed while idle is not used
{
	my $m1 = get('/stale/1');
	sleep 1;
	my $m2 = get('/stale/2');
	is($m1->{status}, 200, 'stale pool: first request');
	is($m2->{status}, 200, 'stale pool: request after the upstream closed');
	like($m2->{body} // '', qr/^z conn 2$/, 'stale pool: on a new connection');
}

# a reused connection closed by the upstream without an answer: the
# request is retried on a new connection, the client sees no error
{
	my @st = map { get("/racy/$_")->{status} // 'none' } 1 .. 4;
	is("@st", '200 200 200 200',
	    'reused connection closed before answering: retried');
}

###########################################################################
# weighted round robin 1:2:1 over 400 requests (smooth WRR is exact)

{
	my %n;
	my $c = Portico::Test::Conn->new($port);
	for my $i (1 .. 400) {
		$c->send("GET /wrr/$i HTTP/1.1\r\nHost: localhost\r\n\r\n");
		my $m = $c->read_final(timeout => 5) or last;
		$n{$m->{body} // 'none'}++;
	}
	is_deeply(\%n, { W1 => 100, W2 => 200, W3 => 100 },
	    'weights 1,2,1: 100/200/100');
}

###########################################################################
# errors

{
	my $m = get('/refused/');
	is($m->{status}, 502, 'connection refused: 502');

	my $t0 = now();
	$m = get('/slow/');
	my $dt = now() - $t0;
	is($m->{status}, 504, 'proxy_read_timeout: 504');
	cmp_ok($dt, '<', 2.5, "proxy_read_timeout 1s honoured (${dt}s)");

	$m = get('/errpage/');
	is($m->{status}, 502, 'error_page 502 /uri: status kept');
	is($m->{body}, "sorry\n", 'error_page 502: body from the local location');
}

# proxy_connect_timeout: a listener whose accept queue is full drops
# SYNs, so connects hang
SKIP: {
	my $full = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
	    LocalPort => $t->port('FULL'), Proto => 'tcp', Listen => 0,
	    ReuseAddr => 1) or skip("listen: $!", 2);
	my @fill;
	for (1 .. 8) {
		my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
		    PeerPort => $t->port('FULL'), Proto => 'tcp',
		    Blocking => 0);
		push @fill, $s if $s;
	}
	sleep 0.2;
	# is the queue really full? a new connect must not complete
	my $probe = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
	    PeerPort => $t->port('FULL'), Proto => 'tcp', Timeout => 0.5);
	skip('cannot fill a listen queue here', 2) if $probe;
	my $t0 = now();
	my $m = get('/ctimeout/');
	my $dt = now() - $t0;
	is($m->{status}, 504, 'proxy_connect_timeout: 504');
	cmp_ok($dt, '<', 3, "proxy_connect_timeout 1s honoured (${dt}s)");
}

done_testing;
