# Timeouts and per-connection limits: client_header_timeout (slowloris),
# client_body_timeout, keepalive_timeout, keepalive_requests,
# send_timeout, proxy_send_timeout.

use strict;
use warnings;
use Test::More;
use IO::Select;
use IO::Socket::INET;
use Socket qw(SOL_SOCKET SO_RCVBUF);
use Time::HiRes qw(sleep);
use Portico::Test;

my $t = Portico::Test->new;
$t->write_conf(<<'EOF');
daemon off;
worker_processes 1;
pid logs/portico.pid;
error_log logs/error.log info;
events { worker_connections 128; }
http {
    %%NGINX_ONLY%%
    access_log logs/access.log;
    client_header_timeout 1s;
    client_body_timeout 1s;
    send_timeout 1s;
    keepalive_timeout 1s;
    keepalive_requests 3;
    server {
        listen 127.0.0.1:%%PORT_A%%;
        location / { return 200 "ok\n"; }
        location /noka { keepalive_timeout 0; return 200 "noka\n"; }
        location /echo { proxy_pass http://127.0.0.1:%%PORT_B%%; }
        location /big {
            proxy_pass http://127.0.0.1:%%PORT_G%%;
            proxy_buffering off;
        }
        location /upload {
            proxy_pass http://127.0.0.1:%%PORT_N%%;
            proxy_http_version 1.1;
            proxy_request_buffering off;
            proxy_send_timeout 1s;
            client_max_body_size 100m;
            client_body_timeout 5s;
            proxy_read_timeout 10s;
        }
    }
}
EOF

$t->http_backend('B');

my $BIG = 64 << 20;
my $block = 'z' x 65536;
$t->raw_backend('G', sub {
	my ($s) = @_;
	print $s "HTTP/1.1 200 OK\r\nContent-Length: $BIG\r\nConnection: close\r\n\r\n";
	for (1 .. $BIG / length $block) {
		Portico::Test::_write_all($s, $block) or last;
	}
});

# N: reads the request head, then never reads the body
$t->raw_backend('N', sub { sleep 8 }, read => 0);

$t->run;
my $port = $t->port('A');

# wait for the server to close; returns (closed?, seconds)
sub wait_closed {
	my ($c, $limit) = @_;
	my $t0 = now();
	my $closed = $c->closed($limit);
	return ($closed, now() - $t0);
}

# client_header_timeout: a partial head, nothing more
{
	my $c = Portico::Test::Conn->new($port);
	$c->send("GET / HTTP/1.1\r\nHost: localhost\r\n");
	my ($closed, $dt) = wait_closed($c, 4);
	ok($closed, 'partial head: connection closed');
	cmp_ok($dt, '<', 3, "partial head: closed after client_header_timeout ($dt s)");
	cmp_ok($dt, '>', 0.7, 'partial head: not before the timeout');
	unlike($c->{raw}, qr/^HTTP\/1\.1 200/, 'partial head: no response');
}

# slowloris: one byte every 0.2 s never completes the head
{
	my $c = Portico::Test::Conn->new($port);
	my $t0 = now();
	$c->send("GET / HTTP/1.1\r\nHost: localhost\r\n");
	my $closed = 0;
	while (now() - $t0 < 5) {
		last unless $c->send("X");
		if ($c->closed(0.2)) { $closed = 1; last }
	}
	my $dt = now() - $t0;
	ok($closed, 'slowloris: connection closed');
	cmp_ok($dt, '<', 3, "slowloris: within client_header_timeout ($dt s)");
}

# client_body_timeout: part of the body, then nothing
{
	my $c = Portico::Test::Conn->new($port);
	$c->send("POST /echo HTTP/1.1\r\nHost: localhost\r\n"
	    . "Content-Length: 100\r\n\r\n0123456789");
	my ($closed, $dt) = wait_closed($c, 5);
	ok($closed, 'stalled body: connection closed');
	cmp_ok($dt, '<', 3.5, "stalled body: after client_body_timeout ($dt s)");
	my $m = parse_response($c->{raw});
	ok(!$m || !$m->{status} || $m->{status} == 408 || $m->{status} >= 400,
	    'stalled body: no success response');
}

# keepalive_timeout: an idle keep-alive connection is closed
{
	my $c = Portico::Test::Conn->new($port);
	$c->send("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
	my $m = $c->read_response(timeout => 3);
	is($m && $m->{status}, 200, 'keep-alive: response');
	ok(!$c->closed(0.4), 'keep-alive: open right after the response');
	my ($closed, $dt) = wait_closed($c, 4);
	ok($closed, 'keepalive_timeout: idle connection closed');
	cmp_ok($dt, '<', 2.5, "keepalive_timeout 1s honoured ($dt s)");
}

# keepalive_timeout 0 disables keep-alive
{
	my $c = Portico::Test::Conn->new($port);
	$c->send("GET /noka HTTP/1.1\r\nHost: localhost\r\n\r\n");
	my $m = $c->read_response(timeout => 3) // {};
	like($m->{h}{connection} // '', qr/close/i,
	    'keepalive_timeout 0: Connection: close');
	ok($c->closed(2), 'keepalive_timeout 0: closed');
}

# keepalive_requests 3: the 3rd response says close, then the close
{
	my $c = Portico::Test::Conn->new($port);
	my @r;
	for (1 .. 3) {
		$c->send("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n") or last;
		push @r, $c->read_response(timeout => 3) // {};
	}
	is(scalar(grep { ($_->{status} // 0) == 200 } @r), 3,
	    'keepalive_requests: three responses');
	unlike($r[0]{h}{connection} // '', qr/close/i, '1st: no Connection: close');
	unlike($r[1]{h}{connection} // '', qr/close/i, '2nd: no Connection: close');
	like($r[2]{h}{connection} // '', qr/close/i, '3rd: Connection: close');
	ok($c->closed(2), 'keepalive_requests: closed after the 3rd');
}

# send_timeout: a client that stops reading a big response is dropped
{
	my $s = IO::Socket::INET->new(Proto => 'tcp');
	setsockopt($s, SOL_SOCKET, SO_RCVBUF, pack('i', 8192));
	my $ok = $s->connect(Socket::pack_sockaddr_in($port,
	    Socket::inet_aton('127.0.0.1')));
	print $s "GET /big HTTP/1.1\r\nHost: localhost\r\n\r\n";
	sleep 3.5;			# send_timeout is 1 s
	my $total = 0;
	my $sel = IO::Select->new($s);
	my $end = now() + 20;
	my $eof = 0;
	while (now() < $end) {
		last unless $sel->can_read(3);
		my $n = sysread($s, my $buf, 1 << 20);
		if (!$n) { $eof = 1; last }
		$total += length $buf;
	}
	ok($eof, 'send_timeout: connection closed');
	cmp_ok($total, '<', $BIG, "send_timeout: response cut ($total bytes)");
}

# proxy_send_timeout: the upstream does not read the request body
{
	my $c = Portico::Test::Conn->new($port);
	my $size = 64 << 20;
	$c->send("POST /upload HTTP/1.1\r\nHost: localhost\r\n"
	    . "Content-Length: $size\r\n\r\n");
	my $sock = $c->sock;
	$sock->blocking(0);
	my $chunk = 'u' x 65536;
	my $sent = 0;
	my $t0 = now();
	my $sel = IO::Select->new($sock);
	while (now() - $t0 < 8 && $sent < $size) {
		my ($r, $w) = IO::Select->select($sel, $sel, undef, 0.2);
		if ($r && @$r) { last }
		if ($w && @$w) {
			my $n = syswrite($sock, $chunk);
			last if !defined $n && !$!{EAGAIN};
			$sent += $n // 0;
		}
	}
	$sock->blocking(1);
	my $m = $c->read_response(timeout => 8);
	my $dt = now() - $t0;
	like($m && $m->{status} // '', qr/^50[24]$/,
	    'proxy_send_timeout: 502 or 504');
	cmp_ok($dt, '<', 5, "proxy_send_timeout 1s honoured ($dt s)");
}

done_testing;
