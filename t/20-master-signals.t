# Master process: pid file, worker count, respawn of a killed worker,
# reload with a good and a bad configuration, -s reload/quit, USR1 log
# reopening, WINCH, graceful QUIT with a request in flight, fast TERM,
# daemon on, user (privilege drop), worker_processes auto.

use strict;
use warnings;
use Test::More;
use Time::HiRes qw(sleep);
use IO::Socket::INET;
use Portico::Test;

sub conf {
	my ($text, %o) = @_;
	my $workers = $o{workers} // 2;
	my $extra = $o{main} // '';
	return <<"EOF";
daemon off;
worker_processes $workers;
worker_shutdown_timeout 10s;
pid logs/portico.pid;
error_log logs/error.log info;
$extra
events { worker_connections 64; }
http {
    %%NGINX_ONLY%%
    access_log logs/access.log;
    server {
        listen 127.0.0.1:%%PORT_A%%;
        location / { return 200 "$text\\n"; }
        location /slow/ {
            proxy_pass http://127.0.0.1:%%PORT_S%%;
            proxy_read_timeout 10s;
        }
    }
}
EOF
}

sub body {
	my ($t) = @_;
	my $m = parse_response(http_get($t->port('A'), '/', timeout => 3));
	return $m ? $m->{body} : '';
}

sub alive { my ($pid) = @_; return kill 0, $pid }

###########################################################################
# main instance

my $t = Portico::Test->new;
$t->write_conf(conf('gen1'));
$t->run;
my $master = $t->pid;

# pid file
{
	my $pidfile = '';
	wait_until(sub { ($pidfile = $t->read_file('logs/portico.pid')) ne '' }, 5);
	like($pidfile, qr/^\d+\n?$/, 'pid file written');
	is($pidfile + 0, $master, 'pid file holds the master pid');
}

# two workers
my @w;
wait_until(sub { @w = $t->worker_pids; @w == 2 }, 5);
is(scalar @w, 2, 'worker_processes 2: two workers');
is(body($t), "gen1\n", 'serving');

# one SO_REUSEPORT listening socket per worker for the listen address
{
	my $hex = sprintf '%04X', $t->port('A');
	my @l = grep { /^\s*\d+: 0100007F:$hex 00000000:0000 0A / }
	    split /\n/, $t->read_file('/proc/net/tcp');
	is(scalar @l, 2, 'one listening socket per worker');
}

# a killed worker is respawned and its death logged
{
	my $victim = $w[0];
	kill 'KILL', $victim;
	my @n;
	my $ok = wait_until(sub {
		@n = $t->worker_pids;
		@n == 2 && !grep { $_ == $victim } @n;
	}, 10);
	ok($ok, 'killed worker replaced') or diag("workers: @n");
	my $line = $t->wait_for_log('logs/error.log',
	    qr/[^\n]*\b$victim\b[^\n]*(?:exit|signal|die|kill)[^\n]*/i, 5);
	like($line, qr/signal 9|SIGKILL|killed/i,
	    'error log says how the worker died') or diag($line);
	my $ok200 = 0;
	$ok200 += body($t) eq "gen1\n" ? 1 : 0 for 1 .. 10;
	is($ok200, 10, 'serving after the respawn');
	@w = @n;
}

# HUP with a changed, valid configuration
{
	$t->write_conf(conf('gen2'));
	$t->signal('HUP');
	ok(wait_until(sub { body($t) eq "gen2\n" }, 10), 'HUP: new config served');
	ok(wait_until(sub { !grep { alive($_) } @w }, 10), 'HUP: old workers exit');
	my @n;
	wait_until(sub { @n = $t->worker_pids; @n == 2 }, 5);
	is(scalar @n, 2, 'HUP: two new workers');
	ok(alive($master), 'HUP: same master');
	@w = @n;
}

# HUP with an invalid configuration: old config keeps serving
{
	$t->write_conf(conf('gen3') . "\nno_such_directive on;\n");
	my $before = length $t->read_file('logs/error.log');
	$t->signal('HUP');
	my $msg = '';
	wait_until(sub {
		$msg = substr($t->read_file('logs/error.log'), $before);
		$msg =~ /no_such_directive/;
	}, 5);
	like($msg, qr/no_such_directive/, 'bad HUP: error logged');
	like($msg, qr/portico\.conf:\d+/, 'bad HUP: error names file:line');
	sleep 0.5;
	is(body($t), "gen2\n", 'bad HUP: old config still serves');
	is(join(' ', $t->worker_pids), join(' ', @w), 'bad HUP: workers kept');
	ok(alive($master), 'bad HUP: master alive');
}

# -s reload through the pid file
{
	$t->write_conf(conf('gen4'));
	my ($rc, $out, $err) = $t->run_cmd('-p', $t->testdir . '/',
	    '-c', 'portico.conf', '-s', 'reload');
	is($rc, 0, '-s reload: exit 0') or diag($err);
	ok(wait_until(sub { body($t) eq "gen4\n" }, 10), '-s reload: reloaded');
	@w = ();
	wait_until(sub { @w = $t->worker_pids; @w == 2 }, 10);
}

