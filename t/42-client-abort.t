# Clients that go away at the worst moment, and many at once: no worker
# crashes (the harness also fails the file on sanitizer reports and
# workers dying of a signal), nothing hangs, and the server keeps
# serving. The upstream sees the abort (its connection is closed).

use strict;
use warnings;
use Test::More;
use IO::Select;
use IO::Socket::INET;
use Socket qw(SOL_SOCKET SO_LINGER);
use Time::HiRes qw(sleep);
use Portico::Test;

my $t = Portico::Test->new;
$t->write_conf(<<'EOF');
daemon off;
worker_processes 1;
pid logs/portico.pid;
error_log logs/error.log info;
events { worker_connections 512; }
http {
    %%NGINX_ONLY%%
    access_log logs/access.log;
    client_body_timeout 3s;
    server {
        listen 127.0.0.1:%%PORT_A%%;
        location / { return 200 "ok\n"; }
        location /slow/ { proxy_pass http://127.0.0.1:%%PORT_S%%; }
        location /big/ {
            proxy_pass http://127.0.0.1:%%PORT_G%%;
            proxy_buffering off;
        }
        location /up/ {
            proxy_pass http://127.0.0.1:%%PORT_E%%;
            proxy_request_buffering off;
            proxy_http_version 1.1;
        }
        location /echo/ { proxy_pass http://127.0.0.1:%%PORT_E%%; }
    }
}
EOF

my $dir = $t->testdir;

# S: answers after 2 s, records whether the proxy closed first
$t->raw_backend('S', sub {
	my ($s, $req, $n) = @_;
	my $sel = IO::Select->new($s);
	my $state = 'kept';
	if ($sel->can_read(2)) {
		my $k = sysread($s, my $b, 100);
		$state = 'closed' if !$k;
	}
	if (open my $fh, '>', "$dir/slow-$n") { print $fh $state; close $fh }
	print $s "HTTP/1.1 200 OK\r\nContent-Length: 4\r\nConnection: close\r\n\r\nlate";
});

my $BIG = 32 << 20;
$t->raw_backend('G', sub {
	my ($s) = @_;
	print $s "HTTP/1.1 200 OK\r\nContent-Length: $BIG\r\nConnection: close\r\n\r\n";
	my $block = 'g' x 65536;
	for (1 .. $BIG / 65536) {
		Portico::Test::_write_all($s, $block) or last;
	}
});

$t->http_backend('E', handler => sub {
	my ($r) = @_;
	return (200, [], 'got ' . length($r->{body}));
});

$t->run;
my $port = $t->port('A');

sub rst {
	my ($s) = @_;
	setsockopt($s, SOL_SOCKET, SO_LINGER, pack('ii', 1, 0));
	close $s;
}

sub alive_and_serving {
	my ($what) = @_;
	like(http_get($port, '/'), qr/\r\n\r\nok\n\z/, "serving after: $what");
}

# client closes while the upstream is still thinking
{
	my $c = Portico::Test::Conn->new($port);
	$c->send("GET /slow/ HTTP/1.1\r\nHost: localhost\r\n\r\n");
	sleep 0.3;
	$c->close;
	my $st = '';
	wait_until(sub { ($st = $t->read_file('slow-1')) ne '' }, 5);
	is($st, 'closed', 'client gone: upstream connection closed');
	alive_and_serving('client closed during a slow upstream');
}

# client resets during a big streamed response
for my $i (1 .. 3) {
	my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
	    Proto => 'tcp');
	print $s "GET /big/ HTTP/1.1\r\nHost: localhost\r\n\r\n";
	my $got = 0;
	while ($got < 1 << 20) {
		my $n = sysread($s, my $b, 65536);
		last unless $n;
		$got += $n;
	}
	rst($s);
}
alive_and_serving('resets during big responses');

# client resets in the middle of a streamed request body
for my $i (1 .. 3) {
	my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
	    Proto => 'tcp');
	print $s "POST /up/ HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100000\r\n\r\n"
	    . ('b' x 30000);
	sleep 0.1;
	rst($s);
}
alive_and_serving('resets during request bodies');

# chunked body cut in the middle of a chunk, then close
{
	my $c = Portico::Test::Conn->new($port);
	$c->send("POST /echo/ HTTP/1.1\r\nHost: localhost\r\n"
	    . "Transfer-Encoding: chunked\r\n\r\n100\r\nabc");
	$c->close;
}
alive_and_serving('chunked body cut short');

# half-close after the request: the response still comes
{
	my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
	    Proto => 'tcp');
	print $s "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
	shutdown($s, 1);
	my $all = '';
	my $end = now() + 5;
	while (now() < $end) {
		my $n = sysread($s, $all, 4096, length $all);
		last unless $n;
		last if $all =~ /\r\n\r\nok\n/;
	}
	like($all, qr/\r\n\r\nok\n/, 'half-closed client gets its response');
}

# many connections at once, some idle, some sending
{
	my @idle = grep { $_ } map {
	    IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
		Proto => 'tcp') } 1 .. 200;
	my @busy = map { Portico::Test::Conn->new($port) } 1 .. 50;
	$_->send("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n") for grep { $_ } @busy;
	my $ok = 0;
	for my $c (grep { $_ } @busy) {
		my $m = $c->read_response(timeout => 5);
		$ok++ if $m && ($m->{status} // 0) == 200;
	}
	is($ok, 50, '50 requests answered next to 200 idle connections');
	rst($_) for @idle[0 .. 99];
	close $_ for @idle[100 .. $#idle];
	$_->close for grep { $_ } @busy;
}
alive_and_serving('many connections');

# every worker is the original one: nothing crashed
my @w = $t->worker_pids;
is(scalar @w, 1, 'one worker');
unlike($t->read_file('logs/error.log'), qr/exited on signal|exited with code [1-9]/,
    'no worker died');

done_testing;
