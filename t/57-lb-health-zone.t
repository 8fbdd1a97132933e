# Shared upstream state and active health checks: with `zone`, four
# workers agree on a failed server (it is tried once, not once per
# worker) and a reload keeps the state; health_check with a match block
# marks a server down and back up within bounded time and traffic
# follows; upstream_status reports it all as JSON; config errors.

use strict;
use warnings;
use Test::More;
use JSON::PP;
use Time::HiRes qw(sleep);
use Portico::Test;

my $t = Portico::Test->new;
my $conf = <<'EOF';
daemon off;
worker_processes 4;
pid logs/portico.pid;
error_log logs/error.log info;
events { worker_connections 256; }
http {
    access_log off;

    match healthy {
        status 200-299;
        header X-Health ~ "^ok";
        body ~ "alive";
    }

    upstream shared {
        zone lb 64k;
        server 127.0.0.1:%%PORT_X%% max_fails=1 fail_timeout=60s;
        server 127.0.0.1:%%PORT_A%%;
    }
    upstream checked {
        zone lb;
        server 127.0.0.1:%%PORT_B%%;
        server 127.0.0.1:%%PORT_C%%;
        health_check interval=200ms fails=2 passes=2 uri=/health match=healthy;
    }

    upstream od {
        zone lb;
        outlier_detection consecutive=3 base=1s max=10s;
        server 127.0.0.1:%%PORT_E%% max_fails=0;
        server 127.0.0.1:%%PORT_A%%;
    }

    server {
        listen 127.0.0.1:%%PORT_L%%;
        location /od/ {
            proxy_pass http://od;
            proxy_next_upstream error timeout http_502;
        }
        location /shared/ { proxy_pass http://shared; }
        location /checked/ { proxy_pass http://checked; }
        location = /status { upstream_status; }
    }
}
EOF
$t->write_conf($conf);

my $dir = $t->testdir;
$t->http_backend('A', handler => sub { return (200, ['X-B' => 'A'], 'A') });
$t->http_backend('E', handler => sub { return (502, ['X-B' => 'E'], 'bad') });
for my $b (qw(B C)) {
	$t->http_backend($b, handler => sub {
		my ($r) = @_;
		if ($r->{uri} eq '/health') {
			return (503, ['X-Health' => 'no'], 'sick') if -e "$dir/sick-$b";
			return (200, ['X-Health' => 'ok'], 'alive');
		}
		return (200, ['X-B' => $b], $b);
	});
}
my $port = $t->port('L');
my $px = $t->port('X');
$t->run;
$t->plan(18);

sub status {
	my $r = parse_response(http_get($port, '/status'));
	return undef unless $r && $r->{status} == 200;
	return eval { decode_json($r->{body}) };
}

sub peer {
	my ($s, $group, $label) = @_;
	my $p = $t->port($label);
	return undef unless $s;
	for my $e (@{$s->{upstreams}{$group}{peers}}) {
		return $e if $e->{server} eq "127.0.0.1:$p";
	}
	return undef;
}

sub connects_to_x {
	my @n = $t->read_file('logs/error.log') =~ /connect\(\) failed[^\n]*127\.0\.0\.1:$px/g;
	return scalar @n;
}

my $s = status();
ok($s && $s->{upstreams}{shared}{zone} eq 'lb', 'upstream_status: JSON with the zone');

# 4 workers, one shared view: the dead server is tried once in all
my $ok = 0;
for (1 .. 40) {
	$ok++ if parse_response(http_get($port, "/shared/$_"))->{status} == 200;
}
is($ok, 40, 'shared zone: every request answered');
is(connects_to_x(), 1, 'shared zone: the dead server was tried once by 4 workers');
$s = status();
is(peer($s, 'shared', 'X')->{state}, 'unavail', 'status: dead server unavailable');
is(peer($s, 'shared', 'A')->{requests}, 40, 'status: requests counted across workers');

# reload keeps the state
$t->signal('HUP');
ok($t->wait_for_log('logs/error.log', qr/configuration generation 2 started/, 10),
    'reloaded');
sleep 0.5;
$s = status();
is(peer($s, 'shared', 'X')->{state}, 'unavail', 'reload: the failed server is still out');
ok(peer($s, 'shared', 'A')->{requests} >= 40, 'reload: counters kept');
http_get($port, "/shared/r$_") for 1 .. 8;
is(connects_to_x(), 1, 'reload: the dead server is still not tried');

# active checks: both up; make B sick, it goes down, traffic goes to C
ok(wait_until(sub {
	my $s = status();
	my $b = peer($s, 'checked', 'B');
	$b && $b->{health_checks}{last_status} == 200;
}, 5), 'health check: B probed and healthy');
open my $fh, '>', "$dir/sick-B" or die;
close $fh;
ok(wait_until(sub { (peer(status(), 'checked', 'B') // {})->{state} eq 'unhealthy' }, 5),
    'health check: B marked down after 2 failed checks');
my %c;
$c{parse_response(http_get($port, "/checked/$_"))->{h}{'x-b'} // '?'}++ for 1 .. 12;
is($c{C} // 0, 12, 'health check: traffic goes to the healthy server only');
unlink "$dir/sick-B";
ok(wait_until(sub { (peer(status(), 'checked', 'B') // {})->{state} eq 'up' }, 5),
    'health check: B back up after 2 passed checks');
ok($t->read_file('logs/error.log') =~ /is down: health check failed/
    && $t->read_file('logs/error.log') =~ /is up: health check passed/, 'transitions logged');

# outlier detection: 3 failures in a row eject E for 1s, then for 2s
sub od_state { (peer(status(), 'od', 'E') // {})->{state} // '' }
sub eject_time {
	my $ok = 0;
	for (1 .. 8) {
		$ok++ if parse_response(http_get($port, "/od/$_"))->{status} == 200;
		last if od_state() eq 'ejected';
	}
	return (0, $ok) unless od_state() eq 'ejected';
	my $t0 = now();
	wait_until(sub { od_state() ne 'ejected' }, 6, 0.05);
	return (now() - $t0, $ok);
}
my ($d1, $ok1) = eject_time();
my ($d2, $ok2) = eject_time();
ok($ok1 >= 3 && $ok2 >= 3 && ($ok1 + $ok2) % 1 == 0, 'outlier: clients see no 502');
ok($d1 > 0.5 && $d1 < 1.8, 'outlier: first ejection ~1s (' . sprintf('%.2f', $d1) . ')');
ok($d2 > 1.5 && $d2 < 3.5, 'outlier: second ejection ~2s (' . sprintf('%.2f', $d2) . ')');

# configuration errors
$t->write_file('bad.conf', <<'EOF');
events { }
http { upstream u { server 127.0.0.1:1; health_check; } }
EOF
my ($code, $o, $e) = $t->run_cmd('-t', '-p', "$dir/", '-c', 'bad.conf');
like($o . $e, qr/"health_check" in upstream "u" needs a "zone"/, 'health_check without zone');