# USR1 reopens the logs
{
	http_get($t->port('A'), '/before-rotate');
	my $d = $t->testdir;
	wait_until(sub { $t->read_file('logs/access.log') =~ /before-rotate/ }, 3);
	rename "$d/logs/access.log", "$d/logs/access.log.1";
	$t->signal('USR1');
	ok(wait_until(sub { -e "$d/logs/access.log" }, 5),
	    'USR1: access.log created again');
	sleep 0.3;
	http_get($t->port('A'), '/after-rotate') for 1 .. 4;
	ok(wait_until(sub {
		$t->read_file('logs/access.log') =~ /after-rotate/ }, 5),
	    'USR1: new requests logged in the new file');
	unlike($t->read_file('logs/access.log.1'), qr/after-rotate/,
	    'USR1: old file not written any more');
	like($t->read_file('logs/access.log.1'), qr/before-rotate/,
	    'USR1: old file kept its lines');
}

# WINCH: workers stop gracefully, the master stays
{
	my @old = $t->worker_pids;
	$t->signal('WINCH');
	ok(wait_until(sub { !grep { alive($_) } @old }, 10),
	    'WINCH: workers exit');
	sleep 0.3;
	my @none = $t->worker_pids;
	is(scalar @none, 0, 'WINCH: no worker respawned');
	ok(alive($master) && !$t->exited, 'WINCH: master stays');
}

# -s quit: the master exits and removes its pid file
{
	my ($rc, $out, $err) = $t->run_cmd('-p', $t->testdir . '/',
	    '-c', 'portico.conf', '-s', 'quit');
	is($rc, 0, '-s quit: exit 0') or diag($err);
	ok($t->wait_exit(10), '-s quit: master exits');
	ok(!-e $t->testdir . '/logs/portico.pid', '-s quit: pid file removed');
}

###########################################################################
# QUIT with a slow response in flight: it completes, then the master exits

{
	my $q = Portico::Test->new;
	$q->write_conf(conf('quit'));
	$q->http_backend('S', handler => sub {
		sleep 2;
		return (200, [], 'slow-body-' . ('x' x 10000));
	});
	$q->run;
	my $c = Portico::Test::Conn->new($q->port('A'));
	$c->send("GET /slow/ HTTP/1.1\r\nHost: localhost\r\n\r\n");
	sleep 0.5;
	my $t0 = now();
	$q->signal('QUIT');
	my $m = $c->read_response(timeout => 8);
	is($m && $m->{status}, 200, 'QUIT: in-flight request answered');
	ok($m && $m->{complete} && $m->{body} eq 'slow-body-' . ('x' x 10000),
	    'QUIT: full body');
	ok($q->wait_exit(10), 'QUIT: master exits after the request');
	ok(!-e $q->testdir . '/logs/portico.pid', 'QUIT: pid file removed');
	is($q->exit_status, 0, 'QUIT: exit status 0');
}

###########################################################################
# QUIT with only an idle keep-alive connection: nothing is in flight,
# so the master exits promptly (nginx closes idle connections at once;
# keepalive_timeout is the default 75 s here, so waiting for it is not
# prompt)

