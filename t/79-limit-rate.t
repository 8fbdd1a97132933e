# limit_rate, limit_rate_after, proxy_limit_rate: response bandwidth per
# request. A 1 MiB proxied response at limit_rate 256k takes about 4 s;
# with limit_rate_after 512k its first half comes at once; a static file
# (file buffers, sendfile) is paced the same way; a rate from a variable;
# proxy_limit_rate paces the reads from the upstream; a small response
# is not held back; a client that leaves while its response is paced
# ends the request (its limit_conn count comes back). The measurements
# run in parallel so the file stays short.

use strict;
use warnings;
use Test::More;
use IO::Select;
use POSIX qw(_exit);
use Time::HiRes qw(sleep);
use Portico::Test;

my $t = Portico::Test->new;
$t->plan(17);
my $MiB = 1024 * 1024;
$t->write_file('html/half.bin', 'f' x (512 * 1024));
$t->write_conf(<<'EOF');
daemon off;
worker_processes 2;
pid logs/portico.pid;
error_log logs/error.log info;
events { worker_connections 256; }
http {
    %%NGINX_ONLY%%
    access_log logs/access.log;
    limit_conn_zone $binary_remote_addr zone=one:1m;

    server {
        listen 127.0.0.1:%%PORT_A%%;
        root html;
        location /big/ {
            limit_rate 256k;
            proxy_pass http://127.0.0.1:%%PORT_B%%;
        }
        location /after/ {
            limit_rate 256k;
            limit_rate_after 512k;
            proxy_pass http://127.0.0.1:%%PORT_B%%;
        }
        location /var/ {
            limit_rate $arg_rate;
            add_header X-Rate $limit_rate;
            proxy_pass http://127.0.0.1:%%PORT_B%%;
        }
        location /upstream/ {
            proxy_limit_rate 128k;
            proxy_pass http://127.0.0.1:%%PORT_B%%;
        }
        location /file/ {
            limit_rate 256k;
            alias html/;
        }
        location /abort/ {
            limit_rate 64k;
            limit_conn one 1;
            limit_conn_status 429;
            alias html/;
        }
        location /free/ { proxy_pass http://127.0.0.1:%%PORT_B%%; }
    }
}
EOF
# /SIZE/...: a body of SIZE KiB
$t->http_backend('B', handler => sub {
	my ($req) = @_;
	my ($kib) = $req->{uri} =~ m{/(\d+)k};
	return (200, ['Content-Type' => 'application/octet-stream'], 'x' x (($kib // 1) * 1024));
});
$t->run;
my $port = $t->port('A');
my $dir = $t->testdir;

# GET <uri>; returns (status, body length, seconds to the whole response,
# seconds until <mark> body bytes had arrived)
sub timed_get {
	my ($uri, $mark) = @_;
	my $c = Portico::Test::Conn->new($port) or return (0, 0, 99, 99);
	my $start = now();
	$c->send("GET $uri HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
	my ($buf, $tmark, $hlen) = ('', undef, undef);
	while (now() - $start < 15) {
		my $chunk = '';
		my $sel = IO::Select->new($c->sock);
		last unless $sel->can_read(1);
		my $n = sysread($c->sock, $chunk, 65536);
		last unless $n;
		$buf .= $chunk;
		if (!defined $hlen) {
			my $i = index($buf, "\r\n\r\n");
			$hlen = $i + 4 if $i >= 0;
		}
		$tmark //= now() - $start
		    if defined $mark && defined $hlen && length($buf) - $hlen >= $mark;
	}
	my $total = now() - $start;
	my ($st) = $buf =~ m{^HTTP/1\.1 (\d+)};
	return ($st // 0, defined $hlen ? length($buf) - $hlen : 0, $total, $tmark // 99,
	    $buf =~ /^X-Rate: (\S+)\r$/m ? $1 : '');
}

# run every measurement at once, each in its own process
my %cases = (
	big => ['/big/1024k', undef],
	after => ['/after/1024k', 512 * 1024],
	file => ['/file/half.bin', undef],
	var => ['/var/512k?rate=128k', undef],
	upstream => ['/upstream/256k', undef],
	small => ['/big/1k', undef],
	free => ['/free/1024k', undef],
);
my @pids;
for my $name (sort keys %cases) {
	my $pid = fork;
	die "fork: $!" unless defined $pid;
	if ($pid == 0) {
		my @r = timed_get(@{$cases{$name}});
		open my $fh, '>', "$dir/res.$name" or _exit(1);
		print $fh join(' ', @r), "\n";
		close $fh;
		_exit(0);
	}
	push @pids, $pid;
}
waitpid($_, 0) for @pids;
my %res;
for my $name (keys %cases) {
	$res{$name} = [split ' ', $t->read_file("res.$name") // '0 0 99 99'];
}

sub between { my ($v, $lo, $hi) = @_; return $v >= $lo && $v <= $hi }

my ($st, $len, $secs, $mark) = @{$res{big}};
ok($st == 200 && $len == $MiB, "1 MiB at limit_rate 256k: complete ($st, $len bytes)");
ok(between($secs, 3, 6), "... in about 4 s (${secs}s)");

($st, $len, $secs, $mark) = @{$res{after}};
ok($st == 200 && $len == $MiB, "limit_rate_after 512k: complete ($len bytes)");
ok($mark < 1, "... the first 512k at full speed (${mark}s)");
ok(between($secs, 1.5, 3.5), "... the rest at 256k/s (${secs}s in all)");

($st, $len, $secs) = @{$res{file}};
ok($st == 200 && $len == 512 * 1024, "static file at 256k: complete ($len bytes)");
ok(between($secs, 1.5, 3.5), "... in about 2 s (${secs}s)");

my $xrate;
($st, $len, $secs, $mark, $xrate) = @{$res{var}};
ok($st == 200 && $len == 512 * 1024 && between($secs, 3, 6),
    "limit_rate \$arg_rate: 512k at 128k in about 4 s (${secs}s)");
is($xrate, 131072, '$limit_rate is the rate in bytes per second');

($st, $len, $secs) = @{$res{upstream}};
ok($st == 200 && $len == 256 * 1024, "proxy_limit_rate 128k: complete ($len bytes)");
ok(between($secs, 1.5, 3.5), "... read from the upstream in about 2 s (${secs}s)");

($st, $len, $secs) = @{$res{small}};
ok($st == 200 && $len == 1024 && $secs < 0.5, "a 1k response is not held back (${secs}s)");
($st, $len, $secs) = @{$res{free}};
ok($st == 200 && $len == $MiB && $secs < 1, "no limit_rate: 1 MiB at once (${secs}s)");

###########################################################################
# keep-alive: the next response on the connection is paced on its own

{
	my @r = http_keepalive($port, [
	    "GET /big/64k HTTP/1.1\r\nHost: a\r\n\r\n",
	    "GET /big/64k HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"], timeout => 5);
	ok(@r == 2 && length($r[1]{body} // '') == 65536, 'two paced responses on one connection');
}

###########################################################################
# a client that leaves while its response is paced: the request ends
# (limit_conn 1 lets the next one in, the log has it)

{
	my $c = Portico::Test::Conn->new($port);
	$c->send("GET /abort/half.bin HTTP/1.1\r\nHost: a\r\n\r\n");
	my $got = '';
	my $sel = IO::Select->new($c->sock);
	while ($sel->can_read(2)) {
		my $n = sysread($c->sock, my $chunk, 65536);
		last unless $n;
		$got .= $chunk;
		last if length($got) > 8192;
	}
	ok(length($got) > 0, 'paced response started');
	close $c->sock;
	my $st = 0;
	wait_until(sub {
		($st) = (http_get($port, '/abort/half.bin', method => 'HEAD') // '')
		    =~ m{^HTTP/1\.1 (\d+)};
		return ($st // 0) == 200;
	}, 3, 0.1);
	is($st, 200, 'the left request released its limit_conn count');
	ok(wait_until(sub { ($t->read_file('logs/access.log') // '')
	    =~ m{"GET /abort/half\.bin HTTP/1\.1" 200 }; }, 3, 0.1),
	    'and was logged');
}
