# `server NAME resolve` with `resolver ADDR valid=1s`: a tiny DNS server
# in this file answers A queries for the test names from a file the test
# rewrites. Changing the answer moves the traffic to the new backend
# within a bounded time and no request fails meanwhile, with a zone (the
# worker in slot 0 resolves and publishes the list to the 4 workers) and
# without one (each worker resolves for itself). Two addresses share the
# traffic; a name that disappears (NXDOMAIN) empties the pool (502); the
# status endpoint shows the addresses; config errors.

use strict;
use warnings;
use Test::More;
use IO::Socket::INET;
use IO::Select;
use JSON::PP;
use POSIX qw(_exit);
use Socket qw(inet_aton);
use Time::HiRes qw(sleep);
use Portico::Test;

my $t = Portico::Test->new;

# 127.0.0.2 is loopback on Linux; the backends listen on one port on both
my $ok2 = IO::Socket::INET->new(LocalAddr => '127.0.0.2', LocalPort => 0,
    Proto => 'tcp', Listen => 1);
plan skip_all => 'no 127.0.0.2 on this host' unless $ok2;
close $ok2;

my $dir = $t->testdir;
my $dnsfile = "$dir/dns.txt";

sub set_dns {
	my (%names) = @_;
	open my $fh, '>', "$dnsfile.tmp" or die "$dnsfile.tmp: $!";
	print $fh "$_ $names{$_}\n" for sort keys %names;
	close $fh;
	rename "$dnsfile.tmp", $dnsfile or die "rename: $!";
}

my @spawned;

# A forked child in its own process group, stopped by pid at the end
sub spawn {
	my ($code) = @_;
	my $pid = fork // die "fork: $!";
	if ($pid == 0) {
		setpgrp(0, 0);
		$SIG{CHLD} = 'IGNORE';
		$SIG{TERM} = $SIG{QUIT} = sub { kill 'KILL', -$$; _exit(0) };
		eval { $code->() };
		_exit(0);
	}
	$t->adopt_pid($pid);	# stopped by the harness if the test dies
	push @spawned, $pid;
	return $pid;
}

# stop and reap them (bounded)
sub stop_spawned {
	for my $pid (@spawned) {
		kill 'TERM', $pid;
		wait_until(sub { waitpid($pid, POSIX::WNOHANG()) != 0 }, 5)
		    or do { kill 'KILL', -$pid; waitpid($pid, 0) };
	}
	@spawned = ();
}

# DNS over UDP: A records from dns.txt ("name ip ip..."), TTL 1; other
# types of a known name get an empty answer, unknown names NXDOMAIN
my $dns = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
    LocalPort => $t->port('D'), Proto => 'udp') or die "dns socket: $!";
my $queries = "$dir/dns.queries";
spawn(sub {
	my $end = time + 300;
	while (time < $end) {
		my $sel = IO::Select->new($dns);
		next unless $sel->can_read(1);
		my $from = $dns->recv(my $q, 512) // next;
		next if length $q < 17;
		my ($id, $flags) = unpack 'n n', $q;
		my $off = 12;
		my @labels;
		while ($off < length $q) {
			my $len = ord substr($q, $off, 1);
			$off++;
			last if $len == 0;
			push @labels, substr($q, $off, $len);
			$off += $len;
		}
		my ($qtype) = unpack 'n', substr($q, $off, 2);
		my $question = substr($q, 12, $off + 4 - 12);
		my $name = lc join '.', @labels;
		my %names;
		if (open my $fh, '<', $dnsfile) {
			while (<$fh>) {
				my ($n, @ips) = split;
				$names{lc $n} = \@ips if defined $n;
			}
			close $fh;
		}
		if (open my $lf, '>>', $queries) {
			print $lf "$name $qtype\n";
			close $lf;
		}
		my ($rcode, @ans) = (0);
		if (!$names{$name}) {
			$rcode = 3;
		} elsif ($qtype == 1) {
			@ans = @{$names{$name}};
		}
		my $r = pack('n n n n n n', $id, 0x8180 | ($flags & 0x0100) | $rcode,
		    1, scalar @ans, 0, 0) . $question;
		$r .= pack('n n n N n', 0xc00c, 1, 1, 1, 4) . inet_aton($_)
		    for @ans;
		$dns->send($r, 0, $from);
	}
});
close $dns;

