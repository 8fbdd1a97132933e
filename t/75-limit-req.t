# limit_req: with 4 workers and many client connections a 10r/s burst=5
# nodelay zone admits 5+10*t (+-2) requests over t seconds; without
# nodelay the excess is delayed and arrives spaced at the rate; delay=N
# lets N through at once; dry run counts but neither rejects nor delays;
# limit_req_status, RateLimit-Policy/RateLimit/Retry-After fields,
# $limit_req_status; an empty key is not limited; a full zone evicts the
# least recently used keys instead of failing; configuration errors.

use strict;
use warnings;
use Test::More;
use IO::Select;
use IO::Socket::INET;
use POSIX qw(_exit);
use Time::HiRes qw(sleep);
use Portico::Test;

my $t = Portico::Test->new;
$t->plan(29);
$t->write_conf(<<'EOF');
daemon off;
worker_processes 4;
pid logs/portico.pid;
error_log logs/error.log info;
events { worker_connections 512; }
http {
    access_log logs/access.log;
    limit_req_zone $binary_remote_addr zone=burst:1m rate=10r/s;
    limit_req_zone $binary_remote_addr zone=slow:1m rate=5r/s;
    limit_req_zone $binary_remote_addr zone=del:1m rate=5r/s;
    limit_req_zone $binary_remote_addr zone=dry:1m rate=1r/m;
    limit_req_zone $binary_remote_addr zone=hdr:1m rate=60r/m;
    limit_req_zone $http_x_key zone=empty:1m rate=1r/m;
    limit_req_zone $arg_k zone=small:32k rate=1r/m;

    server {
        listen 127.0.0.1:%%PORT_B%%;
        location / { return 200 "back X-LR: $http_x_lr\n"; }
    }
    server {
        listen 127.0.0.1:%%PORT_A%%;
        proxy_set_header X-LR $limit_req_status;
        location /burst/ {
            limit_req zone=burst burst=5 nodelay;
            proxy_pass http://127.0.0.1:%%PORT_B%%;
        }
        location /slow/ {
            limit_req zone=slow burst=10;
            proxy_pass http://127.0.0.1:%%PORT_B%%;
        }
        location /del/ {
            limit_req zone=del burst=10 delay=3;
            proxy_pass http://127.0.0.1:%%PORT_B%%;
        }
        location /dry/ {
            limit_req zone=dry;
            limit_req_dry_run on;
            proxy_pass http://127.0.0.1:%%PORT_E%%;
        }
        location /hdr/ {
            limit_req zone=hdr burst=2 nodelay;
            limit_req_status 429;
            limit_req_headers on;
            proxy_pass http://127.0.0.1:%%PORT_E%%;
        }
        location /empty/ {
            limit_req zone=empty;
            proxy_pass http://127.0.0.1:%%PORT_B%%;
        }
        location /small/ {
            limit_req zone=small;
            proxy_pass http://127.0.0.1:%%PORT_B%%;
        }
    }
}
EOF
$t->http_backend('E');
$t->run;
my $port = $t->port('A');

sub status_of { my ($r) = @_; return $r && $r =~ m{^HTTP/1\.1 (\d+)} ? $1 : 0 }

###########################################################################
# 4 workers, 16 concurrent clients, 2 seconds: 5 + 10 t requests pass

{
	my $procs = 16;
	# 2.05 s: away from a drain boundary (one request per 100 ms)
	my $secs = 2.05;
	my $dir = $t->testdir;
	my @pids;
	my $start = now() + 0.3;
	for my $i (1 .. $procs) {
		my $pid = fork;
		die "fork: $!" unless defined $pid;
		if ($pid == 0) {
			sleep 0.01 while now() < $start;
			my ($ok, $rej, $other, $first, $last) = (0, 0, 0);
			while (now() < $start + $secs) {
				my $s = now();
				my $st = status_of(http_get($port, '/burst/', timeout => 3));
				$first //= $s;
				$last = $s;
				$st == 200 ? $ok++ : $st == 503 ? $rej++ : $other++;
			}
			open my $fh, '>', "$dir/blast.$i" or _exit(1);
			printf $fh "%d %d %d %.6f %.6f\n", $ok, $rej, $other, $first // 0,
			    $last // 0;
			close $fh;
			_exit(0);
		}
		push @pids, $pid;
	}
	waitpid($_, 0) for @pids;
	my ($ok, $rej, $other, $t0, $t1) = (0, 0, 0, 1e12, 0);
	for my $i (1 .. $procs) {
		my ($o, $r, $x, $f, $l) = split ' ', $t->read_file("blast.$i");
		$ok += $o // 0;
		$rej += $r // 0;
		$other += $x // 1;
		$t0 = $f if $f && $f < $t0;
		$t1 = $l if $l && $l > $t1;
	}
	my $span = $t1 - $t0;
	my $want = 5 + 10 * $span;
	ok(abs($ok - $want) <= 2, "burst=5 nodelay at 10r/s over ${span}s: $ok passed, "
	    . "want $want +- 2");
	ok($rej > 10 * $ok, "the rest rejected ($rej)");
	is($other, 0, 'no other statuses');
	like($t->read_file('logs/error.log'),
	    qr/\[error\].*limiting requests, excess: 5\.\d+ by zone "burst", client: 127\.0\.0\.1/,
	    'rejection logged');
}

###########################################################################
# delayed, not rejected: the excess comes spaced at the rate

