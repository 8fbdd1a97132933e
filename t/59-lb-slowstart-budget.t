# slow_start: a server back from a failure gets its weight back
# gradually; its share of the traffic, measured over one-second windows,
# climbs from a small fraction to its full share. proxy_retry_budget: a
# pool whose servers all fail, under a stream of requests, gets retries
# below the configured share of its requests (the budget is per group:
# traffic to a healthy group does not buy retries for the sick one),
# where the same pool without a budget gets one retry per request.

use strict;
use warnings;
use Test::More;
use Time::HiRes qw(sleep);
use Portico::Test;

my $t = Portico::Test->new;
my $dir = $t->testdir;

$t->write_conf(<<'EOF');
daemon off;
worker_processes 1;
pid logs/portico.pid;
error_log logs/error.log notice;
events { worker_connections 256; }
http {
    access_log off;

    upstream ss {
        server 127.0.0.1:%%PORT_A%% weight=10 max_fails=1 fail_timeout=1s slow_start=4s;
        server 127.0.0.1:%%PORT_B%% weight=10 max_fails=0;
    }
    upstream healthy {
        server 127.0.0.1:%%PORT_B%%;
    }
    upstream sick {
        server 127.0.0.1:%%PORT_C%% max_fails=0;
        server 127.0.0.1:%%PORT_D%% max_fails=0;
    }

    server {
        listen 127.0.0.1:%%PORT_L%%;
        proxy_next_upstream error timeout http_500;
        location /ss/ { proxy_pass http://ss; }
        location /budget/ {
            proxy_pass http://sick;
            proxy_retry_budget 20% min=0;
        }
        location /nobudget/ { proxy_pass http://sick; }
        location /healthy/ {
            proxy_pass http://healthy;
            proxy_retry_budget 20% min=0;
        }
    }
}
EOF

# A answers 500 while the file a-down exists
$t->http_backend('A', handler => sub {
	return (500, [], 'down') if -e "$dir/a-down";
	return (200, [], 'A');
});
$t->http_backend('B', handler => sub { (200, [], 'B') });
for my $label (qw(C D)) {
	$t->http_backend($label, handler => sub {
		if (open my $fh, '>>', "$dir/hits") {
			print $fh "$label\n";
			close $fh;
		}
		return (500, [], 'sick');
	});
}
$t->run;
my $L = $t->port('L');

sub get {
	my ($uri) = @_;
	my $raw = http_get($L, $uri, timeout => 5) // '';
	my ($st) = $raw =~ /^HTTP\/1\.1 (\d+)/;
	my ($body) = $raw =~ /\r\n\r\n(.*)\z/s;
	return ($st // 0, $body // '');
}

#---- proxy_retry_budget

# healthy traffic first: it must not raise the sick group's allowance
my $ok = 0;
for (1 .. 600) {
	my ($s) = get('/healthy/');
	$ok++ if $s == 200;
}
is($ok, 600, 'traffic to a healthy group');

sub hits {
	my $s = $t->read_file('hits');
	my @l = split /\n/, $s;
	return scalar @l;
}

my $N = 300;
my %st;
for (1 .. $N) {
	my ($s) = get('/budget/');
	$st{$s}++;
}
is($st{500} // 0, $N, 'a sick pool: every client gets the failed answer');
wait_until(sub { hits() >= $N }, 5);
my $retries = hits() - $N;
note("budget 20%: $retries retries for $N requests");
cmp_ok($retries, '<=', int($N * 0.20) + 2, "retries stay within 20% of the requests ($retries)");
cmp_ok($retries, '>', 0, 'some retries are allowed');
like($t->read_file('logs/error.log'), qr/retry budget of 20% exhausted/, 'refusals are logged');

my $before = hits();
for (1 .. 50) {
	get('/nobudget/');
}
wait_until(sub { hits() >= $before + 100 }, 5);
is(hits() - $before, 100, 'without a budget every request is retried once');

#---- slow_start

my %n;
for (1 .. 40) {
	my ($st, $body) = get('/ss/');
	$n{$body}++;
}
ok(($n{A} // 0) >= 15 && ($n{B} // 0) >= 15, 'equal weights share before the failure')
    or diag explain \%n;

# A fails: the request is retried on B, A is out for fail_timeout
$t->write_file('a-down', '');
my ($bad, $reqs) = (0, 0);
wait_until(sub {
	my ($st, $body) = get('/ss/');
	$reqs++;
	$bad++ if $st != 200 || $body ne 'B';
	return $t->read_file('logs/error.log') =~ /temporarily disabled/;
}, 5, 0);
is($bad, 0, "A failed and was left out; clients got B ($reqs requests)");
unlink "$dir/a-down";

# after fail_timeout the next request tries A, which succeeds: the ramp starts
my @seen;
my $end = now() + 7.5;
while (now() < $end) {
	my ($st, $body) = get('/ss/');
	push @seen, [now(), $body] if $st == 200;
}
my ($first) = grep { $_->[1] eq 'A' } @seen;
ok($first, 'A came back') or BAIL_OUT('A never came back');
like($t->read_file('logs/error.log'), qr/upstream server "127\.0\.0\.1:\d+" of "ss" is back/,
    'the recovery is logged');
my $t0 = $first->[0];
my @share;
for my $w ([0, 1], [1, 2], [2, 3], [3, 4], [4.3, 6]) {
	my @in = grep { $_->[0] > $t0 + $w->[0] && $_->[0] <= $t0 + $w->[1] } @seen;
	my $a = grep { $_->[1] eq 'A' } @in;
	push @share, @in ? $a / @in : 0;
	note(sprintf('slow_start window %.1f-%.1fs: %d requests, A %.0f%%', @$w,
	    scalar @in, 100 * $share[-1]));
}
cmp_ok($share[0], '<', 0.25, sprintf('first second of slow_start: A has %.0f%% (weight 1-2 of 10)',
    100 * $share[0]));
cmp_ok($share[3], '>', $share[0] + 0.15, sprintf('fourth second: A has %.0f%%, more than the first',
    100 * $share[3]));
cmp_ok($share[1], '<=', $share[3] + 0.05, 'the share climbs');
ok($share[4] > 0.4 && $share[4] < 0.6, sprintf('after slow_start: A has %.0f%% (full weight)',
    100 * $share[4]));

$t->stop;
done_testing;
