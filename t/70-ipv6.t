# IPv6: listen [::1]:port, $remote_addr/$server_addr of an IPv6 client,
# proxy_pass to an IPv6 upstream, and an IPv6 Host header.

use strict;
use warnings;
use Test::More;
use Portico::Test;

my $t = Portico::Test->new;
$t->skip_all('no IPv6 loopback') unless Portico::Test::has_ipv6();

$t->write_conf(<<'EOF');
daemon off;
worker_processes 1;
pid logs/portico.pid;
error_log logs/error.log info;
events { worker_connections 64; }
http {
    %%NGINX_ONLY%%
    log_format v6 '$remote_addr $server_addr $server_port $request_uri';
    access_log logs/access.log v6;
    server {
        listen [::1]:%%PORT_A%%;
        listen 127.0.0.1:%%PORT_B%%;
        location / { return 200 "addr=$remote_addr host=$host\n"; }
        location /p/ { proxy_pass http://[::1]:%%PORT_U%%; }
        location /u/ { proxy_pass http://up6; }
    }
    upstream up6 { server [::1]:%%PORT_U%%; }
    server {
        listen [::1]:%%PORT_U%%;
        location / { return 200 "upstream saw $remote_addr $http_host\n"; }
    }
}
EOF
$t->run;

my $r = http($t->port('A'), "GET /v6 HTTP/1.1\r\nHost: [::1]:"
    . $t->port('A') . "\r\nConnection: close\r\n\r\n", peer => '::1');
my $m = parse_response($r // '') // {};
is($m->{status}, 200, 'listen [::1]: served');
is($m->{body}, "addr=::1 host=[::1]\n", '$remote_addr ::1, IPv6 $host without port');

my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
    PeerPort => $t->port('A'), Proto => 'tcp');
ok(!$s, 'the IPv6 listener is not on IPv4');

$m = parse_response(http_get($t->port('B'), '/v4') // '') // {};
like($m->{body}, qr/^addr=127\.0\.0\.1 /, 'IPv4 listener in the same server');

$m = parse_response(http_get($t->port('A'), '/p/x', peer => '::1') // '') // {};
is($m->{body}, "upstream saw ::1 [::1]:" . $t->port('U') . "\n",
    'proxy_pass to [::1]:port, Host is [::1]:port');

$m = parse_response(http_get($t->port('A'), '/u/x', peer => '::1') // '') // {};
is($m->{body}, "upstream saw ::1 up6\n", 'upstream with an IPv6 server');

my $log = $t->wait_for_log('logs/access.log', qr/[^\n]*\/v6\n/, 3);
is($log, "::1 ::1 " . $t->port('A') . " /v6\n", 'access log: IPv6 addresses');

# a bad IPv6 Host is rejected
$r = http($t->port('A'), "GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", peer => '::1');
like($r // '', qr/^HTTP\/1\.1 400 /, 'unterminated IPv6 Host literal: 400');

done_testing;