# send <uri> on <n> connections at once; returns (connections, sorted
# times from the send to each connection's EOF)
sub finish_times {
	my ($uri, $n) = @_;
	my @c = map { Portico::Test::Conn->new($port) } 1 .. $n;
	my $s = now();
	$_->send("GET $uri HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n") for @c;
	my $sel = IO::Select->new(map { $_->sock } @c);
	my %by = map { (0 + $_->sock) => $_ } @c;
	my @times;
	my $end = now() + 6;
	while ($sel->count && now() < $end) {
		for my $fh ($sel->can_read(0.005)) {
			my $c = $by{0 + $fh};
			next if $c->_fill(0);
			push @times, now() - $s;
			$sel->remove($fh);
		}
	}
	return (\@c, sort { $a <=> $b } @times);
}

{
	# six requests sent at once at 5r/s, burst=10 without nodelay
	my ($c, @times) = finish_times('/slow/', 6);
	my @c = @$c;
	my @st = map { status_of($_->{raw}) } @c;
	is(scalar(grep { $_ == 200 } @st), 6, 'all 6 passed (burst=10, no nodelay)');
	ok($times[0] < 0.15, sprintf('first at once (%.3f)', $times[0]));
	# the k-th arrives at k/5 s: never earlier; later only by scheduling
	# noise (the 2 CPUs of a test machine are shared)
	my @late = map { $times[$_] - $_ * 0.2 } 0 .. $#times;
	ok(@times == 6 && !grep({ $_ < -0.03 || $_ > 0.3 } @late),
	    'the excess arrives spaced at 5r/s: ' . join(' ', map { sprintf '%.3f', $_ } @times));
	ok($times[-1] > 0.9 && $times[-1] < 1.4, sprintf('last after ~1s (%.3f)', $times[-1]));
	my $echo = join '', map { $_->{raw} } @c;
	like($echo, qr/X-LR: DELAYED/i, '$limit_req_status DELAYED');
	like($echo, qr/X-LR: PASSED/i, '$limit_req_status PASSED');
	like($t->read_file('logs/error.log'), qr/\[warn\].*delaying requests, excess: 1\.\d+ by zone "slow"/,
	    'delay logged one level lower');
}

{
	# delay=3: the first 4 (excess 0..3) at once, the rest spaced
	my ($c, @times) = finish_times('/del/', 6);
	my @c = @$c;
	my @st = map { status_of($_->{raw}) } @c;
	is(scalar(grep { $_ == 200 } @st), 6, 'delay=3: all passed');
	ok($times[3] < 0.3, sprintf('delay=3: four at once (%.3f)', $times[3]));
	ok($times[5] > 0.3 && $times[5] < 0.8, sprintf('then spaced (%.3f)', $times[5]));
}

###########################################################################
# dry run: nothing rejected or delayed, status says what would have been

{
	my @r = map { http_get($port, '/dry/') } 1 .. 3;
	is(scalar(grep { status_of($_) == 200 } @r), 3, 'dry run: all pass');
	like($r[0], qr/X-LR: PASSED/i, 'dry run: first PASSED');
	like($r[2], qr/X-LR: REJECTED_DRY_RUN/i, 'dry run: REJECTED_DRY_RUN');
	like($t->read_file('logs/error.log'), qr/limiting requests, dry run, excess/,
	    'dry run logged');
}

###########################################################################
# limit_req_status and the RateLimit fields

{
	my @r = map { http_get($port, '/hdr/') } 1 .. 4;
	is(join(' ', map { status_of($_) } @r), '200 200 200 429', 'burst=2 nodelay, 429');
	like($r[0], qr/^RateLimit-Policy: "hdr";q=60;w=60\r$/m, 'RateLimit-Policy');
	like($r[0], qr/^RateLimit: "hdr";r=2;t=1\r$/m, 'RateLimit, first: 2 remaining');
	like($r[2], qr/^RateLimit: "hdr";r=0;t=3\r$/m, 'RateLimit, third: none remaining');
	like($r[3], qr/^Retry-After: 1\r$/m, 'Retry-After on 429');
	unlike($r[2], qr/Retry-After/, 'no Retry-After on a 200');
}

###########################################################################
# an empty key is not limited; a full zone evicts the oldest keys

{
	my @r = map { http_get($port, '/empty/') } 1 .. 3;
	is(scalar(grep { status_of($_) == 200 } @r), 3, 'empty key: not limited');
	my $st = join '', map { status_of(http_get($port, '/empty/', headers => 'X-Key: a')) }
	    1 .. 2;
	is($st, '200503', 'non-empty key: limited');
}

{
	# 32k zone, 1r/m without burst: each new key passes once
	my $bad = 0;
	for my $k (1 .. 700) {
		my $c = Portico::Test::Conn->new($port) or next;
		$c->send("GET /small/?k=key$k HTTP/1.1\r\nHost: localhost\r\n\r\n");
		my $m = $c->read_final(timeout => 3);
		$bad++ unless $m && $m->{status} == 200;
	}
	is($bad, 0, '700 keys in a 32k zone: none failed');
	like($t->read_file('logs/error.log'),
	    qr/zone full, evicted the least recently used keys \(\d+ so far\) in limit_req zone "small"/,
	    'eviction logged');
	is(status_of(http_get($port, '/small/?k=key700')) . status_of(http_get($port, '/small/?k=key1')),
	    '503200', 'recent key still limited, oldest key evicted');
}