# HTTP/1.1 keep-alive backends answering with their name
sub backend {
	my ($ip, $port, $name) = @_;
	my $ls = IO::Socket::INET->new(LocalAddr => $ip, LocalPort => $port,
	    Proto => 'tcp', Listen => 64, ReuseAddr => 1)
	    or die "backend $ip:$port: $!";
	spawn(sub {
		while (1) {
			my $c = $ls->accept or next;
			my $k = fork;
			if (defined $k && $k == 0) {
				close $ls;
				my $buf = '';
				while (1) {
					while ($buf !~ /\r\n\r\n/) {
						my $n = sysread($c, $buf, 4096, length $buf);
						_exit(0) unless $n;
					}
					$buf =~ s/^(.*?)\r\n\r\n//s;
					my $head = $1;
					if ($head =~ m{^GET /health}) {
						open my $fh, '>>', "$dir/probes";
						print $fh "$name\n";
						close $fh;
					}
					syswrite($c, "HTTP/1.1 200 OK\r\nContent-Length: "
					    . length($name) . "\r\n\r\n$name") or _exit(0);
					_exit(0) if $head =~ m{ HTTP/1\.0\r\n|\nConnection: close}i;
				}
			}
			close $c;
		}
	});
	close $ls;
}
my $bport = $t->port('B');
backend('127.0.0.1', $bport, 'one');
backend('127.0.0.2', $bport, 'two');

set_dns('zoned.portico.test' => '127.0.0.1', 'plain.portico.test' => '127.0.0.1');

