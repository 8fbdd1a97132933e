# limit_req and limit_conn apply once per request, as in nginx: a
# rejection served through error_page keeps its RateLimit fields and
# is not limited again by the error location's own limit_req; a request
# redirected by error_page is not counted twice by limit_conn. A request
# parked on a delay= timer notices its client leaving (499 in the log
# at once, not when the delay is over).

use strict;
use warnings;
use Test::More;
use Time::HiRes qw(sleep);
use Portico::Test;

my $t = Portico::Test->new;
$t->plan(9);
$t->write_conf(<<'EOF');
daemon off;
worker_processes 2;
pid logs/portico.pid;
error_log logs/error.log info;
events { worker_connections 128; }
http {
    %%NGINX_ONLY%%
    log_format lr '$request_uri $status $limit_req_status';
    access_log logs/access.log lr;
    limit_req_zone $binary_remote_addr zone=ep:1m rate=1r/m;
    limit_req_zone $binary_remote_addr zone=tight:1m rate=1r/m;
    limit_req_zone $binary_remote_addr zone=park:1m rate=1r/s;
    limit_conn_zone $binary_remote_addr zone=one:1m;

    server {
        listen 127.0.0.1:%%PORT_A%%;
        root html;
        location /ep/ {
            limit_req zone=ep;
            limit_req_status 429;
            limit_req_headers on;
            error_page 429 /limited.html;
            alias html/;
        }
        location = /limited.html {
            limit_req zone=tight;
        }
        location /lc/ {
            limit_conn one 1;
            error_page 502 /lcerr.html;
            proxy_pass http://127.0.0.1:%%PORT_X%%;
        }
        location = /lcerr.html {
            limit_conn one 1;
        }
        location /park/ {
            limit_req zone=park burst=10;
            alias html/;
        }
    }
}
EOF
# closes every connection without answering: 502
$t->raw_backend('X', sub { });
$t->write_file('html/limited.html', "limited page\n");
$t->write_file('html/lcerr.html', "upstream down\n");
$t->write_file("html/$_", "$_\n") for 'ok', 0 .. 2;
$t->run;
my $port = $t->port('A');

sub get { return parse_response(http_get($port, $_[0], timeout => 5)) }

###########################################################################
# error_page after a limit_req rejection

my $r = get('/limited.html');
is($r->{status}, 200, 'the error location, asked directly, fills its own zone');
$r = get('/ep/ok');
is($r->{status}, 200, 'first request passes');
$r = get('/ep/ok');
ok($r->{status} == 429 && $r->{body} eq "limited page\n",
    "rejection served by error_page, the error location's limit_req not applied again "
    . "($r->{status})");
ok(($r->{h}{'ratelimit'} // '') =~ /^"ep";r=0;t=\d+$/ && ($r->{h}{'retry-after'} // '') =~ /^\d+$/,
    'with its RateLimit and Retry-After fields');
ok(wait_until(sub { ($t->read_file('logs/access.log') // '') =~ m{^/ep/ok 429 REJECTED$}m }, 3),
    '$limit_req_status kept in the log');

###########################################################################
# error_page after an upstream error: limit_conn counts the request once

$r = get('/lc/');
ok($r->{status} == 502 && $r->{body} eq "upstream down\n",
    "error location's limit_conn does not count the same request twice ($r->{status})");
$r = get('/lc/');
is($r->{status}, 502, 'the count was given back');

###########################################################################
# a request parked on the delay timer notices its client leaving

{
	# the first passes, the next two wait about 1 and 2 s
	my @c = map { Portico::Test::Conn->new($port) } 1 .. 3;
	$c[$_]->send("GET /park/$_ HTTP/1.1\r\nHost: a\r\n\r\n"), sleep 0.05 for 0 .. 2;
	sleep 0.2;
	my $closed = now();
	close $c[2]->sock;
	my $when;
	wait_until(sub {
		$when = now() if !$when
		    && ($t->read_file('logs/access.log') // '') =~ m{^/park/2 499 }m;
		return $when;
	}, 3, 0.05);
	ok($when && $when - $closed < 1, 'parked request ended with 499 when its client left ('
	    . (defined $when ? sprintf('%.2fs', $when - $closed) : 'never') . ')');
	my $m = $c[1]->read_final(timeout => 3);
	is($m && $m->{status}, 200, 'the other parked request is served');
}
