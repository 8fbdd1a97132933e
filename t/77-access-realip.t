# allow/deny over IPv4 and IPv6 addresses and CIDRs, first match wins;
# the real client address from trusted proxies (X-Real-IP, a recursive
# X-Forwarded-For chain), untrusted headers ignored; allow/deny and
# limit_req use the real address; $realip_remote_addr; config errors.

use strict;
use warnings;
use Test::More;
use Portico::Test;

my $t = Portico::Test->new;
$t->skip_all('no IPv6 loopback') unless Portico::Test::has_ipv6();
$t->plan(35);
$t->write_conf(<<'EOF');
daemon off;
worker_processes 2;
pid logs/portico.pid;
error_log logs/error.log info;
events { worker_connections 256; }
http {
    access_log logs/access.log;
    limit_req_zone $binary_remote_addr zone=real:1m rate=1r/m;

    server {
        listen 127.0.0.1:%%PORT_B%%;
        location / { return 200 "back\n"; }
    }
    # peers as they are, both families
    server {
        listen 127.0.0.1:%%PORT_A%%;
        listen [::1]:%%PORT_A%%;
        location /a/ { deny 127.0.0.1; allow all; proxy_pass http://127.0.0.1:%%PORT_B%%; }
        location /b/ { allow 127.0.0.0/8; deny all; proxy_pass http://127.0.0.1:%%PORT_B%%; }
        location /c/ { allow ::1; deny all; proxy_pass http://127.0.0.1:%%PORT_B%%; }
        location /d/ { deny ::/0; proxy_pass http://127.0.0.1:%%PORT_B%%; }
        location /e/ { proxy_pass http://127.0.0.1:%%PORT_B%%; }
        allow all;
    }
    # X-Real-IP from 127.0.0.1 only
    server {
        listen 127.0.0.1:%%PORT_R%%;
        listen [::1]:%%PORT_R%%;
        set_real_ip_from 127.0.0.1;
        location /t/ {
            allow 192.168.1.0/24;
            deny 192.168.0.0/16;
            allow 2001:db8::/32;
            allow 10.1.2.3;
            deny all;
            proxy_pass http://127.0.0.1:%%PORT_B%%;
        }
        location /addr/ { return 200 "$remote_addr $realip_remote_addr\n"; }
        location /lim/ {
            limit_req zone=real;
            proxy_pass http://127.0.0.1:%%PORT_B%%;
        }
    }
    # X-Forwarded-For through a chain of trusted proxies
    server {
        listen 127.0.0.1:%%PORT_X%%;
        set_real_ip_from 127.0.0.1;
        set_real_ip_from 10.0.0.0/8;
        set_real_ip_from 2001:db8:ffff::/48;
        real_ip_header X-Forwarded-For;
        real_ip_recursive on;
        location / { return 200 "$remote_addr $realip_remote_addr\n"; }
    }
    server {
        listen 127.0.0.1:%%PORT_Y%%;
        set_real_ip_from 127.0.0.1;
        set_real_ip_from 10.0.0.0/8;
        real_ip_header X-Forwarded-For;
        location / { return 200 "$remote_addr\n"; }
    }
}
EOF
$t->run;

sub status_of { my ($r) = @_; return $r && $r =~ m{^HTTP/1\.1 (\d+)} ? $1 : 0 }
sub body_of { my ($r) = @_; return $r && $r =~ /\r\n\r\n(.*)\z/s ? $1 : '' }

my ($pa, $pr, $px) = ($t->port('A'), $t->port('R'), $t->port('X'));
my %v6 = (peer => '::1');

# the peer's own address
is(status_of(http_get($pa, '/a/')), 403, 'deny 127.0.0.1 over IPv4');
is(status_of(http_get($pa, '/a/', %v6)), 200, 'allow all over IPv6');
is(status_of(http_get($pa, '/b/')), 200, 'allow 127.0.0.0/8');
is(status_of(http_get($pa, '/b/', %v6)), 403, 'IPv6 not in 127.0.0.0/8: deny all');
is(status_of(http_get($pa, '/c/', %v6)), 200, 'allow ::1');
is(status_of(http_get($pa, '/c/')), 403, 'IPv4 not ::1: deny all');
is(status_of(http_get($pa, '/d/', %v6)), 403, 'deny ::/0 over IPv6');
is(status_of(http_get($pa, '/d/')), 200, 'deny ::/0 does not match IPv4');
is(status_of(http_get($pa, '/e/')), 200, 'server-level allow all inherited');
like($t->read_file('logs/error.log'),
    qr/access forbidden by rule, client: 127\.0\.0\.1, request: "GET \/a\/ HTTP\/1\.1"/,
    'denial logged');

# the address table through X-Real-IP, first match wins
my @table = (
	['192.168.1.7', 200], ['192.168.2.1', 403], ['192.169.0.1', 403],
	['2001:db8:1::5', 200], ['2001:db9::1', 403], ['10.1.2.3', 200],
	['10.1.2.4', 403], ['::ffff:10.1.2.3', 200], ['::1', 403],
);
for my $row (@table) {
	my ($addr, $want) = @$row;
	is(status_of(http_get($pr, '/t/', headers => "X-Real-IP: $addr")), $want,
	    "X-Real-IP $addr: $want");
}
is(body_of(http_get($pr, '/addr/', headers => 'X-Real-IP: 192.0.2.1')),
    "192.0.2.1 127.0.0.1\n", '$remote_addr and $realip_remote_addr');
is(body_of(http_get($pr, '/addr/', headers => 'X-Real-IP: bogus')),
    "127.0.0.1 127.0.0.1\n", 'unparsable X-Real-IP ignored');
is(body_of(http_get($pr, '/addr/', %v6, headers => 'X-Real-IP: 192.0.2.1')),
    "::1 ::1\n", 'X-Real-IP from an untrusted peer ignored');
is(status_of(http_get($pr, '/t/', %v6, headers => 'X-Real-IP: 192.168.1.7')), 403,
    'allow/deny: untrusted header not used');

# limit_req keys on the real address
is(join(' ', map { status_of(http_get($pr, '/lim/', headers => 'X-Real-IP: 192.0.2.7')) } 1 .. 2),
    '200 503', 'limit_req by real address: second rejected');
is(status_of(http_get($pr, '/lim/', headers => 'X-Real-IP: 192.0.2.8')), 200,
    'another real address has its own bucket');

# X-Forwarded-For chains
my %xff = (
	'203.0.113.9, 10.0.0.2, 10.0.0.3' => '203.0.113.9',
	'1.1.1.1, 203.0.113.9, 10.0.0.3' => '203.0.113.9',
	'10.0.0.9, 10.0.0.3' => '10.0.0.9',
	'2001:db8:1::1, 2001:db8:ffff::7' => '2001:db8:1::1',
	'203.0.113.9,10.1.1.1' => '203.0.113.9',
);
for my $chain (sort keys %xff) {
	is(body_of(http_get($px, '/', headers => "X-Forwarded-For: $chain")),
	    "$xff{$chain} 127.0.0.1\n", "recursive: $chain");
}
is(body_of(http_get($px, '/', headers => ['X-Forwarded-For: 1.1.1.1',
    'X-Forwarded-For: 203.0.113.9, 10.0.0.5'])), "203.0.113.9 127.0.0.1\n",
    'two X-Forwarded-For fields form one list');
is(body_of(http_get($t->port('Y'), '/', headers => 'X-Forwarded-For: 203.0.113.9, 10.0.0.3')),
    "10.0.0.3\n", 'not recursive: the last address');

# configuration errors
for my $bad (['real_ip_header proxy_protocol;', qr/"proxy_protocol" is not supported/],
    ['allow 10.0.0.1/8;', qr/bits set beyond its prefix/],
    ['deny foo;', qr/invalid address "foo"/]) {
	$t->write_file('bad.conf', "events { }\nhttp {\n    server {\n        listen 127.0.0.1:%%PORT_Z%%;\n        $bad->[0]\n    }\n}\n");
	my ($rc, $out, $err) = $t->run_cmd('-t', '-p', $t->testdir . '/', '-c', 'bad.conf');
	like("$out$err", qr/bad\.conf:5: .*$bad->[1]/, "rejected: $bad->[0]");
}
