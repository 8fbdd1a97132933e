# Failure handling: proxy_next_upstream (error, http_503, off,
# non_idempotent, tries), $upstream_addr/$upstream_status listing every
# try, max_fails/fail_timeout taking a dead server out and back in,
# max_conns, and a backend killed under continuous load with zero
# client-visible errors.

use strict;
use warnings;
use Test::More;
use IO::Socket::INET;
use POSIX qw(WNOHANG);
use Time::HiRes qw(sleep);
use Portico::Test;

my $t = Portico::Test->new;
$t->write_conf(<<'EOF');
daemon off;
worker_processes 1;
pid logs/portico.pid;
error_log logs/error.log info;
events { worker_connections 1024; }
http {
    log_format up "$uri|$status|$upstream_addr|$upstream_status";
    access_log logs/up.log up;

    upstream deadfirst {
        server 127.0.0.1:%%PORT_X%% max_fails=1 fail_timeout=2s;
        server 127.0.0.1:%%PORT_A%%;
    }
    upstream s503 {
        server 127.0.0.1:%%PORT_S%% max_fails=0;
        server 127.0.0.1:%%PORT_A%%;
    }
    upstream drop {
        server 127.0.0.1:%%PORT_R%%;
        server 127.0.0.1:%%PORT_A%%;
    }
    upstream one {
        server 127.0.0.1:%%PORT_H%% max_conns=1;
    }
    upstream q1 {
        server 127.0.0.1:%%PORT_H%% max_conns=1;
        queue 4 timeout=500ms;
    }
    upstream q3 {
        server 127.0.0.1:%%PORT_H%% max_conns=1;
        queue 4 timeout=5s;
    }
    upstream pool {
        server 127.0.0.1:%%PORT_P1%%;
        server 127.0.0.1:%%PORT_P2%%;
        server 127.0.0.1:%%PORT_P3%%;
        keepalive 16;
    }

    server {
        listen 127.0.0.1:%%PORT_L%%;
        proxy_connect_timeout 2s;
        location /dead/ { proxy_pass http://deadfirst; }
        location /s503/ {
            proxy_pass http://s503;
            proxy_next_upstream error timeout http_503;
        }
        location /s503no/ { proxy_pass http://s503; }
        location /off/ {
            proxy_pass http://deadfirst;
            proxy_next_upstream off;
        }
        location /tries1/ {
            proxy_pass http://s503;
            proxy_next_upstream http_503;
            proxy_next_upstream_tries 1;
        }
        location /post/ { proxy_pass http://drop; }
        location /postni/ {
            proxy_pass http://drop;
            proxy_next_upstream error timeout non_idempotent;
        }
        location /one/ { proxy_pass http://one; }
        location /q1/ { proxy_pass http://q1; }
        location /q3/ { proxy_pass http://q3; }
        location /pool/ {
            proxy_pass http://pool;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
EOF

$t->http_backend('A', handler => sub { return (200, ['X-B' => 'A'], 'A') });
$t->http_backend('S', handler => sub { return (503, ['X-B' => 'S'], 'busy') });
# reads the request, then closes without an answer
$t->raw_backend('R', sub { return; });
$t->http_backend('H', handler => sub {
	my ($r) = @_;
	sleep 2 if $r->{uri} =~ /slow/;
	return (200, [], 'H');
});
my %pid;
for my $b (qw(P1 P2 P3)) {
	$pid{$b} = $t->http_backend($b, handler => sub { return (200, ['X-B' => $b], $b) });
}
my $port = $t->port('L');
my ($pa, $px) = ($t->port('A'), $t->port('X'));
$t->run;
$t->plan(20);

sub log_line {
	my ($re) = @_;
	return $t->wait_for_log('logs/up.log', qr/^$re[^\n]*$/m, 3);
}

sub connects_to_x {
	my @n = $t->read_file('logs/error.log') =~ /connect\(\) failed[^\n]*127\.0\.0\.1:$px/g;
	return scalar @n;
}

# a dead first server: the request goes on to A; $upstream_* list both
my $r = parse_response(http_get($port, '/dead/1'));
is($r->{status}, 200, 'dead server: retried on the next one');
like(log_line('/dead/1'), qr{\|200\|127\.0\.0\.1:$px, 127\.0\.0\.1:$pa\|502, 200$},
    '$upstream_addr and $upstream_status list both tries');

# max_fails=1: the dead server is out for fail_timeout (2s)
my $before = connects_to_x();
my $ok = 0;
for (1 .. 10) {
	$ok++ if parse_response(http_get($port, "/dead/n$_"))->{status} == 200;
}
is($ok, 10, 'max_fails: requests answered');
is(connects_to_x(), $before, 'max_fails: the failed server is not tried within fail_timeout');
sleep 2.3;
http_get($port, "/dead/after$_") for 1 .. 4;
ok(connects_to_x() > $before, 'fail_timeout over: the server is tried again');

# http_503 retried when listed, passed on when not
$ok = 0;
for (1 .. 6) {
	my $m = parse_response(http_get($port, "/s503/$_"));
	$ok++ if $m->{status} == 200 && ($m->{h}{'x-b'} // '') eq 'A';
}
is($ok, 6, 'proxy_next_upstream http_503: every request answered by A');
like(log_line('/s503/\d'), qr{\|200\|[^|]+, [^|]+\|503, 200$}, 'http_503 retry logged');
my %st;
$st{parse_response(http_get($port, "/s503no/$_"))->{status}}++ for 1 .. 6;
ok(($st{503} // 0) > 0, 'without http_503 the 503 is passed on');
%st = ();
$st{parse_response(http_get($port, "/tries1/$_"))->{status}}++ for 1 .. 6;
ok(($st{503} // 0) > 0, 'proxy_next_upstream_tries 1: no second try');

# off: no retry at all (X is dead again after its window)
sleep 2.1;
%st = ();
$st{parse_response(http_get($port, "/off/$_"))->{status}}++ for 1 .. 4;
ok(($st{502} // 0) > 0, 'proxy_next_upstream off: 502 from the dead server');

# non-idempotent requests sent to a server that dropped them
my $post = "POST /post/x HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc";
my %ps;
$ps{parse_response(http($port, $post))->{status}}++ for 1 .. 4;
ok(($ps{502} // 0) > 0, 'POST not retried by default after it was sent');
(my $post2 = $post) =~ s{/post/}{/postni/};
%ps = ();
$ps{parse_response(http($port, $post2))->{status}}++ for 1 .. 4;
is($ps{200} // 0, 4, 'POST retried with non_idempotent');

# max_conns=1 on the only server: a second request gets 502 at once
my $slow = Portico::Test::Conn->new($port);
$slow->send("GET /one/slow HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
sleep 0.3;
my $t0 = now();
$r = parse_response(http_get($port, '/one/fast'));
is($r->{status}, 502, 'max_conns reached: 502');
ok(now() - $t0 < 1, 'max_conns reached: answered promptly');
my $sr = $slow->read_final(timeout => 5);
is($sr && $sr->{status}, 200, 'max_conns: the request in flight completes');

# queue: a request waits for the busy server, 503 when its time is up
$slow = Portico::Test::Conn->new($port);
$slow->send("GET /q1/slow HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
sleep 0.3;
$t0 = now();
$r = parse_response(http_get($port, '/q1/fast'));
my $took = now() - $t0;
ok($r->{status} == 503 && $took > 0.4 && $took < 1.5,
    "queue timeout=500ms: 503 after " . sprintf('%.2f', $took) . 's');
$slow->read_final(timeout => 5);
$slow = Portico::Test::Conn->new($port);
$slow->send("GET /q3/slow HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
sleep 0.3;
$t0 = now();
$r = parse_response(http_get($port, '/q3/fast', timeout => 8));
$took = now() - $t0;
is($r->{status}, 200, 'queue: the waiting request is served when the server frees up');
ok($took > 1 && $took < 4, 'queue: it waited for the slow one (' . sprintf('%.2f', $took) . 's)');
$slow->read_final(timeout => 5);

# kill a backend under continuous load: no client-visible error
my $dir = $t->testdir;
my @kids;
for my $k (1 .. 4) {
	my $pid = fork;
	die "fork: $!" unless defined $pid;
	if ($pid == 0) {
		my ($good, $bad) = (0, 0);
		my $end = now() + 3;
		while (now() < $end) {
			my @reqs = map { "GET /pool/$k HTTP/1.1\r\nHost: x\r\n\r\n" } 1 .. 20;
			my @res = http_keepalive($port, \@reqs, timeout => 5);
			$good += grep { $_->{status} == 200 } @res;
			$bad += @reqs - grep { $_->{status} == 200 } @res;
		}
		open my $fh, '>', "$dir/load$k" or POSIX::_exit(1);
		print $fh "$good $bad\n";
		close $fh;
		POSIX::_exit(0);
	}
	push @kids, $pid;
}
sleep 1;
kill 'TERM', -$pid{P2};
kill 'TERM', $pid{P2};
waitpid($pid{P2}, 0);
for my $pid (@kids) {
	wait_until(sub { waitpid($pid, WNOHANG) != 0 }, 20) or kill 'KILL', $pid;
}
my ($good, $bad) = (0, 0);
for my $k (1 .. 4) {
	my ($g, $b) = split ' ', $t->read_file("load$k");
	$good += $g // 0;
	$bad += $b // 1000;
}
ok($good > 100 && $bad == 0, "backend killed under load: $good good, $bad bad");
ok($t->read_file('logs/error.log') =~ /temporarily disabled/,
    'the killed backend was taken out (logged)');
