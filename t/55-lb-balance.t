# Load balancing methods measured against real backends: weights 3:1
# give 75/25, least_conn avoids the server held by a slow request,
# hash ... consistent remaps about 1/N of the keys when one of N servers
# is removed, ip_hash pins a client, random two spreads, backup servers
# take traffic only when the primaries are gone, configuration errors.

use strict;
use warnings;
use Test::More;
use Time::HiRes qw(sleep);
use Portico::Test;

my $t = Portico::Test->new;
$t->write_conf(<<'EOF');
daemon off;
worker_processes 1;
pid logs/portico.pid;
error_log logs/error.log info;
events { worker_connections 512; }
http {
    access_log off;
    proxy_http_version 1.1;
    proxy_set_header Connection "";

    upstream w31 {
        server 127.0.0.1:%%PORT_A%% weight=3;
        server 127.0.0.1:%%PORT_B%%;
        keepalive 8;
    }
    upstream lc {
        least_conn;
        server 127.0.0.1:%%PORT_A%%;
        server 127.0.0.1:%%PORT_B%%;
    }
    upstream h4 {
        hash $arg_k consistent;
        server 127.0.0.1:%%PORT_A%%;
        server 127.0.0.1:%%PORT_B%%;
        server 127.0.0.1:%%PORT_C%%;
        server 127.0.0.1:%%PORT_D%%;
        keepalive 8;
    }
    upstream h3 {
        hash $arg_k consistent;
        server 127.0.0.1:%%PORT_A%%;
        server 127.0.0.1:%%PORT_B%%;
        server 127.0.0.1:%%PORT_D%%;
        keepalive 8;
    }
    upstream hplain {
        hash $arg_k;
        server 127.0.0.1:%%PORT_A%%;
        server 127.0.0.1:%%PORT_B%%;
        server 127.0.0.1:%%PORT_C%%;
        keepalive 8;
    }
    upstream iph {
        ip_hash;
        server 127.0.0.1:%%PORT_A%%;
        server 127.0.0.1:%%PORT_B%%;
        server 127.0.0.1:%%PORT_C%%;
    }
    upstream rnd {
        random two least_conn;
        server 127.0.0.1:%%PORT_A%%;
        server 127.0.0.1:%%PORT_B%%;
        keepalive 8;
    }
    upstream lt {
        least_time header;
        server 127.0.0.1:%%PORT_A%%;
        server 127.0.0.1:%%PORT_B%%;
    }
    upstream sk {
        sticky cookie srv expires=1h httponly;
        server 127.0.0.1:%%PORT_A%%;
        server 127.0.0.1:%%PORT_G%%;
    }
    upstream bk {
        server 127.0.0.1:%%PORT_E%%;
        server 127.0.0.1:%%PORT_F%%;
        server 127.0.0.1:%%PORT_C%% backup;
    }

    server {
        listen 127.0.0.1:%%PORT_L%%;
        location /w31/ { proxy_pass http://w31; }
        location /lc/ { proxy_pass http://lc; }
        location /h4/ { proxy_pass http://h4; }
        location /h3/ { proxy_pass http://h3; }
        location /hplain/ { proxy_pass http://hplain; }
        location /iph/ { proxy_pass http://iph; }
        location /rnd/ { proxy_pass http://rnd; }
        location /lt/ { proxy_pass http://lt; }
        location /bk/ { proxy_pass http://bk; }
        location /sk/ { proxy_pass http://sk; }
    }
}
EOF

my %pid;
for my $b (qw(A B C D E F G)) {
	$pid{$b} = $t->http_backend($b, handler => sub {
		my ($r) = @_;
		sleep 2 if $r->{uri} =~ /slow/;
		return (200, ['X-B' => $b], $b);
	});
}
my $port = $t->port('L');
$t->run;
$t->plan(17);

# count which backend answered <n> keep-alive GETs of <uri>
sub spread {
	my ($uri, $n) = @_;
	my %c;
	my @reqs = map { "GET $uri HTTP/1.1\r\nHost: x\r\n\r\n" } 1 .. $n;
	while (@reqs) {
		my @batch = splice @reqs, 0, 200;
		my @r = http_keepalive($port, \@batch, timeout => 10);
		$c{$_->{status} == 200 ? $_->{h}{'x-b'} // '?' : "status $_->{status}"}++
		    for @r;
		$c{lost} += @batch - @r;
	}
	return \%c;
}

# weights 3:1
my $c = spread('/w31/x', 2000);
my $total = ($c->{A} // 0) + ($c->{B} // 0);
is($total, 2000, 'weighted: every request answered');
my $share = ($c->{A} // 0) / 2000;
ok(abs($share - 0.75) < 0.03, "weighted 3:1: A got " . sprintf('%.1f', $share * 100) . '%');

# least_conn: a slow request holds one server; the others go to the idle one
my $slow = Portico::Test::Conn->new($port);
$slow->send("GET /lc/slow HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
sleep 0.3;
my %lc;
for (1 .. 10) {
	my $r = parse_response(http_get($port, '/lc/fast'));
	$lc{$r->{h}{'x-b'} // '?'}++;
}
my $sr = $slow->read_final(timeout => 5);
my $held = $sr ? $sr->{h}{'x-b'} // '' : '';
my ($idle) = grep { $_ ne $held } qw(A B);
is($lc{$idle} // 0, 10, "least_conn: all 10 to the idle server $idle while $held is busy");

# consistent hash: remove one of 4 servers, only its keys move
my (%m4, %m3);
for my $pair ([\%m4, '/h4/'], [\%m3, '/h3/']) {
	my ($m, $pre) = @$pair;
	my @reqs = map { "GET ${pre}x?k=key$_ HTTP/1.1\r\nHost: x\r\n\r\n" } 1 .. 1000;
	my $i = 1;
	while (@reqs) {
		my @batch = splice @reqs, 0, 200;
		for my $r (http_keepalive($port, \@batch, timeout => 10)) {
			$m->{$i++} = $r->{h}{'x-b'} // '?';
		}
	}
}
my ($moved, $on_c, $bad) = (0, 0, 0);
for my $k (1 .. 1000) {
	$on_c++ if ($m4{$k} // '') eq 'C';
	next if ($m4{$k} // '') eq ($m3{$k} // '');
	$moved++;
	$bad++ if ($m4{$k} // '') ne 'C';
}
my %seen = map { $_ => 1 } values %m4;
is(scalar(keys %seen), 4, 'consistent hash: keys spread over the 4 servers');
is($bad, 0, 'consistent hash: only keys of the removed server moved');
ok($moved == $on_c && $moved <= 1000 / 4 + 80,
    "consistent hash: $moved of 1000 keys remapped (~1/N)");

# plain hash is stable per key
my %ph;
for my $k (1 .. 5) {
	my %s;
	$s{parse_response(http_get($port, "/hplain/x?k=$k"))->{h}{'x-b'} // '?'}++
	    for 1 .. 4;
	$ph{$k} = keys %s;
}
is(join(',', map { $ph{$_} } 1 .. 5), '1,1,1,1,1', 'hash: a key always goes to one server');

# ip_hash pins the client
my %ip;
$ip{parse_response(http_get($port, '/iph/x'))->{h}{'x-b'} // '?'}++ for 1 .. 12;
is(scalar(keys %ip), 1, 'ip_hash: one client, one server');

# random two: both servers used, no error
$c = spread('/rnd/x', 400);
ok(($c->{A} // 0) > 80 && ($c->{B} // 0) > 80 && ($c->{A} // 0) + ($c->{B} // 0) == 400,
    "random two: A " . ($c->{A} // 0) . ", B " . ($c->{B} // 0));

# least_time answers and uses both servers
my %lt;
$lt{parse_response(http_get($port, '/lt/x'))->{h}{'x-b'} // '?'}++ for 1 .. 20;
ok(($lt{A} // 0) + ($lt{B} // 0) == 20, 'least_time: every request answered');

# backup: idle while primaries are up
$c = spread('/bk/x', 40);
is($c->{C} // 0, 0, 'backup: no traffic while the primaries are up');

# primaries gone: stop E and F (our own backends, by pid)
for my $b (qw(E F)) {
	kill 'TERM', -$pid{$b};
	kill 'TERM', $pid{$b};
	waitpid($pid{$b}, 0);
}
my $ok = 0;
for (1 .. 10) {
	my $r = parse_response(http_get($port, '/bk/x'));
	$ok++ if $r->{status} == 200 && ($r->{h}{'x-b'} // '') eq 'C';
}
is($ok, 10, 'backup: takes every request when the primaries are down');

# sticky cookie: set on first use, honoured, replaced when its server is gone
my %cookie;
for (1 .. 4) {
	my $r = parse_response(http_get($port, '/sk/x'));
	my ($v) = ($r->{h}{'set-cookie'} // '') =~ /^srv=([0-9a-f]{8})/;
	$cookie{$r->{h}{'x-b'} // '?'} //= $r->{h}{'set-cookie'};
}
like($cookie{A} // '', qr/^srv=[0-9a-f]{8}; Max-Age=3600; Path=\/; HttpOnly$/,
    'sticky: Set-Cookie with its attributes');
my ($ca) = ($cookie{A} // '') =~ /^(srv=\w+)/;
my ($cg) = ($cookie{G} // '') =~ /^(srv=\w+)/;
my %pin;
for my $pair (['A', $ca], ['G', $cg]) {
	for (1 .. 8) {
		my $r = parse_response(http_get($port, '/sk/x',
		    headers => "Cookie: a=b; $pair->[1]"));
		$pin{$pair->[0]}++ if ($r->{h}{'x-b'} // '') eq $pair->[0]
		    && !defined $r->{h}{'set-cookie'};
	}
}
ok(($pin{A} // 0) == 8 && ($pin{G} // 0) == 8, 'sticky: each cookie pins its server');
kill 'TERM', -$pid{G};
kill 'TERM', $pid{G};
waitpid($pid{G}, 0);
my $r = parse_response(http_get($port, "/sk/x", headers => "Cookie: $cg"));
ok($r->{status} == 200 && ($r->{h}{'x-b'} // '') eq 'A'
    && ($r->{h}{'set-cookie'} // '') =~ /^\Q$ca\E;/,
    'sticky: server gone, another one answers and the cookie follows');

# configuration errors
$t->write_file('bad1.conf', <<'EOF');
events { }
http { upstream u { least_conn; ip_hash; server 127.0.0.1:1; } }
EOF
my ($code, $o, $e) = $t->run_cmd('-t', '-p', $t->testdir . '/', '-c', 'bad1.conf');
like($o . $e, qr/load balancing method redefined/, 'two methods: error');
$t->write_file('bad2.conf', <<'EOF');
events { }
http { upstream u { server 127.0.0.1:1 max_fails=x; } }
EOF
($code, $o, $e) = $t->run_cmd('-t', '-p', $t->testdir . '/', '-c', 'bad2.conf');
like($o . $e, qr/bad2\.conf:2: .*invalid max_fails "x"/, 'bad max_fails: error with file:line');
