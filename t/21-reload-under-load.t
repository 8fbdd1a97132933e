# A reload every second under constant keep-alive load fails no request.
#
# Four forked clients send requests back to back on keep-alive
# connections, the next one as soon as the previous response is in (as
# wrk does): two straight to a `return`, two through the proxy to an
# upstream with a keep-alive pool (served by portico itself). A client
# reconnects only when the server said so: `Connection: close` on a
# response, or the connection already closed before the next request is
# sent. A request whose response never arrives (reset, EOF, timeout,
# partial response) is a failure, so is a refused connection.
# Meanwhile the master gets SIGHUP every second with a changed config.

use strict;
use warnings;
use Test::More;
use POSIX qw(WNOHANG _exit);
use Time::HiRes qw(sleep);
use Portico::Test;

my $DURATION = 8;
my $CLIENTS = 4;

my $t = Portico::Test->new;

sub conf {
	my ($gen) = @_;
	return <<"EOF";
daemon off;
worker_processes 2;
worker_shutdown_timeout 10s;
pid logs/portico.pid;
error_log logs/error.log notice;
events { worker_connections 256; }
http {
    %%NGINX_ONLY%%
    access_log off;
    keepalive_timeout 60s;
    keepalive_requests 100000;
    upstream up {
        server 127.0.0.1:%%PORT_U%%;
        keepalive 16;
    }
    server {
        listen 127.0.0.1:%%PORT_A%%;
        location / { return 200 "gen $gen\\n"; }
        location /p/ {
            proxy_pass http://up;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
    server {
        listen 127.0.0.1:%%PORT_U%%;
        location / { return 200 "up gen $gen\\n"; }
    }
}
EOF
}

# write the new config next to the old one and rename it into place
sub write_gen {
	my ($gen) = @_;
	$t->write_file('portico.conf.new', conf($gen));
	rename $t->testdir . '/portico.conf.new', $t->testdir . '/portico.conf';
}

$t->write_conf(conf(0));
$t->run;
my $port = $t->port('A');

# one client: returns "ok fail connfail reconnects gens" in a file
sub client {
	my ($n, $uri, $out) = @_;
	my ($ok, $fail, $connfail, $reconn) = (0, 0, 0, 0);
	my (%gens, @why);
	my $c;
	my $end = now() + $DURATION;
	my $req = "GET $uri HTTP/1.1\r\nHost: localhost\r\n\r\n";
	while (now() < $end) {
		if ($c && $c->peer_closed_now) {
			# closed while idle, before we sent: a fair close
			$c = undef;
		}
		if (!$c) {
			$c = Portico::Test::Conn->new($port, connect_timeout => 3);
			if (!$c) {
				$connfail++;
				push @why, "connect: $!";
				sleep 0.01;
				next;
			}
			$reconn++;
		}
		if (!$c->send($req)) {
			$fail++;
			push @why, "send: $!";
			$c = undef;
			next;
		}
		my $m = $c->read_response(timeout => 5);
		if (!$m || !$m->{complete} || ($m->{status} // 0) != 200) {
			$fail++;
			push @why, !$m ? ($c->{eof} ? ($c->{reset} ? 'reset'
			    : 'eof') : 'timeout') : "status "
			    . ($m->{status} // 'none')
			    . ($m->{complete} ? '' : ' incomplete');
			$c = undef;
			next;
		}
		$ok++;
		$gens{$1}++ if $m->{body} =~ /gen (\d+)/;
		if (($m->{h}{connection} // '') =~ /close/i) {
			$c->closed(2);
			$c = undef;
		}
	}
	open my $fh, '>', $out or _exit(1);
	my %why;
	$why{$_}++ for @why;
	print $fh "$ok $fail $connfail $reconn " . join(',', sort keys %gens)
	    . " " . join(';', map { "$_=$why{$_}" } sort keys %why) . "\n";
	close $fh;
}

my @kids;
for my $i (1 .. $CLIENTS) {
	my $uri = $i % 2 ? '/' : '/p/';
	my $out = $t->testdir . "/client$i";
	my $pid = fork;
	die "fork: $!" unless defined $pid;
	if ($pid == 0) {
		client($i, $uri, $out);
		_exit(0);
	}
	push @kids, [$pid, $out, $uri];
}

my $gen = 0;
my $t0 = now();
while (now() - $t0 < $DURATION - 0.5) {
	sleep 1;
	write_gen(++$gen);
	$t->signal('HUP');
}

for my $k (@kids) {
	my $pid = $k->[0];
	wait_until(sub { waitpid($pid, WNOHANG) != 0 }, $DURATION + 20)
	    or do { kill 'KILL', $pid; waitpid($pid, 0) };
}

my ($ok, $fail, $connfail, %gens) = (0, 0, 0);
for my $k (@kids) {
	my $line = $t->read_file($k->[1]);
	my ($o, $f, $cf, $rc, $g, $why) = split ' ', $line;
	$ok += $o // 0;
	$fail += $f // 1;
	$connfail += $cf // 0;
	$gens{$_}++ for split /,/, $g // '';
	diag("client $k->[2]: ok $o fail $f connfail $cf connections $rc"
	    . ($why ? " ($why)" : ''));
}

is($fail, 0, 'no request failed during reloads');
is($connfail, 0, 'no connection refused during reloads');
cmp_ok($ok, '>=', 500, "several hundred requests succeeded ($ok)");
cmp_ok(scalar(keys %gens), '>=', 4,
    'responses from several configuration generations ('
    . join(',', sort { $a <=> $b } keys %gens) . ')');
ok(!$t->exited, 'master still running');

# the last reload may still be in progress (the master handles one HUP
# at a time; under ASan a reload takes a while): wait for its answer,
# then for the old generations to drain to two workers
my $last = '';
wait_until(sub { $last = http_get($port, '/') // ''; $last =~ /gen $gen\n\z/ }, 15);
like($last, qr/gen $gen\n\z/, 'last generation served');
my @w;
wait_until(sub { @w = $t->worker_pids; @w == 2 }, 12);
is(scalar @w, 2, 'two workers after the reloads') or diag("workers: @w");

done_testing;