$t->write_conf(<<'EOF');
daemon off;
worker_processes 4;
pid logs/portico.pid;
error_log logs/error.log info;
events { worker_connections 256; }
http {
    access_log off;
    resolver 127.0.0.1:%%PORT_D%% valid=1s;
    resolver_timeout 2s;

    upstream zoned {
        zone dyn 64k;
        server zoned.portico.test:%%PORT_B%% resolve max_fails=0;
        keepalive 8;
        health_check interval=200ms uri=/health;
    }
    upstream plain {
        server plain.portico.test:%%PORT_B%% resolve;
    }

    server {
        listen 127.0.0.1:%%PORT_L%%;
        location /zoned/ { proxy_pass http://zoned; }
        location /plain/ { proxy_pass http://plain; }
        location = /status { upstream_status; }
    }
}
EOF
$t->run;

my $L = $t->port('L');

sub get {
	my ($uri) = @_;
	my $raw = http_get($L, $uri, timeout => 5) // '';
	my ($st) = $raw =~ /^HTTP\/1\.1 (\d+)/;
	my ($body) = $raw =~ /\r\n\r\n(.*)\z/s;
	return ($st // 0, $body // '');
}

my $t0;

# Keep sending until <want> answers <n> times in a row (or <limit> s):
# returns (seconds it took, number of non-200 answers, answers seen)
sub until_all {
	my ($uri, $want, $limit) = @_;
	my ($start, $bad, $inrow, %seen) = (now(), 0, 0);
	$t0 = $start;
	while (now() - $start < $limit) {
		my ($st, $body) = get($uri);
		$bad++ if $st != 200;
		$seen{$st == 200 ? $body : $st}++;
		$inrow = $body eq $want && $st == 200 ? $inrow + 1 : 0;
		return (now() - $start, $bad, \%seen) if $inrow >= 20;
	}
	return (undef, $bad, \%seen);
}

for my $g (qw(zoned plain)) {
	my ($took, $bad, $seen) = until_all("/$g/", 'one', 10);
	ok(defined $took, "$g: the first address serves")
	    or diag explain $seen;
}
set_dns('zoned.portico.test' => '127.0.0.2', 'plain.portico.test' => '127.0.0.2');
my $switched = now();
for my $g (qw(zoned plain)) {
	my ($took, $bad, $seen) = until_all("/$g/", 'two', 10);
	$took += $t0 - $switched if defined $took;
	ok(defined $took && $took < 4.5, "$g: traffic moved to the new address in "
	    . (defined $took ? sprintf('%.2fs', $took) : 'never') . ' (valid=1s)')
	    or diag explain $seen;
	is($bad, 0, "$g: no request failed while the address changed");
}

# the health checks follow the address (worker slot 0 probes the zone's list)
my $probed = wait_until(sub { $t->read_file('probes') =~ /^two$/m }, 5);
ok($probed, 'the new address is health-checked');
my $hc = wait_until(sub {
	my $j = eval { decode_json((get('/status'))[1]) } or return;
	my ($p) = grep { $_->{server} eq "127.0.0.2:$bport" } @{$j->{upstreams}{zoned}{peers}};
	return $p && $p->{health_checks} && $p->{health_checks}{last_status} == 200 ? $p : undef;
}, 5);
ok($hc, 'upstream_status shows its last check: 200');

# both addresses: both take traffic
set_dns('zoned.portico.test' => '127.0.0.1 127.0.0.2', 'plain.portico.test' => '127.0.0.2');
my %n;
wait_until(sub {
	my ($st, $body) = get('/zoned/');
	$n{$body}++ if $st == 200;
	return ($n{one} // 0) >= 10 && ($n{two} // 0) >= 10;
}, 10, 0.01);
ok(($n{one} // 0) >= 10 && ($n{two} // 0) >= 10, 'two addresses share the traffic')
    or diag explain \%n;

my $json = eval { decode_json((get('/status'))[1]) };
my @servers = sort map { $_->{server} } @{$json->{upstreams}{zoned}{peers} // []};
is_deeply(\@servers, ["127.0.0.1:$bport", "127.0.0.2:$bport"],
    'upstream_status lists the resolved addresses');
is($json->{upstreams}{zoned}{peers}[0]{name}, "zoned.portico.test:$bport",
    'with the name as written');

# only one DNS client for the zoned group: worker slot 0
my @q = split /\n/, $t->read_file('dns.queries');
my $zq = grep { /^zoned/ } @q;
my $pq = grep { /^plain/ } @q;
cmp_ok($pq, '>', $zq, "without a zone each worker asks ($pq plain, $zq zoned queries)");

# the name goes away: no address, 502 (not the old address)
set_dns('plain.portico.test' => '127.0.0.2');
my $gone = wait_until(sub { (get('/zoned/'))[0] == 502 }, 10, 0.05);
ok($gone, 'NXDOMAIN empties the pool: 502');
like($t->read_file('logs/error.log'), qr/"zoned\.portico\.test:\d+" of upstream "zoned" could not be resolved/,
    'the failure is logged');

# and comes back
set_dns('zoned.portico.test' => '127.0.0.1', 'plain.portico.test' => '127.0.0.2');
my ($took, $bad, $seen) = until_all('/zoned/', 'one', 10);
ok(defined $took, 'the name is back') or diag explain $seen;
like($t->read_file('logs/error.log'), qr/"zoned\.portico\.test:\d+" of upstream "zoned" resolves again/,
    'recovery is logged');

# a reload under traffic: the new workers start from the list in the zone
# (the system resolver, used at start-up, does not know the test names)
$t->signal('HUP');
my ($rbad, $rn) = (0, 0);
my $reloaded = wait_until(sub {
	my ($st, $body) = get('/zoned/');
	$rn++;
	$rbad++ if $st != 200 || $body ne 'one';
	return $t->read_file('logs/error.log') =~ /configuration generation 2 started/;
}, 10, 0);
ok($reloaded, 'reloaded');
for (1 .. 40) {
	my ($st, $body) = get('/zoned/');
	$rn++;
	$rbad++ if $st != 200 || $body ne 'one';
}
is($rbad, 0, "no request failed across the reload ($rn requests)");
$t->stop;
stop_spawned();
unlike($t->read_file('logs/error.log'), qr/\[(alert|emerg)\]/, 'no alert in the log');

# config errors
my $e = Portico::Test->new;
for my $case (
    [ "upstream u { server a.example:80 resolve; }",
      qr/no resolver defined to resolve "a\.example:80" of upstream "u"/ ],
    [ "resolver dns.example; upstream u { server 127.0.0.1:1; }",
      qr/invalid address "dns\.example" in "resolver" directive/ ],
    [ "resolver 127.0.0.1 valid=x; upstream u { server 127.0.0.1:1; }",
      qr/invalid parameter "valid=x" in "resolver" directive/ ],
    [ "resolver 127.0.0.1 ipv4=off ipv6=off; upstream u { server 127.0.0.1:1; }",
      qr/"ipv4=off" and "ipv6=off" together/ ],
    [ "resolver 127.0.0.1; resolver 127.0.0.2; upstream u { server 127.0.0.1:1; }",
      qr/"resolver" directive is duplicate/ ],
    [ "resolver_timeout 0; upstream u { server 127.0.0.1:1; }",
      qr/invalid time "0" in "resolver_timeout" directive/ ],
) {
	$e->write_conf("daemon off;\nerror_log logs/error.log;\nevents { }\n"
	    . "http {\n$case->[0]\nserver { listen 127.0.0.1:%%PORT_L%%; "
	    . "location / { proxy_pass http://u; } }\n}\n");
	my ($code, $out) = $e->run_fails('-t');
	isnt($code, 0, "rejected: $case->[0]");
	like($out, $case->[1], 'with the reason') or diag $out;
}

done_testing;
