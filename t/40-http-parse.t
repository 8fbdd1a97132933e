# Strict HTTP/1.1 request parsing (RFC 9112): every malformed or
# ambiguous request gets its error status and the connection is closed;
# the good cases (HTTP/1.0, HEAD, pipelining, 100-continue, chunked
# request bodies) work.

use strict;
use warnings;
use Test::More;
use Portico::Test;
use Time::HiRes qw(sleep);

my $t = Portico::Test->new;
$t->write_conf(<<'EOF');
daemon off;
pid logs/portico.pid;
error_log logs/error.log info;
events { worker_connections 128; }
http {
    %%NGINX_ONLY%%
    access_log logs/access.log;
    large_client_header_buffers 4 1k;
    client_header_timeout 3s;
    client_body_timeout 3s;
    server {
        listen 127.0.0.1:%%PORT_A%%;
        server_name localhost;
        location / { return 200 "root\n"; }
        location = /p1 { return 200 "one\n"; }
        location = /p2 { return 200 "two\n"; }
        location = /p3 { return 200 "three\n"; }
        location /echo { proxy_pass http://127.0.0.1:%%PORT_B%%; }
        location /small {
            client_max_body_size 100;
            proxy_pass http://127.0.0.1:%%PORT_B%%;
        }
    }
}
EOF

# echo backend: the body it received, and the request head in a header
$t->http_backend('B', handler => sub {
	my ($r) = @_;
	sleep 0.5 if $r->{uri} =~ /slow/;
	my $te = $r->{h}{'transfer-encoding'} // '-';
	return (200, ['X-Uri' => $r->{uri}, 'X-Got-TE' => $te,
	    'X-Got-CL' => $r->{h}{'content-length'} // '-',
	    'X-Got-Expect' => $r->{h}{expect} // '-'],
	    $r->{body} eq '' ? "no body\n" : $r->{body});
});
$t->run;
my $port = $t->port('A');

# Send <raw>, read one response; returns (status, closed?, raw).
sub probe {
	my ($raw, %o) = @_;
	my $c = Portico::Test::Conn->new($port) or return (undef, 0, '');
	$c->send($raw);
	my $m = $c->read_response(timeout => $o{timeout} // 4);
	my $closed = $c->closed($o{close_wait} // 3);
	return ($m ? $m->{status} : undef, $closed, $c->{raw});
}

my $H = "Host: localhost\r\n";
my $big = 'x' x 1500;
my $many = join '', map { "X-Header-$_: value-$_\r\n" } 1 .. 400;

# name, raw request, expected status (regex)
my @bad = (
	['CL and TE together',
	    "POST /echo HTTP/1.1\r\n${H}Content-Length: 5\r\n"
	    . "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", qr/^400$/],
	['TE and CL together (other order)',
	    "POST /echo HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n"
	    . "Content-Length: 5\r\n\r\n0\r\n\r\n", qr/^400$/],
	['two different Content-Length',
	    "POST /echo HTTP/1.1\r\n${H}Content-Length: 5\r\n"
	    . "Content-Length: 6\r\n\r\nhello!", qr/^400$/],
	['Content-Length list with different values',
	    "POST /echo HTTP/1.1\r\n${H}Content-Length: 5, 6\r\n\r\nhello!",
	    qr/^400$/],
	['Content-Length with plus sign',
	    "POST /echo HTTP/1.1\r\n${H}Content-Length: +5\r\n\r\nhello",
	    qr/^400$/],
	['negative Content-Length',
	    "POST /echo HTTP/1.1\r\n${H}Content-Length: -5\r\n\r\nhello",
	    qr/^400$/],
	['Content-Length with inner space',
	    "POST /echo HTTP/1.1\r\n${H}Content-Length: 1 0\r\n\r\nhello",
	    qr/^400$/],
	['Content-Length with letters',
	    "POST /echo HTTP/1.1\r\n${H}Content-Length: 5x\r\n\r\nhello",
	    qr/^400$/],
	['Content-Length hex',
	    "POST /echo HTTP/1.1\r\n${H}Content-Length: 0x5\r\n\r\nhello",
	    qr/^400$/],
	['empty Content-Length',
	    "POST /echo HTTP/1.1\r\n${H}Content-Length:\r\n\r\n",
	    qr/^400$/],
	['Content-Length overflow',
	    "POST /echo HTTP/1.1\r\n${H}Content-Length: "
	    . "99999999999999999999999999\r\n\r\nhello", qr/^(400|413)$/],
	['TE gzip alone',
	    "POST /echo HTTP/1.1\r\n${H}Transfer-Encoding: gzip\r\n\r\nhello",
	    qr/^(400|501)$/],
	['TE chunked not final (chunked, gzip)',
	    "POST /echo HTTP/1.1\r\n${H}Transfer-Encoding: chunked, gzip\r\n"
	    . "\r\n0\r\n\r\n", qr/^400$/],
	['TE chunked twice',
	    "POST /echo HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n"
	    . "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", qr/^(400|501)$/],
	['TE gzip, chunked (unsupported coding)',
	    "POST /echo HTTP/1.1\r\n${H}Transfer-Encoding: gzip, chunked\r\n"
	    . "\r\n0\r\n\r\n", qr/^(400|501)$/],
	['TE xchunked',
	    "POST /echo HTTP/1.1\r\n${H}Transfer-Encoding: xchunked\r\n"
	    . "\r\n0\r\n\r\n", qr/^(400|501)$/],
	['TE identity',
	    "POST /echo HTTP/1.1\r\n${H}Transfer-Encoding: identity\r\n"
	    . "Content-Length: 5\r\n\r\nhello", qr/^(400|501)$/],
	['TE in HTTP/1.0',
	    "POST /echo HTTP/1.0\r\n${H}Transfer-Encoding: chunked\r\n\r\n"
	    . "5\r\nhello\r\n0\r\n\r\n", qr/^400$/],
	['obs-fold in a header',
	    "GET / HTTP/1.1\r\n${H}X-Folded: a\r\n b\r\n\r\n", qr/^400$/],
	['obs-fold with tab',
	    "GET / HTTP/1.1\r\n${H}X-Folded: a\r\n\tb\r\n\r\n", qr/^400$/],
	['bare CR in a header value',
	    "GET / HTTP/1.1\r\n${H}X-A: a\rb\r\n\r\n", qr/^400$/],
	['NUL in a header value',
	    "GET / HTTP/1.1\r\n${H}X-A: a\0b\r\n\r\n", qr/^400$/],
	['CTL (0x01) in a header value',
	    "GET / HTTP/1.1\r\n${H}X-A: a\x01b\r\n\r\n", qr/^400$/],
	['CTL in a header name',
	    "GET / HTTP/1.1\r\n${H}X\x01A: b\r\n\r\n", qr/^400$/],
	['NUL in a header name',
	    "GET / HTTP/1.1\r\n${H}X\0A: b\r\n\r\n", qr/^400$/],
	['space before the colon',
	    "GET / HTTP/1.1\r\n${H}X-Foo : bar\r\n\r\n", qr/^400$/],
	['tab before the colon',
	    "GET / HTTP/1.1\r\n${H}X-Foo\t: bar\r\n\r\n", qr/^400$/],
	['header line without colon',
	    "GET / HTTP/1.1\r\n${H}NoColonHere\r\n\r\n", qr/^400$/],
	['empty header name',
	    "GET / HTTP/1.1\r\n${H}: value\r\n\r\n", qr/^400$/],
	['bad chunk size',
	    "POST /echo HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n"
	    . "zz\r\nhello\r\n0\r\n\r\n", qr/^400$/],
	['negative chunk size',
	    "POST /echo HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n"
	    . "-5\r\nhello\r\n0\r\n\r\n", qr/^400$/],
	['chunk size overflow',
	    "POST /echo HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n"
	    . "10000000000000000000005\r\nhello\r\n0\r\n\r\n",
	    qr/^(400|413)$/],
	['chunk size overflow to a small value (2^64 + 5)',
	    "POST /echo HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n"
	    . "10000000000000005\r\nhello\r\n0\r\n\r\n", qr/^(400|413)$/],
	['chunk data longer than its size',
	    "POST /echo HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n"
	    . "3\r\nhello\r\n0\r\n\r\n", qr/^400$/],
	['two Host headers',
	    "GET / HTTP/1.1\r\n${H}Host: other\r\n\r\n", qr/^400$/],
	['two identical Host headers',
	    "GET / HTTP/1.1\r\n${H}${H}\r\n", qr/^400$/],
	['Host with userinfo',
	    "GET / HTTP/1.1\r\nHost: user\@localhost\r\n\r\n", qr/^400$/],
	['Host with a space',
	    "GET / HTTP/1.1\r\nHost: local host\r\n\r\n", qr/^400$/],
	['Host with a bad port',
	    "GET / HTTP/1.1\r\nHost: localhost:8x\r\n\r\n", qr/^400$/],
	['Host with a port out of range',
	    "GET / HTTP/1.1\r\nHost: localhost:99999\r\n\r\n", qr/^400$/],
	['Host with a slash',
	    "GET / HTTP/1.1\r\nHost: local/host\r\n\r\n", qr/^400$/],
	['missing Host in HTTP/1.1',
	    "GET / HTTP/1.1\r\nX-A: b\r\n\r\n", qr/^400$/],
	['HTTP/2.0 request line', "GET / HTTP/2.0\r\n${H}\r\n", qr/^505$/],
	['HTTP/1.2 request line', "GET / HTTP/1.2\r\n${H}\r\n", qr/^505$/],
	['HTTP/3.0 request line', "GET / HTTP/3.0\r\n${H}\r\n", qr/^505$/],
	['garbage request line', "HELLO\r\n\r\n", qr/^400$/],
	['binary request line', "\x01\x02\x03 / HTTP/1.1\r\n${H}\r\n",
	    qr/^400$/],
	['lower-case protocol name', "GET / http/1.1\r\n${H}\r\n",
	    qr/^400$/],
	['NUL in the URI', "GET /a\0b HTTP/1.1\r\n${H}\r\n", qr/^400$/],
	['URI longer than the header buffer',
	    "GET /$big HTTP/1.1\r\n${H}\r\n", qr/^414$/],
	['header line larger than the header buffer',
	    "GET / HTTP/1.1\r\n${H}X-Big: $big\r\n\r\n", qr/^(431|400)$/],
	['too many headers (head over the buffers)',
	    "GET / HTTP/1.1\r\n$H$many\r\n", qr/^(431|400)$/],
	['body over client_max_body_size (Content-Length)',
	    "POST /small HTTP/1.1\r\n${H}Content-Length: 101\r\n\r\n"
	    . ('b' x 101), qr/^413$/, 'keep'],
	['body over client_max_body_size (chunked)',
	    "POST /small HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n"
	    . "50\r\n" . ('b' x 80) . "\r\n50\r\n" . ('b' x 80) . "\r\n"
	    . "0\r\n\r\n", qr/^413$/, 'keep'],
);

for my $case (@bad) {
	my ($name, $raw, $want, $keep) = @$case;
	my ($st, $closed, $resp) = probe($raw);
	like($st // 'none', $want, "$name: status") or
	    diag(substr($resp // '', 0, 300));
	# 413 may keep the connection if the body was read; all others close
	ok($closed, "$name: connection closed") unless $keep;
}

# after a rejected request, data that follows is never parsed as a
# second request (no smuggling)
{
	my $c = Portico::Test::Conn->new($port);
	$c->send("POST /echo HTTP/1.1\r\n${H}Content-Length: 35\r\n"
	    . "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
	    . "GET /p2 HTTP/1.1\r\n${H}\r\n");
	my $m = $c->read_response(timeout => 4);
	is($m && $m->{status}, 400, 'smuggling attempt rejected');
	ok($c->closed(3), 'smuggling attempt: closed');
	unlike($c->{raw}, qr/two/, 'smuggled request not answered');
}

# the server is still fine
like(http_get($port, '/'), qr/^HTTP\/1\.1 200 .*root\n\z/s,
    'still serving after bad requests');

###########################################################################
# good cases

# HTTP/1.0 without keep-alive: a response not chunked, connection closed
{
	my $c = Portico::Test::Conn->new($port);
	$c->send("GET /echo/ten HTTP/1.0\r\n\r\n");
	my $m = $c->read_response;
	is($m && $m->{status}, 200, 'HTTP/1.0: 200');
	like($m && $m->{version}, qr/^1\.[01]$/, 'HTTP/1.0: version');
	ok(!$m->{chunked}, 'HTTP/1.0: not chunked');
	ok($c->closed(3), 'HTTP/1.0: connection closed');
}

# HTTP/1.0 with keep-alive
{
	my $c = Portico::Test::Conn->new($port);
	$c->send("GET /p1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
	my $m = $c->read_response;
	is($m && $m->{body}, "one\n", 'HTTP/1.0 keep-alive: response');
	like($m && $m->{h}{connection} // '', qr/keep-alive/i,
	    'HTTP/1.0 keep-alive: Connection: keep-alive');
	ok(!$c->closed(0.5), 'HTTP/1.0 keep-alive: connection kept');
	$c->send("GET /p2 HTTP/1.0\r\n\r\n");
	$m = $c->read_response;
	is($m && $m->{body}, "two\n", 'HTTP/1.0 keep-alive: second response');
	ok($c->closed(3), 'HTTP/1.0: closed after a request without keep-alive');
}

# HEAD: headers only, the connection stays usable
{
	my @r = http_keepalive($port, [
	    "HEAD /p3 HTTP/1.1\r\n$H\r\n",
	    "GET /p1 HTTP/1.1\r\n$H\r\n"]);
	is(scalar @r, 2, 'HEAD then GET: two responses');
	is($r[0]{status}, 200, 'HEAD: 200');
	is($r[0]{h}{'content-length'}, 6, 'HEAD: Content-Length of the GET');
	is($r[0]{body}, '', 'HEAD: no body');
	is($r[1]{body}, "one\n", 'response after HEAD parsed cleanly');
}

# pipelining: answered in order, also when a proxied one is slow
{
	my $raw = http($port, "GET /p1 HTTP/1.1\r\n$H\r\n"
	    . "GET /echo/slow HTTP/1.1\r\n$H\r\n"
	    . "HEAD /p2 HTTP/1.1\r\n$H\r\n"
	    . "GET /p3 HTTP/1.1\r\n${H}Connection: close\r\n\r\n",
	    responses => 4, head => [0, 0, 1, 0], wait_close => 1);
	my @r = parse_responses($raw, head => [0, 0, 1, 0]);
	is(scalar @r, 4, 'pipelined: 4 responses');
	is($r[0] && $r[0]{body}, "one\n", 'pipelined: 1st');
	is($r[1] && $r[1]{h}{'x-uri'}, '/echo/slow', 'pipelined: 2nd (slow)');
	is($r[2] && $r[2]{status}, 200, 'pipelined: 3rd (HEAD)');
	is($r[2] && $r[2]{body}, '', 'pipelined: HEAD has no body');
	is($r[3] && $r[3]{body}, "three\n", 'pipelined: 4th');
}

# 300 pipelined requests in one write, answered in order
{
	my $n = 300;
	my $raw = join '', map { "GET /p" . (1 + $_ % 3) . "?i=$_ HTTP/1.1\r\n$H\r\n" }
	    0 .. $n - 2;
	$raw .= "GET /p1 HTTP/1.1\r\n${H}Connection: close\r\n\r\n";
	my $all = http($port, $raw, responses => $n, timeout => 10);
	my @r = parse_responses($all // '');
	is(scalar @r, $n, "$n pipelined requests: $n responses");
	my @want = ((map { ("one\n", "two\n", "three\n")[$_ % 3] } 0 .. $n - 2),
	    "one\n");
	is_deeply([map { $_->{body} } @r], \@want, 'pipelined responses in order');
}

# a head just under the limits is fine
{
	my $uri = '/p1?' . ('u' x 900);
	my $r = http($port, "GET $uri HTTP/1.1\r\n${H}X-Near: " . ('n' x 900)
	    . "\r\nConnection: close\r\n\r\n");
	like($r // '', qr/^HTTP\/1\.1 200 .*one\n\z/s,
	    'URI and header just under the buffer size: 200');
}

# Expect: 100-continue
{
	my $c = Portico::Test::Conn->new($port);
	$c->send("POST /echo/continue HTTP/1.1\r\n$H"
	    . "Content-Length: 5\r\nExpect: 100-continue\r\n\r\n");
	my $m = $c->read_response(timeout => 3);
	is($m && $m->{status}, 100, '100-continue: 100 Continue first');
	$c->send("hello");
	$m = $c->read_final(timeout => 3);
	is($m && $m->{status}, 200, '100-continue: then 200');
	is($m && $m->{body}, 'hello', '100-continue: body went through');
}

# Expect: 100-continue with a body over client_max_body_size: 413, no 100
{
	my $c = Portico::Test::Conn->new($port);
	$c->send("POST /small HTTP/1.1\r\n$H"
	    . "Content-Length: 1000\r\nExpect: 100-continue\r\n\r\n");
	my $m = $c->read_response(timeout => 3);
	is($m && $m->{status}, 413, '100-continue over the limit: 413 at once');
}

# Expect: 100-continue from an HTTP/1.0 client: no 100 (RFC 9110 10.1.1)
{
	my $c = Portico::Test::Conn->new($port);
	$c->send("POST /echo HTTP/1.0\r\nContent-Length: 5\r\n"
	    . "Expect: 100-continue\r\n\r\n");
	my $m = $c->read_response(timeout => 0.5);
	ok(!$m || $m->{status} != 100, 'HTTP/1.0 client gets no 100 Continue');
	$c->send("hello");
	$m = $c->read_final(timeout => 3);
	is($m && $m->{body}, 'hello', 'HTTP/1.0 with Expect: body went through');
}

# a chunked request body reaches the backend intact, chunk extensions
# and trailers are handled
{
	my $r = http($port, "POST /echo/chunked HTTP/1.1\r\n$H"
	    . "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
	    . "5\r\nhello\r\n1;ext=1\r\n \r\n"
	    . "A\r\n0123456789\r\n0\r\nX-Trailer: t\r\n\r\n");
	my $m = parse_response($r);
	is($m && $m->{status}, 200, 'chunked body: 200');
	is($m && $m->{body}, 'hello 0123456789', 'chunked body: intact');
}

# a request body with Content-Length, then the next request on the
# same connection (the body is not parsed as a request)
{
	my $body = "GET /p3 HTTP/1.1\r\n${H}\r\n";
	my @r = http_keepalive($port, [
	    "POST /echo/cl HTTP/1.1\r\n${H}Content-Length: "
	    . length($body) . "\r\n\r\n$body",
	    "GET /p1 HTTP/1.1\r\n$H\r\n"]);
	is($r[0] && $r[0]{body}, $body, 'CL body passed as body');
	is($r[1] && $r[1]{body}, "one\n", 'next request after a CL body');
}

# identical duplicate Content-Length values are one value (RFC 9112 6.3)
# or an error; never two bodies
{
	my ($st, $closed, $raw) = probe("POST /echo/dup HTTP/1.1\r\n$H"
	    . "Content-Length: 5\r\nContent-Length: 5\r\n"
	    . "Connection: close\r\n\r\nhello");
	like($st // 'none', qr/^(200|400)$/,
	    'identical duplicate Content-Length: 200 or 400');
	my $m = parse_response($raw) // {};
	if (($st // 0) == 200) {
		is($m->{h}{'x-got-cl'}, '5',
		    'identical duplicate Content-Length: one sent upstream');
		is($m->{body}, 'hello', 'identical duplicate Content-Length: body');
	} else {
		pass('identical duplicate Content-Length: rejected') for 1 .. 2;
	}
}

done_testing;
