# SIGUSR2 binary upgrade: the master starts the binary again with its
# listening sockets; the pid file moves to .oldbin; both serve until the
# old master is told to QUIT; no request fails on the way. A new binary
# that cannot start (bad configuration) puts the pid file back.

use strict;
use warnings;
use Test::More;
use Portico::Test;
use Time::HiRes qw(sleep);
use POSIX qw(WNOHANG);

my $t = Portico::Test->new;
my $conf = <<'EOF';
daemon off;
worker_processes 2;
pid logs/portico.pid;
error_log logs/error.log notice;
events { worker_connections 256; }
http {
    %%NGINX_ONLY%%
    access_log off;
    server {
        listen 127.0.0.1:%%PORT_A%%;
        location / { return 200 "%%TEXT%%\n"; }
    }
}
EOF
(my $a = $conf) =~ s/%%TEXT%%/gen-a/;
$t->write_conf($a);
$t->run;
my $port = $t->port('A');
my $dir = $t->testdir;
my $old = $t->pid;

sub pidfile { my $f = shift; open my $fh, '<', $f or return; my $p = <$fh>;
	chomp $p if defined $p; return $p }

# keep-alive load from a child for the whole upgrade
pipe my $rd, my $wr or die;
my $kid = fork // die;
if ($kid == 0) {
	close $rd;
	my ($ok, $fail) = (0, 0);
	my $end = Portico::Test::now() + 4;
	my $c;
	while (Portico::Test::now() < $end) {
		$c //= Portico::Test::Conn->new($port) or do { $fail++; sleep 0.05; next };
		$c->send("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
		my $m = $c->read_response(timeout => 3);
		if ($m && ($m->{status} // 0) == 200) { $ok++ } else { $fail++ }
		undef $c if !$m || ($m->{h}{connection} // '') =~ /close/i || $c->closed(0);
	}
	print $wr "$ok $fail\n";
	close $wr;
	POSIX::_exit(0);
}
close $wr;
sleep 0.5;

# the new master sees the same configuration file, now with another text
(my $b = $conf) =~ s/%%TEXT%%/gen-b/;
$t->write_conf($b);
$t->signal('USR2');
ok(Portico::Test::wait_until(sub { -e "$dir/logs/portico.pid.oldbin" }, 5),
    'pid file moved to .oldbin');
is(pidfile("$dir/logs/portico.pid.oldbin"), $old, '.oldbin holds the old master');
my $new;
ok(Portico::Test::wait_until(sub {
	$new = pidfile("$dir/logs/portico.pid");
	defined $new && $new ne $old }, 5), 'new master wrote the pid file');
$t->adopt_pid($new);

# both generations serve; the new one answers with the new text
my %seen;
for (1 .. 40) {
	my $r = Portico::Test::http_get($port, '/') // '';
	$seen{$1}++ if $r =~ /(gen-[ab])/;
}
ok($seen{'gen-b'}, 'the new binary serves');

$t->signal('QUIT');
ok($t->wait_exit(10), 'old master exits on QUIT');
like(Portico::Test::http_get($port, '/') // '', qr/gen-b/,
    'after the old master left, the new one serves alone');

my $res = <$rd>;
waitpid $kid, 0;
my ($ok, $fail) = split ' ', ($res // '0 1');
is($fail, 0, 'no request failed during the upgrade');
cmp_ok($ok, '>', 50, "load went through ($ok requests)");

# the upgraded master can be upgraded again
kill 'USR2', $new;
my $third;
ok(Portico::Test::wait_until(sub {
	$third = pidfile("$dir/logs/portico.pid");
	defined $third && $third ne $new }, 10), 'second upgrade started');
$t->adopt_pid($third);
kill 'QUIT', $new;
ok(Portico::Test::wait_until(sub { !kill(0, $new) }, 10), 'second old master exits');
ok(!-e "$dir/logs/portico.pid.oldbin", 'and removes its .oldbin pid file');

# a new binary that cannot start: the old master keeps the pid file
$t->write_conf("this is not a configuration;\n");
kill 'USR2', $third;
ok(Portico::Test::wait_until(sub {
	$t->read_file('logs/error.log') =~ /binary upgrade failed/ }, 10),
    'a failed upgrade is logged');
ok(Portico::Test::wait_until(sub {
	-e "$dir/logs/portico.pid" && !-e "$dir/logs/portico.pid.oldbin" }, 5),
    'the pid file is back');
is(pidfile("$dir/logs/portico.pid"), $third, 'and names the running master');
like(Portico::Test::http_get($port, '/') // '', qr/gen-b/, 'still serving');

done_testing;
