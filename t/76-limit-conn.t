# limit_conn: with 4 workers and slow backends, limit_conn 2 admits
# exactly 2 concurrent requests per key; counts are given back when the
# request ends however it ends (response, client abort, upstream error,
# upstream timeout); dry run counts but does not reject;
# limit_conn_status and $limit_conn_status; configuration errors.

use strict;
use warnings;
use Test::More;
use IO::Select;
use Time::HiRes qw(sleep);
use Portico::Test;

my $t = Portico::Test->new;
$t->plan(13);
$t->write_conf(<<'EOF');
daemon off;
worker_processes 4;
pid logs/portico.pid;
error_log logs/error.log info;
events { worker_connections 512; }
http {
    access_log logs/access.log;
    limit_conn_zone $binary_remote_addr zone=addr:1m;
    limit_conn_zone $binary_remote_addr zone=dry:1m;

    server {
        listen 127.0.0.1:%%PORT_A%%;
        proxy_set_header X-LC $limit_conn_status;
        limit_conn addr 2;
        location /slow/ { proxy_pass http://127.0.0.1:%%PORT_S%%; }
        location /err/ { proxy_pass http://127.0.0.1:%%PORT_X%%; }
        location /timeout/ {
            proxy_pass http://127.0.0.1:%%PORT_S%%;
            proxy_read_timeout 300ms;
        }
        location /dry/ {
            limit_conn dry 1;
            limit_conn_dry_run on;
            limit_conn_status 429;
            proxy_pass http://127.0.0.1:%%PORT_S%%;
        }
        location /s429/ {
            limit_conn dry 1;
            limit_conn_status 429;
            proxy_pass http://127.0.0.1:%%PORT_S%%;
        }
    }
}
EOF
# answers after 1 s, echoing the request head
$t->raw_backend('S', sub {
	my ($sock, $req) = @_;
	sleep 1;
	print $sock "HTTP/1.1 200 OK\r\nContent-Length: " . length($req)
	    . "\r\nConnection: close\r\n\r\n$req";
});
# closes without a response: 502
$t->raw_backend('X', sub { });
$t->run;
my $port = $t->port('A');

sub status_of { my ($r) = @_; return $r && $r =~ m{^HTTP/1\.1 (\d+)} ? $1 : 0 }

# send <uri> on <n> connections at once; the statuses, in order
sub concurrent {
	my ($uri, $n) = @_;
	my @c = map { Portico::Test::Conn->new($port) } 1 .. $n;
	$_->send("GET $uri HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n") for @c;
	$_->closed(6) for @c;
	return (join(' ', sort map { status_of($_->{raw}) } @c), join('', map { $_->{raw} } @c));
}

my ($st, $raw) = concurrent('/slow/', 6);
is($st, '200 200 503 503 503 503', 'limit_conn 2: exactly 2 of 6 concurrent');
like($raw, qr/X-LC: PASSED/i, '$limit_conn_status PASSED');
like($t->read_file('logs/error.log'),
    qr/\[error\].*limiting connections by zone "addr", client: 127\.0\.0\.1/, 'rejection logged');
($st) = concurrent('/slow/', 2);
is($st, '200 200', 'released after the responses');

# client aborts while the backend is slow
{
	my @c = map { Portico::Test::Conn->new($port) } 1 .. 2;
	$_->send("GET /slow/ HTTP/1.1\r\nHost: localhost\r\n\r\n") for @c;
	sleep 0.3;
	$_->close for @c;
	sleep 0.2;
	($st) = concurrent('/slow/', 2);
	is($st, '200 200', 'released after client aborts');
}

# upstream errors and timeouts
{
	my @r = map { status_of(http_get($port, '/err/')) } 1 .. 5;
	is("@r", '502 502 502 502 502', 'upstream errors');
	@r = map { status_of(http_get($port, '/timeout/')) } 1 .. 3;
	is("@r", '504 504 504', 'upstream timeouts');
	($st) = concurrent('/slow/', 2);
	is($st, '200 200', 'released after upstream errors and timeouts');
}

# dry run and limit_conn_status (the addr limit of the server applies too:
# the inner limit_conn replaces it, as in nginx)
{
	($st, $raw) = concurrent('/dry/', 3);
	is($st, '200 200 200', 'dry run: nothing rejected');
	like($raw, qr/X-LC: REJECTED_DRY_RUN/i, '$limit_conn_status REJECTED_DRY_RUN');
	like($t->read_file('logs/error.log'), qr/limiting connections, dry run, by zone "dry"/,
	    'dry run logged');
	($st) = concurrent('/s429/', 2);
	is($st, '200 429', 'limit_conn_status 429');
}

my $log = $t->read_file('logs/error.log');
unlike($log, qr/\[(alert|crit|emerg)\]/, 'no alerts');