{
	my $q = Portico::Test->new;
	$q->write_conf(conf('idle'));
	$q->run;
	my $c = Portico::Test::Conn->new($q->port('A'));
	$c->send("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
	my $m = $c->read_response(timeout => 3);
	is($m && $m->{body}, "idle\n", 'QUIT idle: keep-alive response');
	my $t0 = now();
	$q->signal('QUIT');
	ok($q->wait_exit(5), 'QUIT with an idle keep-alive client: exits');
	cmp_ok(now() - $t0, '<', 5, 'QUIT with an idle keep-alive client: promptly');
	ok($c->closed(1), 'QUIT idle: the idle connection is closed');
}

###########################################################################
# a worker crash loses no queued connection: with one worker stopped,
# connections queue on its listening socket; after SIGKILL the
# respawned worker answers them. Also worker_rlimit_nofile.

{
	my $q = Portico::Test->new;
	$q->write_conf(conf('queued', workers => 1,
	    main => 'worker_rlimit_nofile 4321;'));
	$q->run;
	my ($wk) = $q->worker_pids;
	my ($lim) = $q->read_file("/proc/$wk/limits")
	    =~ /^Max open files\s+(\d+)/m;
	is($lim, 4321, 'worker_rlimit_nofile applied to the worker');
	kill 'STOP', $wk;
	my @c;
	for my $i (1 .. 3) {
		my $c = Portico::Test::Conn->new($q->port('A'));
		$c->send("GET /q$i HTTP/1.1\r\nHost: localhost\r\n"
		    . "Connection: close\r\n\r\n") if $c;
		push @c, $c;
	}
	sleep 0.3;
	kill 'KILL', $wk;
	kill 'CONT', $wk;
	my $ok = 0;
	for my $c (@c) {
		my $m = $c ? $c->read_response(timeout => 5) : undef;
		$ok++ if $m && ($m->{status} // 0) == 200;
	}
	is($ok, 3, 'connections queued during a worker crash are answered');
	my @n = $q->worker_pids;
	ok(@n == 1 && $n[0] != $wk, 'crashed worker replaced');
}

# master_process off: one process serves, no children
{
	my $q = Portico::Test->new;
	$q->write_conf(conf('single', main => 'master_process off;'));
	$q->run;
	is(body($q), "single\n", 'master_process off: serving');
	my @k = $q->worker_pids;
	is(scalar @k, 0, 'master_process off: no worker processes');
}

# a listen address that is taken: startup fails, no pid file
{
	my $busy = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
	    LocalPort => 0, Proto => 'tcp', Listen => 5);
	my $q = Portico::Test->new;
	my $text = conf('busy');
	my $bp = $busy->sockport;
	$text =~ s/listen 127\.0\.0\.1:%%PORT_A%%;/listen 127.0.0.1:%%PORT_A%%;\n        listen 127.0.0.1:$bp;/;
	$q->write_conf($text);
	my ($rc, $out, $err) = $q->run_cmd('-p', $q->testdir . '/', '-c',
	    'portico.conf', {timeout => 15});
	isnt($rc, 0, 'address in use: startup fails');
	like($out . $err . $q->read_file('logs/error.log'), qr/127\.0\.0\.1:$bp/,
	    'address in use: the address is named');
	ok(!-e $q->testdir . '/logs/portico.pid', 'address in use: no pid file');
}

###########################################################################
# TERM: fast stop, even with a request in flight

{
	my $q = Portico::Test->new;
	$q->write_conf(conf('term'));
	$q->http_backend('S', handler => sub { sleep 8; return (200, [], 'x') });
	$q->run;
	my $c = Portico::Test::Conn->new($q->port('A'));
	$c->send("GET /slow/ HTTP/1.1\r\nHost: localhost\r\n\r\n");
	sleep 0.5;
	my @kids = $q->worker_pids;
	my $t0 = now();
	$q->signal('TERM');
	ok($q->wait_exit(5), 'TERM: master exits');
	cmp_ok(now() - $t0, '<', 3, 'TERM: promptly');
	ok(wait_until(sub { !grep { alive($_) } @kids }, 3), 'TERM: workers gone');
	ok(!-e $q->testdir . '/logs/portico.pid', 'TERM: pid file removed');
}

###########################################################################
# daemon on: the command returns, the master runs in the background

{
	my $q = Portico::Test->new;
	(my $text = conf('daemon', workers => 1)) =~ s/daemon off;/daemon on;/;
	$q->write_conf($text);
	my ($rc, $out, $err) = $q->run_cmd('-p', $q->testdir . '/',
	    '-c', 'portico.conf', {timeout => 10});
	is($rc, 0, 'daemon on: foreground process exits 0') or diag($err);
	my $pid = '';
	wait_until(sub { ($pid = $q->read_file('logs/portico.pid')) =~ /^\d+/ }, 5);
	chomp $pid;
	$q->adopt_pid($pid);
	ok($pid =~ /^\d+$/ && alive($pid), 'daemon on: master alive');
	ok(wait_until(sub { body($q) eq "daemon\n" }, 5), 'daemon on: serving');
	($rc, $out, $err) = $q->run_cmd('-p', $q->testdir . '/',
	    '-c', 'portico.conf', '-s', 'stop');
	is($rc, 0, '-s stop: exit 0') or diag($err);
	ok(wait_until(sub { !alive($pid) }, 5), 'daemon on: -s stop stops it');
}

###########################################################################
# user: workers drop root; worker_processes auto

SKIP: {
	skip('not running as root', 5) if $> != 0;
	my $uid = getpwnam('nobody');
	skip('no user nobody', 5) unless defined $uid;
	my $q = Portico::Test->new;
	$q->write_conf(conf('user', workers => 'auto',
	    main => 'user nobody nogroup;'));
	$q->run;
	my $ncpu = `getconf _NPROCESSORS_ONLN 2>/dev/null` || 0;
	chomp $ncpu;
	my @k;
	wait_until(sub { @k = $q->worker_pids; @k == $ncpu }, 5);
	is(scalar @k, $ncpu, "worker_processes auto: $ncpu workers");
	my ($wuid) = $q->read_file("/proc/$k[0]/status") =~ /^Uid:\s+\d+\s+(\d+)/m;
	is($wuid, $uid, 'user nobody: worker runs as nobody');
	my ($muid) = $q->read_file("/proc/" . $q->pid . "/status")
	    =~ /^Uid:\s+\d+\s+(\d+)/m;
	is($muid, 0, 'user nobody: master stays root');
	is(body($q), "user\n", 'user nobody: serving');

	# USR1 with unprivileged workers: the new log is still written
	my $d = $q->testdir;
	rename "$d/logs/access.log", "$d/logs/access.log.1";
	$q->signal('USR1');
	wait_until(sub { -e "$d/logs/access.log" }, 5);
	sleep 0.3;
	http_get($q->port('A'), "/after-usr1-$_") for 1 .. 2 * $ncpu;
	ok(wait_until(sub {
		$q->read_file('logs/access.log') =~ /after-usr1/ }, 5),
	    'user nobody: USR1 reopened log written by the workers');
}

done_testing;
