# limit_req zones backed by Redis: two portico instances sharing one real
# redis-server admit the configured rate together (5 + 10 t, within a
# small tolerance, not twice that); with Redis stopped each redis_fail
# mode degrades as configured (local, open, closed) and no request hangs;
# when Redis is back the instances recover by themselves.

use strict;
use warnings;
use Test::More;
use IO::Socket::INET;
use POSIX qw(_exit WNOHANG);
use Time::HiRes qw(sleep);
use Portico::Test;

my ($redis_bin) = grep { -x $_ } map { "$_/redis-server" } split /:/,
    "$ENV{PATH}:/usr/sbin:/usr/bin";
my $t = Portico::Test->new;
$t->skip_all('redis-server not installed') unless $redis_bin;
$t->plan(13);

my $rport = $t->port('REDIS');
my $redis_pid;

sub redis_start {
	$redis_pid = fork;
	die "fork: $!" unless defined $redis_pid;
	if ($redis_pid == 0) {
		open STDOUT, '>>', $t->testdir . '/redis.log';
		open STDERR, '>&', \*STDOUT;
		no warnings 'exec';
		exec $redis_bin, '--port', $rport, '--bind', '127.0.0.1', '--save', '',
		    '--appendonly', 'no', '--daemonize', 'no';
		_exit(127);
	}
	wait_until(sub { IO::Socket::INET->new(PeerAddr => "127.0.0.1:$rport") }, 10)
	    or die "redis-server did not start";
}

sub redis_stop {
	return unless $redis_pid;
	kill 'TERM', $redis_pid;
	wait_until(sub { waitpid($redis_pid, WNOHANG) == $redis_pid }, 10)
	    or do { kill 'KILL', $redis_pid; waitpid($redis_pid, 0) };
	$redis_pid = undef;
}

my $owner = $$;
END { redis_stop() if $redis_pid && $$ == $owner }

redis_start();

my $conf = <<'EOF';
daemon off;
worker_processes 2;
pid logs/portico.pid;
error_log logs/error.log info;
events { worker_connections 512; }
http {
    access_log logs/access.log;
    limit_req_zone $binary_remote_addr zone=shared:1m rate=10r/s
        redis=127.0.0.1:%%PORT_REDIS%% redis_timeout=300ms;
    limit_req_zone $binary_remote_addr zone=open:1m rate=1r/m
        redis=127.0.0.1:%%PORT_REDIS%% redis_fail=open;
    limit_req_zone $binary_remote_addr zone=closed:1m rate=100r/s
        redis=127.0.0.1:%%PORT_REDIS%% redis_fail=closed;
    server {
        listen 127.0.0.1:%%PORT_B%%;
        location / { return 200 "back\n"; }
    }
    server {
        listen 127.0.0.1:%%PORT_A%%;
        location /r/ {
            limit_req zone=shared burst=5 nodelay;
            proxy_pass http://127.0.0.1:%%PORT_B%%;
        }
        location /open/ {
            limit_req zone=open;
            proxy_pass http://127.0.0.1:%%PORT_B%%;
        }
        location /closed/ {
            limit_req zone=closed burst=100 nodelay;
            proxy_pass http://127.0.0.1:%%PORT_B%%;
        }
    }
}
EOF

my $t2 = Portico::Test->new;
$t2->{ports}{REDIS} = $rport;
$t->write_conf($conf);
$t2->write_conf($conf);
$t->run;
$t2->run;
my @ports = ($t->port('A'), $t2->port('A'));

sub status_of { my ($r) = @_; return $r && $r =~ m{^HTTP/1\.1 (\d+)} ? $1 : 0 }

# both instances connected (a request through Redis creates the key)
wait_until(sub { status_of(http_get($ports[0], '/closed/')) == 200
    && status_of(http_get($ports[1], '/closed/')) == 200 }, 10);

# 8 clients on each instance for 2 seconds
{
	# 2.05 s: away from a drain boundary (one request per 100 ms)
	my $secs = 2.05;
	my $dir = $t->testdir;
	my $start = now() + 0.3;
	my @pids;
	for my $i (1 .. 16) {
		my $port = $ports[$i % 2];
		my $pid = fork;
		die "fork: $!" unless defined $pid;
		if ($pid == 0) {
			sleep 0.01 while now() < $start;
			my ($ok, $rej, $other, $first, $last) = (0, 0, 0);
			while (now() < $start + $secs) {
				my $s = now();
				my $st = status_of(http_get($port, '/r/', timeout => 3));
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
	for my $i (1 .. 16) {
		my ($o, $r, $x, $f, $l) = split ' ', $t->read_file("blast.$i");
		$ok += $o // 0;
		$rej += $r // 0;
		$other += $x // 1;
		$t0 = $f if $f && $f < $t0;
		$t1 = $l if $l && $l > $t1;
	}
	my $want = 5 + 10 * ($t1 - $t0);
	ok(abs($ok - $want) <= 3, "two instances, one Redis: $ok passed, want $want +- 3");
	ok($rej > 100, "the rest rejected ($rej)");
	is($other, 0, 'no other statuses');
}

# Redis hangs (SIGSTOP): a check waits redis_timeout, then falls back
{
	sleep 1.2;	# let the shared bucket drain
	kill 'STOP', $redis_pid;
	my $s = now();
	my $st = status_of(http_get($ports[0], '/r/', timeout => 3));
	my $took = now() - $s;
	kill 'CONT', $redis_pid;
	is($st, 200, 'Redis hanging: answered from the local zone');
	ok($took > 0.25 && $took < 1.5, sprintf('after redis_timeout (%.3fs)', $took));
}

# Redis stops: each mode degrades, nothing hangs
redis_stop();
{
	my $s = now();
	my @st = map { status_of(http_get($ports[0], '/closed/', timeout => 3)) } 1 .. 3;
	is("@st", '503 503 503', 'redis_fail=closed: rejected');
	@st = map { status_of(http_get($ports[0], '/open/', timeout => 3)) } 1 .. 3;
	is("@st", '200 200 200', 'redis_fail=open: all pass (1r/m not enforced)');
	# local fallback: a fresh local bucket, burst=5 nodelay: 6 pass
	@st = map { status_of(http_get($ports[1], '/r/', timeout => 3)) } 1 .. 9;
	my $pass = grep { $_ == 200 } @st;
	ok($pass >= 6 && $pass <= 7, "redis_fail=local: the local zone limits (@st)");
	ok(now() - $s < 6, sprintf('no request hung (%.1fs for 15)', now() - $s));
	like($t->read_file('logs/error.log'),
	    qr/\[error\].*redis "127\.0\.0\.1:\d+" of limit_req zone "\w+" is unavailable .*, falling back to/,
	    'failure logged');
	my $n = () = $t->read_file('logs/error.log') =~ /zone "closed" is unavailable/g;
	ok($n <= 4, "logged once per interval per worker ($n)");
}

# Redis returns: recovery without a reload
redis_start();
ok(wait_until(sub { status_of(http_get($ports[0], '/closed/')) == 200
    && status_of(http_get($ports[1], '/closed/')) == 200 }, 10),
    'both instances recovered');
like($t->read_file('logs/error.log'), qr/\[notice\].*redis "127\.0\.0\.1:\d+" of limit_req zone "\w+" is back/,
    'recovery logged');
